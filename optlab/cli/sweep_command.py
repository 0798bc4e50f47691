"""``python -m optlab sweep SPEC.json``: run every trial of a spec's sweep (issue 10).

Progress on stderr (trials done / total), the result JSON (``{"spec", "trials",
"summary"}``) on stdout or ``--out``; exit codes as ``run``.  The store does not keep
sweeps yet, so every sweep runs as with ``--no-store`` (the flag is accepted).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from optlab.cli.errors import UsageError, read_spec, write_output


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from optlab.engine.sweep import run_sweep
    from optlab.engine.sweep_plan import plan

    spec = read_spec(args.spec)
    if spec.sweep is None:
        raise UsageError(f"{args.spec} has no sweep; add one or run it with `python -m optlab run`")
    trials = plan(spec)  # bad input fails here, before anything runs (exit 2)
    from optlab.cli.instrument_commands import print_warnings

    print_warnings(spec)  # the base spec's pitfalls (the axes' values are not checked)
    tune = spec.sweep.tune
    total = len(trials) + (len(spec.runs) * tune.rerun_seeds if tune is not None else 0)
    bar = tqdm(
        total=total,
        desc=spec.name or "optlab sweep",
        unit="trial",
        file=sys.stderr,
        disable=args.quiet or None,
        mininterval=0.5,
        leave=False,
    )

    def on_result(result: Any) -> None:
        bar.update(1)

    try:
        result = run_sweep(spec, on_result=on_result, threads=args.threads)
    finally:
        bar.close()
    write_output(json.dumps(result, indent=None if args.out is None else 1) + "\n", args.out)
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
    sweep.add_argument(
        "--no-store",
        action="store_true",
        help="do not keep it in the run store (sweeps are not stored yet: always the case)",
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--threads", type=int, help="torch threads (default: 1 for surfaces)")
    sweep.set_defaults(func=cmd_sweep)
