"""Reading a hyperparameter's kind, choices and help from a class's signature and docstring.

The catalogue introspects the installed libraries instead of copying their defaults;
these helpers turn an ``inspect.Parameter`` and the docstring's ``Args:`` section into
what a :class:`~optlab.catalog.hyperparams.HyperParam` needs.
"""

from __future__ import annotations

import ast
import enum
import inspect
import math
import re
from typing import Any

# annotations a JSON spec cannot express (callables, dtypes, modules…)
_UNEXPRESSIBLE = re.compile(r"Callable|dtype|\bdict\b|\bset\[|ProcessGroup|Module|Optimizer")


def _arg_help(doc: str) -> dict[str, str]:
    """Parameter help from a docstring's ``Args:`` section (torch and Google style)."""
    match = re.search(r"^([ \t]*)Args:\s*\n", doc, re.M)
    if not match:
        return {}
    helps: dict[str, str] = {}
    current, indent = "", None
    for line in doc[match.end() :].splitlines():
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        indent = width if indent is None else indent
        if width < indent:
            break
        head = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
        if width == indent and head:
            current = head.group(1)
            helps[current] = head.group(2).strip()
        elif current and width > indent:
            helps[current] += " " + line.strip()
    return {k: _clean_help(v) for k, v in helps.items()}


def _clean_help(text: str) -> str:
    text = re.sub(r"\s*\(default:[^)]*\)?\)?", "", text)
    text = re.sub(r"`+([^`]*)`+_?", r"\1", text)
    first, *rest = re.sub(r"\s+", " ", text).strip().split(". ")
    rest = [s for s in rest if not re.search(r"(?i)tensor|capturable", s)]  # not for optlab
    text = ". ".join([first, *rest])
    return first.rstrip(".") if len(text) > 120 else text


def _options(cls: type[Any], name: str) -> tuple[str, ...] | None:
    """Allowed values of a str hyperparameter from the class's ``validate_options`` call."""
    try:
        source = inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return None
    found = re.search(rf"validate_options\(\s*{name}\s*,\s*'\w+'\s*,\s*(\[[^\]]*\])", source)
    return tuple(ast.literal_eval(found.group(1))) if found else None


def _literal_choices(ann: str) -> tuple[Any, ...] | None:
    found = re.search(r"Literal\[([^\]]*)\]", ann)
    return tuple(ast.literal_eval(f"({found.group(1)},)")) if found else None


def _kind(default: Any, ann: str, cls: type, name: str, hint: dict[str, Any]) -> dict[str, Any]:
    """HyperParam fields (kind, default, choices, length…) or {} when it cannot be expressed."""
    if _UNEXPRESSIBLE.search(ann):
        return {}
    if isinstance(default, enum.Enum):
        members = list(type(default))
        names = ", ".join(f"{m.value}={m.name}" for m in members)
        return {"kind": "choice", "choices": tuple(m.value for m in members),
                "default": default.value, "help_suffix": f" ({names})"}  # fmt: skip
    if isinstance(default, bool):
        return {"kind": "bool", "default": default}
    choices = hint.get("choices") or _literal_choices(ann)
    if choices:
        return {"kind": "choice", "choices": tuple(choices), "default": default}
    number = (
        "float" if re.search(r"\bfloat\b", ann) else "int" if re.search(r"\bint\b", ann) else ""
    )
    if default is None:
        if re.search(r"\bbool\b", ann):
            return {"kind": "bool", "default": None}
        if number:
            return {"kind": number, "default": None}
        if re.search(r"\bstr\b", ann):
            found = _options(cls, name)
            return {"kind": "choice", "choices": found} if found else {"kind": "str"}
        return {}
    if isinstance(default, int):
        if number == "float":
            return {"kind": "float", "default": float(default)}
        return {"kind": "int", "default": default}
    if isinstance(default, float):
        return {"kind": "float", "default": default} if math.isfinite(default) else {}
    if isinstance(default, str):
        found = _options(cls, name)
        return {"kind": "choice", "choices": found, "default": default} if found else {
            "kind": "str", "default": default}  # fmt: skip
    if isinstance(default, tuple | list) and default:
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in default):
            return {}
        floats = number == "float" or any(isinstance(x, float) for x in default)
        return {"kind": "floats" if floats else "ints",
                "default": tuple(float(x) if floats else x for x in default),
                "length": None if "..." in ann else len(default)}  # fmt: skip
    return {}
