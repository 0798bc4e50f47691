"""``python -m optlab sweep SPEC.json``: run every trial of a spec's sweep (issue 10).

Progress on stderr (trials done / total), the result JSON (``{"spec", "trials",
"summary"}``) on stdout or ``--out``; exit codes as ``run``.  Unless ``--no-store``,
the sweep is kept in the run store as it goes (an experiment of kind ``sweep``, one
row per trial, written about every 0.2 s), so the dashboard's Sweeps page watches it
live; ``--resume ID`` continues a stored sweep that was interrupted (Ctrl-C, a crash)
and skips the trials it already has.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from optlab.cli.errors import UsageError, read_spec, write_output

FLUSH_SECONDS = 0.2


class SweepRecorder:
    """Streams a sweep's trials into the store; a context manager like ``Recorder``."""

    def __init__(self, spec: Any, total: int, *, resume: str | None = None) -> None:
        from optlab.store.db import Store, new_owner

        self.store = Store()
        self.owner = new_owner()
        if resume is None:
            self.id = self.store.create_experiment(
                spec,
                status="running",
                source="cli",
                owner=self.owner,
                device="cpu" if spec.is_surface else None,
                kind="sweep",
                trials_total=total,
            )
        else:
            self.id = resume
            self.store.claim(resume, self.owner)
            self.store.set_status(resume, "running", "resumed")
        self._pending: list[Any] = []
        self._last = time.monotonic()

    def __call__(self, result: Any) -> None:
        self._pending.append(result)
        if time.monotonic() - self._last >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.store.write_trials(self.id, self._pending)
            self._pending = []
        self._last = time.monotonic()

    def __enter__(self) -> SweepRecorder:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        from optlab.store.db import release_owner

        try:
            self.flush()  # whatever ended is kept, however the sweep ends
            if exc is None:
                self.store.set_status(self.id, "finished", runs_status="finished")
            else:
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                why = (
                    f"stopped; `python -m optlab sweep SPEC --resume {self.id}` continues it"
                    if status == "interrupted"
                    else f"{type(exc).__name__}: {exc}"
                )
                self.store.set_status(self.id, status, why, runs_status=status)
        finally:
            release_owner(self.owner)
            self.store.close()


def _resumable(spec_path: str, exp_id: str) -> tuple[Any, list[Any]]:
    """The stored sweep's spec and its trials; refuses a sweep that is not resumable."""
    from optlab.spec import parse_spec
    from optlab.store.db import Store, UnknownExperiment

    store = Store()
    try:
        exp = store.get_experiment(exp_id)
    except UnknownExperiment as exc:
        raise UsageError(f"{exc}; `python -m optlab runs` lists them") from None
    if exp.get("kind") != "sweep":
        raise UsageError(f"experiment {exp_id} is not a sweep")
    if exp["status"] not in ("interrupted", "failed", "cancelled"):
        raise UsageError(
            f"sweep {exp_id} is {exp['status']}; only interrupted, failed or cancelled sweeps"
            " resume"
        )
    spec = parse_spec(exp["spec"])
    if spec_path:
        given = read_spec(spec_path)
        if given.to_dict() != spec.to_dict():
            raise UsageError(f"{spec_path} is not the spec of sweep {exp_id}")
    done = store.trial_results(exp_id)
    store.close()
    return spec, done


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from optlab.engine.sweep import gc_paused
    from optlab.engine.sweep_plan import plan
    from optlab.engine.sweep_work import result_json, result_text, run_remaining, total_trials

    if args.resume:
        if args.no_store:
            raise UsageError("--resume continues a stored sweep; drop --no-store")
        spec, done = _resumable(args.spec, args.resume)
    else:
        spec, done = read_spec(args.spec), []
    if spec.sweep is None:
        raise UsageError(f"{args.spec} has no sweep; add one or run it with `python -m optlab run`")
    with gc_paused():
        planned = plan(spec)  # bad input fails here, before anything runs or is stored (exit 2)
    from optlab.cli.instrument_commands import print_warnings

    print_warnings(spec)  # the base spec's pitfalls (the axes' values are not checked)
    total = total_trials(spec)
    bar = tqdm(
        total=total,
        initial=len(done),
        desc=spec.name or "optlab sweep",
        unit="trial",
        file=sys.stderr,
        disable=args.quiet or None,
        mininterval=0.5,
        leave=False,
    )
    recorder = None if args.no_store else SweepRecorder(spec, total, resume=args.resume)

    def on_result(result: Any) -> None:
        bar.update(1)
        if recorder is not None:
            recorder(result)

    try:
        if recorder is None:
            results, _ = run_remaining(
                spec, done, on_result=on_result, threads=args.threads, planned=planned
            )
        else:
            with recorder:
                results, _ = run_remaining(
                    spec, done, on_result=on_result, threads=args.threads, planned=planned
                )
    finally:
        bar.close()
    if recorder is not None:
        print(f"stored as sweep {recorder.id}", file=sys.stderr)
    result = result_json(spec, results)
    write_output(result_text(result, pretty=args.out is not None), args.out)
    failed = [t for t in result["trials"] if t["status"] == "failed"]
    if failed:
        print(
            f"{len(failed)} trials failed; first: {failed[0].get('message', '')}", file=sys.stderr
        )
    return 0


def add_sweep_command(subparsers: Any) -> None:
    """Register ``sweep`` on the CLI's subparsers."""
    sweep = subparsers.add_parser(
        "sweep", help="run every trial of a spec's sweep and print the result JSON"
    )
    sweep.add_argument("spec", help="spec JSON file with a sweep ('-' for stdin)")
    sweep.add_argument("--out", help="write the result JSON here instead of stdout")
    sweep.add_argument("--no-store", action="store_true", help="do not keep it in the run store")
    sweep.add_argument(
        "--resume",
        metavar="ID",
        help="continue the stored sweep ID (interrupted, failed or cancelled), skipping"
        " the trials it has; SPEC may be '' to take the stored spec",
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--threads", type=int, help="torch threads (default: 1 for surfaces)")
    sweep.set_defaults(func=cmd_sweep)
