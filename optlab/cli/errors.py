"""What the command line treats as the user's mistake (exit code 2), and its file I/O."""

from __future__ import annotations

import sys
from pathlib import Path

from optlab.spec import ExperimentSpec, parse_spec


class UsageError(Exception):
    """Bad input that is not a spec field (a missing file, say): exit code 2."""


def read_spec(path: str) -> ExperimentSpec:
    """The validated spec in ``path`` (``-`` for stdin); SpecError names the field."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read spec file {path!r}: {exc.strerror}") from None
    return parse_spec(text)


def write_output(text: str, out: str | None) -> None:
    """Write ``text`` to the file ``out``, or to stdout when ``out`` is None."""
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out!r}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
