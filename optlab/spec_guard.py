"""The gate in front of the spec validation: sizes, counts and depth of the raw input.

Everything that turns outside input into a spec (a file on the command line, an
upload, a ``?s=`` link, a stored spec, the job manager) goes through
:func:`optlab.spec.parse_spec`, which calls :func:`load_json` on text and
:func:`check` on the parsed value *before* pydantic builds anything.  So a huge,
deeply nested or otherwise hostile input costs a scan of its bytes, never a model
per run, and is refused with the same ``(field, message)`` pairs as any other
mistake.  The limits are server settings (:mod:`optlab.settings`).

Checked here: bytes, UTF-8, nesting depth (before ``json.loads`` could recurse),
integer digits (before ``int()`` converts 5,000 digits), the length of every list,
object and string, finite floats, the number of runs and of schedulers per run.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from optlab import settings

#: stop collecting after this many problems (the first ones say enough)
MAX_ERRORS = 10
#: characters of a user's value quoted in a message
QUOTE_CHARS = 60

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class GateError(ValueError):
    """Input refused before validation: ``errors`` holds (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in errors))


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of a user's value, cut to a short prefix when it is long."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(value) if isinstance(value, str) else text
    head = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    return f"{head}… ({len(text):,} characters)"


def clip(message: str, limit: int = 1000) -> str:
    """A message cut to ``limit`` characters (a last guard against echoing huge input)."""
    return message if len(message) <= limit else message[:limit] + f"… ({len(message):,} chars)"


class _HugeInt:
    """What :func:`load_json` reads for an integer of too many digits (reported by path)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(text: str) -> int | _HugeInt:
    digits = len(text) - text.startswith("-")
    return _HugeInt(digits) if digits > settings.MAX_INT_DIGITS else int(text)


def _depth(text: str, limit: int) -> int:
    """The nesting depth of JSON text, counting no further than ``limit + 1``."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def load_json(data: str | bytes) -> Any:
    """Parse a spec's JSON text within the server's limits; :class:`GateError` otherwise."""
    limit = settings.max_spec_bytes()
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise GateError(
            [("", f"the spec is {size:,} bytes; at most {limit:,} (OPTLAB_MAX_SPEC_BYTES)")]
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise GateError(
                [("", f"not UTF-8 text (byte {exc.start}); a spec is a JSON text file")]
            ) from None
    else:
        text = data
    depth_limit = settings.max_spec_depth()
    if _depth(text, depth_limit) > depth_limit:
        raise GateError(
            [("", f"nested more than {depth_limit} levels deep (OPTLAB_MAX_SPEC_DEPTH)")]
        )
    try:
        value = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise GateError(
            [("", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        ) from None
    except (ValueError, RecursionError) as exc:  # defensive: json's own limits
        raise GateError([("", f"not valid JSON: {clip(str(exc), 200)}")]) from None
    return value


def check(value: Any) -> Any:
    """A plain-JSON copy of a parsed spec (tuples become lists), or :class:`GateError`.

    Also counts the runs and each run's schedulers, so a spec of 100,000 runs is
    refused here, not after 100,000 run models are built.
    """
    errors: list[tuple[str, str]] = []
    runs = value.get("runs") if isinstance(value, dict) else None
    if isinstance(runs, list | tuple) and len(runs) > settings.max_runs():
        errors.append(
            (
                "runs",
                f"at most {settings.max_runs()} runs per experiment (OPTLAB_MAX_RUNS); "
                f"this spec has {len(runs):,}",
            )
        )
        raise GateError(errors)
    out = _walk(value, "", 1, errors, _Limits())
    if not errors and isinstance(out, dict):
        _count_schedulers(out, errors)
    if errors:
        raise GateError(errors[:MAX_ERRORS])
    return out


class _Limits:
    def __init__(self) -> None:
        self.depth = settings.max_spec_depth()
        self.items = settings.max_spec_items()
        self.chars = settings.max_text_chars()


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _walk(value: Any, path: str, depth: int, errors: list[tuple[str, str]], lim: _Limits) -> Any:
    if len(errors) >= MAX_ERRORS:
        return None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= 2**63:
            errors.append((path, "integers are limited to 64 bits (at most 19 digits)"))
        return int(value)
    if isinstance(value, _HugeInt):
        errors.append((path, f"an integer of {value.digits:,} digits; at most 19 (64 bits)"))
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append((path, f"must be a finite number, not {value!r}"))
        return float(value)
    if isinstance(value, str):
        if len(value) > lim.chars:
            errors.append(
                (
                    path,
                    f"a text of {len(value):,} characters; at most {lim.chars:,} "
                    "(OPTLAB_MAX_TEXT_CHARS)",
                )
            )
        return value
    if isinstance(value, dict | list | tuple):
        if depth > lim.depth:
            errors.append(
                (path, f"nested more than {lim.depth} levels deep (OPTLAB_MAX_SPEC_DEPTH)")
            )
            return None
        if len(value) > lim.items:
            what = "keys" if isinstance(value, dict) else "elements"
            errors.append(
                (path, f"{len(value):,} {what}; at most {lim.items:,} (OPTLAB_MAX_SPEC_ITEMS)")
            )
            return None
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    errors.append((path, f"keys are strings; got {quote(key)}"))
                    continue
                if len(key) > lim.chars:
                    errors.append((path, f"a key of {len(key):,} characters"))
                    continue
                out[key] = _walk(item, _join(path, key), depth + 1, errors, lim)
            return out
        return [_walk(item, _join(path, i), depth + 1, errors, lim) for i, item in enumerate(value)]
    errors.append((path, f"{type(value).__name__} is not a JSON value"))
    return None


def _count_schedulers(spec: dict[str, Any], errors: list[tuple[str, str]]) -> None:
    runs = spec.get("runs")
    limit = settings.max_schedulers()
    for i, run in enumerate(runs if isinstance(runs, list) else []):
        sched = run.get("scheduler") if isinstance(run, dict) else None
        n = _schedulers(sched)
        if n > limit:
            errors.append(
                (
                    f"runs[{i}].scheduler",
                    f"{n:,} schedulers in one schedule; at most {limit} "
                    "(OPTLAB_MAX_SCHEDULERS), composites and their children counted",
                )
            )


def _schedulers(sched: Any) -> int:
    """Scheduler objects in a schedule tree (depth is bounded by the walk already)."""
    if not isinstance(sched, dict):
        return 0
    children = sched.get("schedulers")
    kids = children if isinstance(children, list) else []
    return 1 + sum(_schedulers(kid) for kid in kids)
