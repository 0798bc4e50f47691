"""Runs a sweep's trials and summarizes them (issue 10; plan in :mod:`.sweep_plan`).

Surfaces, exact and fast (every trial equals ``optlab run`` of its experiment, bit
for bit on the CPU):

- Trials are split into *blocks* that share the surface (problem fields other than
  the start and the noise), the step count and whether noise is on.  A block's points
  live in one (N, 2) float64 buffer, evaluated once per step in one autograd graph.
- Within a block, trials with the same run settings whose optimizer is element-wise
  (:attr:`OptimizerInfo.elementwise`) and whose schedule does not read the loss share
  ONE real optimizer on a (B, 2) leaf (a slice of the buffer); the others get one
  real optimizer each on their row.  A diverged row stops counting: its gradient is
  masked to zero and its record frozen; the other rows go on.
- ``torch.optim.SGD`` rows step through torch's own functional ``sgd`` (what
  ``SGD.step`` calls, with the group's settings), without ``Optimizer.step``'s per-call
  hooks; a constant one-cell SGD (the (lr, momentum) map) resolves its arguments once
  and all such cells step in one ``no_grad`` (:mod:`.sweep_steppers`); tests check both
  against ``SGD.step``.  While thousands of per-trial records are built, Python's cyclic
  GC is paused (they hold no cycles; each collection would walk all of torch's objects).
- Closure optimizers (LBFGS…) and ``clip_grad_norm`` run as single experiments.

Only summary numbers are kept per trial (final/best loss, steps to threshold,
``diverged_at``, final point).  Models run trial after trial, each as ``optlab run``
would; :func:`run_trials` takes any subset of a plan (a worker may get a slice).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from optlab.engine.sweep_plan import (
    Trial,
    best_results,
    metric_of,
    plan,
    rerun_plan,
    rerun_seeds,
)
from optlab.engine.sweep_results import (
    OnResult,
    ShouldStop,
    TrialResult,
    finite_or_none,
    jsonable,
    run_single,
    single_result,
    summarize_run,
)
from optlab.engine.sweep_surface import (
    run_surface,
)
from optlab.spec import ExperimentSpec

__all__ = [
    "OnResult",
    "ShouldStop",
    "TrialResult",
    "run_sweep",
    "run_trials",
    "summarize",
    "summarize_run",
]


# --------------------------------------------------------------------------- run dicts


# --------------------------------------------------------------------------- surfaces


# --------------------------------------------------------------------------- public


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC (restored after, as it was): a 10,000-trial sweep allocates
    some 100,000 acyclic records, and each generation-2 pass walks every live object."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def run_trials(
    spec: ExperimentSpec,
    trials: list[Trial],
    *,
    on_result: OnResult | None = None,
    should_stop: ShouldStop | None = None,
    threads: int | None = None,
) -> list[TrialResult]:
    """Run ``trials`` (any subset of :func:`plan`'s or :func:`rerun_plan`'s) of ``spec``.

    ``on_result`` gets each TrialResult as it ends (in any order); ``should_stop()``
    is polled about every 0.1 s of work and a stop marks unfinished trials
    ``cancelled``.  Returns the results in the order of ``trials``.  ``threads``: torch
    threads (``optlab run``'s rule: 1 for surfaces, torch's default for models).
    """
    torch.set_num_threads(threads or (1 if spec.is_surface else torch.get_num_threads()))
    results: dict[int, TrialResult] = {}

    def emit(result: TrialResult) -> None:
        results[result.index] = result
        if on_result is not None:
            on_result(result)

    if spec.is_surface:
        with gc_paused():
            run_surface(spec, trials, emit, should_stop)
    else:
        stopped = False
        for trial in trials:
            if stopped:
                emit(TrialResult.of(trial, "cancelled", message="cancelled"))
                continue
            done, stopped = run_single(spec, trial, should_stop)
            emit(single_result(spec, trial, done))
    return [results[t.index] for t in trials]


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "iqr": None}
    arr = np.asarray(values, dtype=np.float64)
    q1, q3 = np.percentile(arr, [25, 75])
    return {
        "median": float(np.median(arr)),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "iqr": [float(q1), float(q3)],
    }


def summarize(spec: ExperimentSpec, trials: list[TrialResult]) -> dict[str, Any]:
    """The result JSON's ``summary``: per run label, its best trial and counts.

    Best: the finished search trial with the lowest final loss (or tune's metric).
    With tune, ``rerun`` gives the metric's median, min, max and IQR over the seeds.
    """
    tune = spec.sweep.tune if spec.sweep is not None else None
    metric = tune.metric if tune is not None else "final_loss"
    best = best_results(spec, trials, metric)
    out: dict[str, Any] = {}
    for r, run in enumerate(spec.runs):
        mine = [t for t in trials if t.run == r]
        entry: dict[str, Any] = {
            "trials": len([t for t in mine if t.phase == "search"]),
            "finished": sum(t.status == "finished" for t in mine if t.phase == "search"),
            "diverged": sum(t.status == "diverged" for t in mine if t.phase == "search"),
            "failed": sum(t.status == "failed" for t in mine if t.phase == "search"),
            "best": None,
        }
        if r in best:
            b = best[r]
            entry["best"] = {
                "index": b.index,
                "values": jsonable(b.values),
                "seed": b.seed,
                "final_loss": finite_or_none(b.final_loss),
                "best_loss": finite_or_none(b.best_loss),
                "steps_to_threshold": b.steps_to_threshold,
                **({"val_acc": finite_or_none(b.val_acc)} if b.val_acc is not None else {}),
            }
        if tune is not None:
            reruns = [t for t in mine if t.phase == "rerun"]
            scores = [m for t in reruns if (m := metric_of(t, metric)) is not None]
            entry["rerun"] = {
                "metric": metric,
                "seeds": [t.seed for t in reruns] or rerun_seeds(spec),
                "values": jsonable(reruns[0].values) if reruns else None,
                **_stats(scores),
            }
        out[run.label] = entry
    return out


def run_sweep(
    spec: ExperimentSpec,
    *,
    on_result: OnResult | None = None,
    should_stop: ShouldStop | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Plan, run (then tune's re-runs) and summarize: ``{"spec", "trials", "summary"}``."""
    with gc_paused():
        trials = plan(spec)
    results = run_trials(
        spec, trials, on_result=on_result, should_stop=should_stop, threads=threads
    )
    stopped = any(r.status == "cancelled" for r in results)
    if spec.sweep is not None and spec.sweep.tune is not None and not stopped:
        reruns = rerun_plan(spec, trials, results)
        results += run_trials(
            spec, reruns, on_result=on_result, should_stop=should_stop, threads=threads
        )
    with gc_paused():
        return {
            "spec": spec.to_dict(),
            "trials": [r.to_dict() for r in sorted(results, key=lambda r: r.index)],
            "summary": summarize(spec, results),
        }
