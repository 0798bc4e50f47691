"""Spec errors in words: each names a field (``runs[1].optimizer.betas``) and says
what is allowed.  pydantic's error records become (field, message) pairs here, for
the CLI, the dashboard and the job manager alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    ValidationError,
)

from optlab import spec_guard


class SpecError(ValueError):
    """An invalid spec: ``errors`` holds (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = [(path, spec_guard.clip(msg)) for path, msg in errors]
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in self.errors))


def line_errors(errors: list[dict[str, Any]]) -> list[Any]:
    from pydantic_core import PydanticCustomError

    out = []
    for e in errors:
        msg = e.get("msg", "invalid value")
        if e.get("type") == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append(
            {
                "type": PydanticCustomError("invalid", "{msg}", {"msg": msg}),
                "loc": tuple(e["loc"]),
                "input": e.get("input"),
            }
        )
    return out


def field_error(field: str, msg: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "spec", line_errors([{"loc": (field,), "msg": msg, "input": None}])
    )


def name_error(name: str, msg: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "spec", line_errors([{"loc": ("name",), "msg": msg, "input": name}])
    )


def format_path(loc: tuple[Any, ...]) -> str:
    """('runs', 1, 'optimizer', 'betas') -> 'runs[1].optimizer.betas'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-wrap[_check()]", "function-after[_check()]") or str(
            part
        ).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


_NUMBER_TYPES = ("float_type", "int_type", "int_from_float", "float_parsing", "int_parsing")


def _json_type(value: Any) -> str:
    """How JSON calls the type of ``value`` ("a text", "a list"…), with a short quote."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {spec_guard.quote(value)}"
    if isinstance(value, str):
        return f"the text {spec_guard.quote(value)}"
    return "a list" if isinstance(value, list | tuple) else "an object"


def friendly(err: Mapping[str, object]) -> str:
    msg = str(err.get("msg", "invalid"))
    kind = err.get("type", "")
    given = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see `python -m optlab list`)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"an object {{…}} is needed here, not {_json_type(given)}"
    if kind == "list_type":
        return f"a list […] is needed here, not {_json_type(given)}"
    if kind == "string_type":
        return f"a text (in quotes) is needed here, not {_json_type(given)}"
    if kind == "bool_type":
        return f"true or false is needed here, not {_json_type(given)}"
    if kind in _NUMBER_TYPES:
        want = "a whole number" if kind.startswith("int") else "a number"
        if isinstance(given, bool):
            return f"{want} is needed; true/false is not a number"
        if isinstance(given, str):
            return f"{want} is needed; {spec_guard.quote(given)} is text (write it without quotes)"
        if isinstance(given, float) and kind.startswith("int"):
            if given.is_integer():
                return f"{want} is needed (write {given:.0f}, not {given!r})"
            return f"{want} is needed, not {given!r}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def spec_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [(format_path(tuple(e["loc"])), friendly(e)) for e in exc.errors()]
