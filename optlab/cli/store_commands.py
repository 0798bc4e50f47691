"""The run store on the command line: ``python -m optlab runs`` and ``show``.

``optlab run`` keeps its experiment in the store through :func:`store_result`
(unless ``--no-store``), so the dashboard's history shows it.  :class:`Recorder`
is the streaming alternative: records go in while the run goes on, so the
dashboard can watch a terminal run live.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from optlab.cli.errors import UsageError, write_output
from optlab.store.db import Store, UnknownExperiment, new_owner, release_owner


def store_result(spec: Any, result: dict[str, Any]) -> str:
    """Keep a finished ``optlab run`` result in ``$OPTLAB_HOME``'s store; its id."""
    store = Store()
    try:
        return store.store_result(spec, result, source="cli")
    finally:
        store.close()


class Recorder:
    """Streams an in-process run into the store: ``run_experiment(spec, on_batch=rec)``.

    Use as a context manager; :meth:`__exit__` marks the experiment finished (or
    failed with the exception).  ``rec.id`` is its id.
    """

    def __init__(self, spec: Any, device: str | None = None, *, store: Store | None = None):
        self.store = store or Store()
        self.owner = new_owner()
        self.id = self.store.create_experiment(
            spec, status="running", source="cli", owner=self.owner, device=device
        )
        self._device_known = device is not None

    def __call__(self, batch: Any, exp: Any = None) -> None:
        if exp is not None and not self._device_known:
            from optlab.engine.experiment import device_label

            self.store.set_status(self.id, "running", device=device_label(exp.device))
            self._device_known = True
        self.store.write_batch(self.id, batch)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is None:
                self.store.set_status(
                    self.id,
                    "finished",
                    runs_status="failed",
                    runs_message="the run ended without a final status",
                )
            else:
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                self.store.set_status(
                    self.id, status, f"{type(exc).__name__}: {exc}", runs_status=status
                )
        finally:
            release_owner(self.owner)


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _summary(exp: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": exp["id"],
        "name": exp["name"],
        "problem": exp["spec"]["problem"]["name"],
        "status": exp["status"],
        "runs": [r["label"] for r in exp["spec"]["runs"]],
        "created": exp["created"],
        "finished": exp["finished"],
        "device": exp["device"],
        "client": exp["client"],
        "source": exp["source"],
        "message": exp["message"],
        "kind": exp.get("kind", "experiment"),
        **(
            {
                "trials": {
                    "done": round(exp["progress"] * (exp["trials_total"] or 0)),
                    "total": exp["trials_total"],
                }
            }
            if exp.get("kind") == "sweep"
            else {}
        ),
    }


def _store() -> Store:
    """The run store, with experiments whose writer is gone marked ``interrupted``.

    The same liveness check as a starting job manager (:mod:`optlab.store.owner`): a
    ``running`` experiment whose process has died (an ``optlab run`` killed with
    SIGKILL, a server that crashed) is not shown as running forever.
    """
    store = Store()
    store.mark_interrupted_on_startup()
    return store


def cmd_runs(args: argparse.Namespace) -> int:
    """List stored experiments, newest first."""
    store = _store()
    rows = [_summary(e) for e in store.list_experiments(limit=args.limit, status=args.status)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no experiments stored in {store.path}")
        return 0
    print(f"{'id':<11} {'created':<19} {'status':<11} {'problem':<16} name / runs")
    for r in rows:
        title = r["name"] or ", ".join(r["runs"])
        if r["kind"] == "sweep":
            title = f"sweep ({r['trials']['done']}/{r['trials']['total']} trials): {title}"
        print(
            f"{r['id']:<11} {_fmt_time(r['created']):<19} {r['status']:<11} "
            f"{r['problem']:<16} {title}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Export one experiment: result JSON (``--out``), CSV (``--csv``), else a summary."""
    store = _store()
    try:
        exp = store.get_experiment(args.id)
    except UnknownExperiment as exc:
        raise UsageError(f"{exc}; `python -m optlab runs` lists them") from None
    if exp.get("kind") == "sweep":
        return _show_sweep(store, exp, args)
    if args.csv:
        try:
            files = store.export_csv(args.id, Path(args.csv))
        except OSError as exc:
            raise UsageError(f"cannot write CSV files to {args.csv!r}: {exc.strerror}") from None
        print(f"wrote {len(files)} files to {args.csv}", file=sys.stderr)
    if args.out:
        text = json.dumps(store.result_json(args.id)) + "\n"
        write_output(text, None if args.out == "-" else args.out)  # '-': stdout
    if not args.csv and not args.out:
        s = _summary(exp)
        print(
            f"{s['id']}  {s['name'] or '(unnamed)'}  [{s['status']}]  {s['problem']}  "
            f"device={s['device'] or '-'}  created {_fmt_time(s['created'])}"
        )
        if s["message"]:
            print(f"  {s['message']}")
        for r in exp["runs"]:
            loss = "-" if r["final_loss"] is None else f"{r['final_loss']:.10g}"
            line = f"  {r['label']:<20} {r['status']:<10} steps={r['steps_done']:<7} final={loss}"
            print(line + (f"  {r['message']}" if r["message"] else ""))
    return 0


def _show_sweep(store: Store, exp: dict[str, Any], args: argparse.Namespace) -> int:
    """``show`` of a sweep: its result JSON (``--out``), trials.csv (``--csv``), a summary."""
    result = store.sweep_result(exp["id"])
    if args.csv:
        import csv

        folder = Path(args.csv)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / "trials.csv").open("w", newline="", encoding="utf-8") as fh:
                keys = [
                    "index",
                    "run",
                    "phase",
                    "seed",
                    "status",
                    "diverged_at",
                    "final_loss",
                    "best_loss",
                    "steps_to_threshold",
                    "values",
                    "final_params",
                    "val_acc",
                ]
                writer = csv.DictWriter(fh, keys, extrasaction="ignore")
                writer.writeheader()
                for t in result["trials"]:
                    writer.writerow(
                        {
                            **t,
                            "values": json.dumps(t["values"]),
                            "final_params": json.dumps(t.get("final_params")),
                        }
                    )
        except OSError as exc:
            raise UsageError(f"cannot write CSV files to {args.csv!r}: {exc.strerror}") from None
        print(f"wrote trials.csv to {args.csv}", file=sys.stderr)
    if args.out:
        text = json.dumps(result) + "\n"
        write_output(text, None if args.out == "-" else args.out)  # '-': stdout
    if not args.csv and not args.out:
        s = _summary(exp)
        prog = result["progress"]
        print(
            f"{s['id']}  {s['name'] or '(unnamed)'}  [{s['status']}]  sweep on {s['problem']}  "
            f"{prog['done']}/{prog['total']} trials  created {_fmt_time(s['created'])}"
        )
        if s["message"]:
            print(f"  {s['message']}")
        for label, entry in result["summary"].items():
            best = entry.get("best")
            text = "-" if best is None else f"{best['final_loss']} at {json.dumps(best['values'])}"
            print(
                f"  {label:<20} trials={entry['trials']:<6} diverged={entry['diverged']:<5}"
                f" best={text}"
            )
    return 0


def add_store_commands(subparsers: Any) -> None:
    """Register ``runs`` and ``show`` on the CLI's subparsers."""
    runs = subparsers.add_parser("runs", help="list the experiments in the run store")
    runs.add_argument("--json", action="store_true", help="machine-readable list")
    runs.add_argument("--status", help="only this status (finished, running, interrupted…)")
    runs.add_argument("--limit", type=int, default=200, help="at most this many (newest)")
    runs.set_defaults(func=cmd_runs)
    show = subparsers.add_parser("show", help="export a stored experiment (result JSON, CSV)")
    show.add_argument("id", help="experiment id (see `runs`)")
    show.add_argument("--out", help="write the result JSON here ('-' for stdout)")
    show.add_argument("--csv", metavar="DIR", help="write one CSV per run (and a summary) here")
    show.set_defaults(func=cmd_show)
