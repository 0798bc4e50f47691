"""What the command line treats as the user's mistake (exit code 2), and its file I/O."""

from __future__ import annotations

import sys
from pathlib import Path

from optlab.settings import max_spec_bytes
from optlab.spec import ExperimentSpec, SpecError, parse_spec


class UsageError(Exception):
    """Bad input that is not a spec field (a missing file, say): exit code 2."""


def read_spec(path: str) -> ExperimentSpec:
    """The validated spec in ``path`` (``-`` for stdin); SpecError names the field.

    Bytes go to the spec gate as they are (it checks the size and the UTF-8); no more
    than ``OPTLAB_MAX_SPEC_BYTES`` is read.
    """
    limit = max_spec_bytes()
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            size = Path(path).stat().st_size
            if size > limit:
                raise SpecError(
                    [("", f"the spec is {size:,} bytes; at most {limit:,} (OPTLAB_MAX_SPEC_BYTES)")]
                )
            with open(path, "rb") as fh:  # a pipe or a device has no size: read a bounded part
                data = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read spec file {path!r}: {exc.strerror}") from None
    if len(data) > limit:
        raise SpecError([("", f"the spec is over {limit:,} bytes (OPTLAB_MAX_SPEC_BYTES)")])
    name = "standard input" if path == "-" else f"spec file {path!r}"
    try:
        return parse_spec(data)
    except SpecError as exc:  # a fault of the whole file names the file
        raise SpecError([(field or name, msg) for field, msg in exc.errors]) from None
    except RecursionError:  # a second line of defence: the gate counts the depth first
        raise UsageError(f"{name}: the JSON is nested too deeply") from None


def write_output(text: str, out: str | None) -> None:
    """Write ``text`` to the file ``out``, or to stdout when ``out`` is None."""
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out!r}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
