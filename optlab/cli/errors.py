"""What the command line treats as the user's mistake (exit code 2), and its file I/O."""

from __future__ import annotations

import sys
from pathlib import Path

from optlab.spec import ExperimentSpec, SpecError, parse_spec


class UsageError(Exception):
    """Bad input that is not a spec field (a missing file, say): exit code 2."""


def read_spec(path: str) -> ExperimentSpec:
    """The validated spec in ``path`` (``-`` for stdin); SpecError names the field."""
    name = "standard input" if path == "-" else f"spec file {path!r}"
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "a spec is UTF-8 JSON"
        ) from None
    try:
        return parse_spec(text)
    except SpecError:
        raise
    except RecursionError:
        raise UsageError(f"{name}: the JSON is nested too deeply") from None
    except ValueError as exc:  # json's limit on integer digits (4300)
        why = "a number has more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise UsageError(f"{name}: not a usable JSON spec ({why})") from None


def write_output(text: str, out: str | None) -> None:
    """Write ``text`` to the file ``out``, or to stdout when ``out`` is None."""
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out!r}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
