"""Small Streamlit helpers shared by the forms: state-seeded widgets and stable keys.

A widget is seeded from the draft spec once (``seed``) and then owns its value in
``st.session_state``; the forms read widget values back into the draft on every
run.  Keys carry the draft's *generation*: loading a preset, an upload or a link
bumps it, so every widget starts again from the new draft.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st


def seed(key: str, value: Any) -> None:
    """Give the widget ``key`` its first value (no-op once the widget has one)."""
    if key not in st.session_state:
        st.session_state[key] = value


def seeded(widget: Callable[..., Any], key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
    """``widget(*args, key=key, **kwargs)`` whose first value is ``value``."""
    seed(key, value)
    return widget(*args, key=key, **kwargs)


def new_uid() -> str:
    return uuid.uuid4().hex[:8]


def fmt_num(value: float | None, digits: int = 4) -> str:
    """A compact number for tables and captions (``1.23e-05``, ``0.0421``, ``—``)."""
    if value is None:
        return "—"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if value != value:  # NaN
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"
