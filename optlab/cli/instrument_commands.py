"""The instruments (issue 12): ``check``, ``analyze`` and ``lr-find``.

- ``check SPEC``: one ``warning: <field>: <message>`` line per pitfall on stdout; exit 0
  (2 for an invalid spec).  ``run`` and ``sweep`` print the same lines on stderr.
- ``analyze SPEC [--at X,Y]``: curvature and stability of a surface, as JSON.
- ``lr-find SPEC``: the LR range test of every run, as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from optlab.cli.errors import UsageError, read_spec, write_output
from optlab.spec import ExperimentSpec


def print_warnings(spec: ExperimentSpec, file: Any = None) -> int:
    """Print the spec's pitfalls (stderr by default); how many there were."""
    from optlab.engine.pitfalls import warning_lines

    lines = warning_lines(spec)
    for line in lines:
        print(line, file=file or sys.stderr)
    return len(lines)


def cmd_check(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    count = print_warnings(spec, sys.stdout)
    if not count and not args.quiet:
        print("no pitfalls found", file=sys.stderr)
    return 0


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--at: give the point as X,Y (two numbers), not {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise UsageError("--at: the point must be finite")
    return x, y


def cmd_analyze(args: argparse.Namespace) -> int:
    from optlab.engine.curvature import analyze

    spec = read_spec(args.spec)
    if not spec.is_surface:
        raise UsageError(
            f"problem.name: {spec.problem.name} trains a model; analyze works on 2-D surfaces "
            "(models: set record_sharpness on a run)"
        )
    at = _point(args.at) if args.at is not None else None
    write_output(json.dumps(analyze(spec, at), indent=1) + "\n", args.out)
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    from optlab.engine.lr_find import LRFindSettings, lr_find

    spec = read_spec(args.spec)
    settings = LRFindSettings(
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        num_iter=args.num_iter,
        beta=args.beta,
        stop_factor=args.stop_factor,
        seeds=args.seeds,
    )
    errors = settings.errors()
    if errors:
        raise UsageError("; ".join(f"{option}: {msg}" for option, msg in errors))
    result = lr_find(spec, settings)
    write_output(json.dumps(result, indent=None if args.out is None else 1) + "\n", args.out)
    return 0


def add_instrument_commands(subparsers: Any) -> None:
    """Register ``check``, ``analyze`` and ``lr-find`` on the CLI's subparsers."""
    check = subparsers.add_parser("check", help="name the pitfalls of a spec (warnings)")
    check.add_argument("spec", help="spec JSON file ('-' for stdin)")
    check.add_argument("--quiet", action="store_true", help="no note when nothing is found")
    check.set_defaults(func=cmd_check)
    analyze = subparsers.add_parser(
        "analyze", help="curvature and stability limits of a 2-D surface spec"
    )
    analyze.add_argument("spec")
    analyze.add_argument("--at", help="the point X,Y (default: the start)")
    analyze.add_argument("--out")
    analyze.set_defaults(func=cmd_analyze)
    find = subparsers.add_parser("lr-find", help="LR range test of every run")
    find.add_argument("spec")
    find.add_argument("--out")
    find.add_argument("--start-lr", type=float, default=1e-7)
    find.add_argument("--end-lr", type=float, default=10.0)
    find.add_argument("--num-iter", type=int, default=100)
    find.add_argument("--beta", type=float, default=0.98)
    find.add_argument("--stop-factor", type=float, default=4.0)
    find.add_argument("--seeds", type=int, default=1)
    find.set_defaults(func=cmd_lr_find)
