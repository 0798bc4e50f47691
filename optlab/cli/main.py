"""Command line: ``python -m optlab run | sweep | check | analyze | lr-find | schedule | …``.

Exit codes: 0 done (diverged runs included), 2 invalid input (one clear line per
problem on stderr, naming the field; no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys

from optlab.cli.engine_commands import add_engine_commands
from optlab.cli.errors import UsageError
from optlab.cli.instrument_commands import add_instrument_commands
from optlab.cli.store_commands import add_store_commands
from optlab.cli.sweep_command import add_sweep_command
from optlab.problem import DataError
from optlab.spec import SpecError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m optlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_engine_commands(sub)
    add_sweep_command(sub)
    add_instrument_commands(sub)
    add_store_commands(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SpecError as exc:
        for path, msg in exc.errors:
            print(f"error: {path}: {msg}" if path else f"error: {msg}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DataError as exc:  # the dataset named by the spec is missing, corrupt or unusable
        print(f"error: problem.data_dir: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # internal error: one line, the details only on request
        from optlab.engine.experiment import DeviceUnavailable

        if isinstance(exc, DeviceUnavailable):
            print(f"error: device: {_one_line(exc)} (use 'auto' or 'cpu')", file=sys.stderr)
            return 2
        if os.environ.get("OPTLAB_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (set OPTLAB_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
