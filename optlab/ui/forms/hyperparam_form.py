"""Form fields for optimizer and scheduler hyperparameters, rendered from the catalogue.

Each :class:`~optlab.catalog.hyperparams.HyperParam` becomes the natural widget (a log-scale
slider plus an exact number box for learning rates, a number box, a checkbox, a
select box, a pair of boxes for ``betas``…).  Number boxes are not clamped: a value
out of range reaches the spec validation, whose message (the CLI's) is shown inline.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from optlab.catalog.hyperparams import HyperParam
from optlab.ui.forms.widgets import fmt_num, seed

#: implementation switches of torch.optim that change speed, not the maths
HIDDEN = frozenset({"foreach", "capturable", "differentiable", "fused"})
#: rendered first, as a log slider + number box
LOG_FIRST = ("lr", "max_lr")


def lr_grid(lo: float = 1e-6, hi: float = 10.0) -> list[float]:
    """1-1.5-2-3-5-7 steps per decade: the values a log-scale learning-rate slider snaps to."""
    out = []
    exp = math.floor(math.log10(lo))
    while 10.0**exp <= hi * 1.0001:
        for m in (1.0, 1.5, 2.0, 3.0, 5.0, 7.0):
            v = float(f"{m * 10.0**exp:.10g}")
            if lo * 0.9999 <= v <= hi * 1.0001:
                out.append(v)
        exp += 1
    return out


GRID = lr_grid()


def nearest(grid: list[float], value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return grid[len(grid) // 2]
    if not math.isfinite(v) or v <= 0:
        return grid[0]
    return min(grid, key=lambda g: abs(math.log10(g) - math.log10(v)))


def log_input(label: str, key: str, value: Any, *, help: str = "") -> Any:
    """A log-scale slider (snapping to 1-1.5-2-3-5-7 steps) and an exact number box, in step."""
    skey, nkey = f"{key}:slider", f"{key}:exact"
    seed(nkey, float(value) if isinstance(value, int | float) else None)
    seed(skey, nearest(GRID, st.session_state[nkey]))

    def from_slider() -> None:
        st.session_state[nkey] = st.session_state[skey]

    def from_number() -> None:
        st.session_state[skey] = nearest(GRID, st.session_state[nkey])

    left, right = st.columns([3, 1.3], vertical_alignment="bottom")
    left.select_slider(
        label, options=GRID, key=skey, on_change=from_slider, format_func=fmt_num, help=help
    )
    right.number_input(
        f"{label} (exact)",
        key=nkey,
        on_change=from_number,
        format="%g",
        step=None,
        label_visibility="collapsed",
        value=None,
    )
    return st.session_state[nkey]


def _step(hp: HyperParam) -> float:
    if hp.minimum is not None and hp.maximum is not None and hp.maximum - hp.minimum <= 1:
        return 0.01
    default = abs(float(hp.default)) if isinstance(hp.default, int | float) and hp.default else 1.0
    return float(f"{10 ** math.floor(math.log10(default)) / 10:.1g}") if default else 0.1


def _parse_list(text: str, kind: str) -> Any:
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        return [int(p) if kind == "ints" else float(p) for p in parts]
    except ValueError:
        return text  # the spec validation explains what is allowed


def field(hp: HyperParam, key: str, value: Any, *, label: str | None = None) -> Any:
    """One widget for ``hp`` seeded with ``value``; returns the widget's value."""
    label = label or hp.name
    help_text = " — ".join(t for t in (hp.help, hp.range_text()) if t) or None
    if hp.kind == "float" and hp.log_scale:
        return log_input(label, key, value, help=help_text or "")
    if hp.kind in ("float", "int"):
        is_int = hp.kind == "int"
        if isinstance(value, list):  # a per-group list (floats_or_scalar): edit the first
            value = value[0] if value else None
        seed(key, (int(value) if is_int else float(value)) if value is not None else None)
        return st.number_input(
            label,
            key=key,
            value=None,
            step=1 if is_int else _step(hp),
            format="%d" if is_int else "%g",
            help=help_text,
            placeholder="default" if hp.nullable else "required",
        )
    if hp.kind == "bool":
        if hp.nullable:
            options = [None, True, False]
            seed(key, value)
            return st.selectbox(
                label,
                options,
                key=key,
                help=help_text,
                format_func=lambda v: "default" if v is None else str(v),
            )
        seed(key, bool(value))
        return st.checkbox(label, key=key, help=help_text)
    if hp.kind == "choice":
        options = ([None] if hp.nullable else []) + list(hp.choices or ())
        seed(key, value if value in options else options[0])
        return st.selectbox(label, options, key=key, help=help_text)
    if hp.kind in ("floats", "ints") and hp.length and hp.length <= 4:
        items = list(value) if isinstance(value, list | tuple) else [None] * hp.length
        cols = st.columns(hp.length)
        out = []
        for i, col in enumerate(cols):
            k = f"{key}:{i}"
            item = items[i] if i < len(items) else None
            seed(k, item)
            out.append(
                col.number_input(
                    f"{label}[{i}]",
                    key=k,
                    value=None,
                    help=help_text,
                    step=1 if hp.kind == "ints" else 0.001,
                    format="%d" if hp.kind == "ints" else "%g",
                )
            )
        return out
    if hp.kind in ("floats", "ints"):
        text = ", ".join(fmt_num(v, 6) if hp.kind == "floats" else str(v) for v in value or [])
        seed(key, text)
        raw = st.text_input(label, key=key, help=(help_text or "") + " (comma-separated)")
        return _parse_list(raw, hp.kind) if raw.strip() else []
    seed(key, "" if value is None else str(value))
    return st.text_input(label, key=key, help=help_text)


def _default(hp: HyperParam) -> Any:
    return list(hp.default) if isinstance(hp.default, tuple) else hp.default


def visible(params: dict[str, HyperParam]) -> list[HyperParam]:
    return [hp for name, hp in params.items() if name not in HIDDEN]


def render_params(
    params: dict[str, HyperParam],
    values: dict[str, Any],
    key: str,
    *,
    columns: int = 3,
    keep: tuple[str, ...] = ("lr",),
) -> dict[str, Any]:
    """Fields for every visible hyperparameter; returns the values that differ from default.

    ``keep`` names keys kept even at their default (a run's ``lr`` reads better stated).
    Required hyperparameters are always returned.
    """
    shown = visible(params)
    first = [hp for hp in shown if hp.name in LOG_FIRST and hp.kind == "float"]
    rest = [hp for hp in shown if hp not in first]
    out: dict[str, Any] = {}
    for hp in first:
        out[hp.name] = field(hp, f"{key}:{hp.name}", values.get(hp.name, _default(hp)))
    for row in range(0, len(rest), columns):
        cols = st.columns(columns)
        for col, hp in zip(cols, rest[row : row + columns], strict=False):
            with col:
                out[hp.name] = field(hp, f"{key}:{hp.name}", values.get(hp.name, _default(hp)))
    result = {}
    for name, value in out.items():
        hp = params[name]
        if hp.required or name in keep or _differs(value, _default(hp)):
            if value is None and not hp.nullable and not hp.required:
                continue
            result[name] = value
    return result


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, float) and isinstance(default, int | float) and default is not None:
        return not math.isclose(value, float(default), rel_tol=1e-12, abs_tol=0.0)
    if isinstance(value, list) and isinstance(default, list):
        return len(value) != len(default) or any(
            _differs(a, b) for a, b in zip(value, default, strict=False)
        )
    return value != default
