"""What is left of a sweep, given the trials that already ended (resume, workers).

A stored sweep keeps every trial that ended (finished, diverged or failed); resuming
it, or handing it out to workers, needs the trials still to run: the search trials
not done yet and, once every search trial is done, tune's re-runs not done yet.
:func:`run_remaining` is the in-process driver of ``optlab sweep`` on top of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from optlab.engine.sweep import OnResult, ShouldStop, TrialResult, gc_paused, run_trials
from optlab.engine.sweep_plan import Trial, plan, rerun_plan
from optlab.spec import ExperimentSpec

#: the statuses of a trial that ended and is kept (a cancelled one runs again)
ENDED = ("finished", "diverged", "failed")


def total_trials(spec: ExperimentSpec) -> int:
    """Search trials plus tune's re-runs (every run re-runs ``rerun_seeds`` seeds)."""
    assert spec.sweep is not None
    tune = spec.sweep.tune
    search = len(spec.runs) * spec.sweep.points_per_run()
    return search + (len(spec.runs) * tune.rerun_seeds if tune is not None else 0)


def search_left(
    spec: ExperimentSpec, done: Iterable[int], planned: list[Trial] | None = None
) -> list[Trial]:
    """The search trials whose index is not in ``done`` (of ``planned``, :func:`plan`'s
    trials when the caller already has them)."""
    skip = set(done)
    if planned is None:
        with gc_paused():
            planned = plan(spec)
    return [t for t in planned if t.index not in skip] if skip else list(planned)


def reruns_left(spec: ExperimentSpec, results: list[TrialResult]) -> list[Trial]:
    """Tune's re-runs not done yet (empty without tune); call once the search is done."""
    if spec.sweep is None or spec.sweep.tune is None:
        return []
    search = [r for r in results if r.phase == "search"]
    done = {r.index for r in results if r.phase == "rerun" and r.status in ENDED}
    return [t for t in rerun_plan(spec, [], search) if t.index not in done]


def run_remaining(
    spec: ExperimentSpec,
    done: list[TrialResult],
    *,
    on_result: OnResult | None = None,
    should_stop: ShouldStop | None = None,
    threads: int | None = None,
    runner: Callable[..., list[TrialResult]] | None = None,
    planned: list[Trial] | None = None,
) -> tuple[list[TrialResult], bool]:
    """Run what is left of the sweep after ``done``; (every result, stopped).

    The search trials first, then (tune) the re-runs of each run's best; results come
    back with ``done`` included, sorted by index.  ``planned``: :func:`plan`'s trials if
    the caller has them (not planned again).
    """
    run = runner or run_trials
    kept = {r.index: r for r in done if r.status in ENDED}
    new = run(
        spec,
        search_left(spec, kept, planned),
        on_result=on_result,
        should_stop=should_stop,
        threads=threads,
    )
    stopped = any(r.status == "cancelled" for r in new)
    results = [*kept.values(), *new]
    if not stopped:
        reruns = reruns_left(spec, results)
        if reruns:
            more = run(spec, reruns, on_result=on_result, should_stop=should_stop, threads=threads)
            stopped = any(r.status == "cancelled" for r in more)
            results = [r for r in results if r.index not in {m.index for m in more}] + more
    return sorted(results, key=lambda r: r.index), stopped


def result_json(spec: ExperimentSpec, results: list[TrialResult]) -> dict[str, Any]:
    """``{"spec", "trials", "summary"}`` as ``optlab sweep`` writes it."""
    from optlab.engine.sweep import summarize

    with gc_paused():  # some 100,000 acyclic objects for 10,000 trials
        return {
            "spec": spec.to_dict(),
            "trials": [r.to_dict() for r in sorted(results, key=lambda r: r.index)],
            "summary": summarize(spec, results),
        }


def result_text(result: dict[str, Any], pretty: bool) -> str:
    """The result JSON as ``optlab sweep`` writes it: one line, or (``pretty``, a file)
    the spec and summary indented and each trial on one line of its own.

    ``json.dumps(indent=...)`` runs the pure-Python encoder (some 0.15 s for 10,000
    trials here); each trial's line comes from the C encoder.
    """
    if not pretty:
        return json.dumps(result) + "\n"
    parts = []
    for key, value in result.items():
        if key == "trials" and value:
            body = "[\n" + ",\n".join(f"  {json.dumps(t)}" for t in value) + "\n ]"
        else:  # JSON strings hold no raw newline: every line break is the layout's
            body = json.dumps(value, indent=1).replace("\n", "\n ")
        parts.append(f" {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
