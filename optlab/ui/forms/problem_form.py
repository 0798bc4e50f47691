"""Form fields for a problem's own parameters, read from its pydantic ``Params`` model.

A new problem dropped into ``problems/`` gets a form without UI code: floats and
ints become number boxes, booleans checkboxes, ``Literal`` choices select boxes,
optional values may be left empty.  Only values that differ from the default go
into the spec, so shared specs stay short.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import streamlit as st
from pydantic.fields import FieldInfo

from optlab.problem import get_problem
from optlab.ui.forms.widgets import seed
from optlab.ui.state import draft as drafts


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the base type, whether None is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else annotation), nullable
    return annotation, False


def _bounds(info: FieldInfo) -> dict[str, float]:
    out: dict[str, float] = {}
    for meta in info.metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(meta, name, None)
            if value is not None:
                out[name] = value
    return out


def _help(info: FieldInfo) -> str | None:
    b = _bounds(info)
    parts = [info.description or ""]
    lo = b.get("ge", b.get("gt"))
    hi = b.get("le", b.get("lt"))
    if lo is not None or hi is not None:
        parts.append(f"range {lo if lo is not None else '−∞'} … {hi if hi is not None else '∞'}")
    return " — ".join(p for p in parts if p) or None


def param_field(name: str, info: FieldInfo, value: Any, key: str) -> Any:
    """One widget for a problem field; returns its value (None for an empty optional)."""
    base, nullable = _unwrap(info.annotation)
    label = name.replace("_", " ")
    help_text = _help(info)
    if typing.get_origin(base) is Literal:
        options = ([None] if nullable else []) + list(typing.get_args(base))
        seed(key, value if value in options else options[0])
        return st.selectbox(label, options, key=key, help=help_text)
    if base is bool:
        seed(key, bool(value))
        return st.checkbox(label, key=key, help=help_text)
    if base in (int, float):
        is_int = base is int
        seed(key, value)
        return st.number_input(
            label,
            key=key,
            value=None,
            help=help_text,
            step=1 if is_int else None,
            format="%d" if is_int else "%g",
            placeholder="all" if nullable and name.endswith("limit") else "default",
        )
    seed(key, "" if value is None else str(value))
    text = st.text_input(label, key=key, help=help_text)
    return (text.strip() or None) if nullable else text


def problem_fields(
    cls: Any,
    values: dict[str, Any],
    key: str,
    *,
    skip: tuple[str, ...] = ("start",),
    columns: int = 2,
) -> dict[str, Any]:
    """Widgets for every field of ``cls.Params`` except ``skip``; non-default values out."""
    fields = {n: f for n, f in cls.Params.model_fields.items() if n not in skip}
    out: dict[str, Any] = {}
    items = list(fields.items())
    for row in range(0, len(items), columns):
        cols = st.columns(columns)
        for col, (name, info) in zip(cols, items[row : row + columns], strict=False):
            with col:
                value = values.get(name, info.default)
                got = param_field(name, info, value, f"{key}:{name}")
                if got != info.default:
                    out[name] = got
    return out


def problem_choice(
    page: str, draft: dict[str, Any], names: list[str], label: str
) -> tuple[str, dict[str, Any], bool]:
    """The select box of the problems ``names`` (the draft's one chosen, else the first):
    ``(name, the draft's problem part, changed)``.  A new choice starts the problem part
    afresh (``draft["problem"] = {"name": name}``)."""
    problem: dict[str, Any] = draft.setdefault("problem", {"name": names[0]})
    current = str(problem.get("name", names[0])).lower()
    key = drafts.wkey(page, "problem")
    seed(key, current if current in names else names[0])
    name = st.selectbox(label, names, key=key, format_func=lambda n: get_problem(n).title or n)
    changed = name != current
    if changed:
        problem = draft["problem"] = {"name": name}
    return name, problem, changed
