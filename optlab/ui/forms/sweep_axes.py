"""The Sweeps page's axes editor (issue 10): one row per axis, chosen from the paths that
apply to every run of the draft, with numeric fields for its range.

An axis is swept over every run, so an optimizer hyperparameter is offered only when
every run's optimizer has it.  The editor writes the spec's own forms (a list, ``log``,
``linear``, ``range``, the start ``grid``); the spec and :func:`plan` check them and
their errors name ``sweep.axes.<name>``.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from optlab.catalog import optimizers
from optlab.problem import get_problem

START = "problem.start"
KINDS = ("list", "log", "linear", "range")
#: hyperparameters that choose an implementation, never a point of a sweep
_NOT_SWEPT = {"foreach", "fused", "capturable", "differentiable", "maximize"}


def _as_dict(value: Any) -> dict[str, Any]:
    """The JSON box may hold anything: what is not an object offers no paths (the spec
    check then names the field)."""
    return value if isinstance(value, dict) else {}


def _optimizer_paths(run: dict[str, Any], prefix: str = "optimizer") -> list[str]:
    opt = _as_dict(run.get("optimizer"))
    try:
        info = optimizers.get_info(str(opt.get("name", "")))
    except (KeyError, ValueError):
        return []
    out = []
    for name, hp in info.params.items():
        if name in _NOT_SWEPT:
            continue
        if hp.kind == "floats" and hp.length:
            out += [f"{prefix}.{name}.{i}" for i in range(hp.length)]
        elif hp.kind in ("float", "int", "bool"):
            out.append(f"{prefix}.{name}")
    return out


def axis_paths(draft: dict[str, Any]) -> list[str]:
    """The axis paths that apply to every run of ``draft`` (runs' first, then the
    experiment's), in a stable order."""
    listed = draft.get("runs")
    runs = [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []
    per_run = [_optimizer_paths(r) for r in runs]
    paths = [p for p in per_run[0] if all(p in other for other in per_run[1:])] if runs else []
    groups = min((_length(r.get("param_groups")) for r in runs), default=0)
    paths += [f"param_groups.{i}.lr" for i in range(groups)]
    if runs and all(r.get("clip_grad_norm") is not None for r in runs):
        paths.append("clip_grad_norm")
    paths.append("seed")
    problem = _as_dict(draft.get("problem"))
    try:
        cls = get_problem(str(problem.get("name", "")))
    except ValueError:
        return paths
    if cls.kind == "surface":
        paths += [START, "problem.noise", "steps"]
        skip = {"start", "noise"}
    else:
        paths += ["epochs", "batch_size"]
        skip = set()
    for name, field in cls.Params.model_fields.items():
        if name not in skip and field.annotation in (int, float):
            paths.append(f"problem.{name}")
    return paths


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def kind_of(form: Any) -> str:
    if isinstance(form, dict):
        for kind in ("log", "linear", "range", "grid"):
            if kind in form:
                return kind
    return "list"


def _num(col: Any, label: str, value: Any, key: str, integer: bool = False) -> Any:
    """A number field in ``col``; integers stay integers (a ``num`` or a ``range`` end)."""
    if integer:
        return int(col.number_input(label, value=int(value), step=1, key=key))
    return float(col.number_input(label, value=float(value), format="%g", key=key))


def _form_fields(kind: str, form: Any, key: str, path: str) -> tuple[Any, str | None]:
    """The widgets of one axis's values; returns (the spec form, a problem or None)."""
    old = form if isinstance(form, dict) else {}
    cols = st.columns(3) if kind in ("log", "linear", "range") else []
    if kind in ("log", "linear"):
        lo, hi = (old.get(kind) or [None, None])[:2] if kind_of(form) == kind else (None, None)
        lo = 1e-3 if lo is None else lo
        hi = 1.0 if hi is None else hi
        num = int(old.get("num") or 10)
        a = _num(cols[0], "from", lo, f"{key}:lo")
        b = _num(cols[1], "to", hi, f"{key}:hi")
        n = _num(cols[2], "points", num, f"{key}:num", integer=True)
        return {kind: [a, b], "num": n}, None
    if kind == "range":
        a0, b0 = (old.get("range") or [0, 3])[:2] if kind_of(form) == "range" else (0, 3)
        a = _num(cols[0], "from (included)", a0, f"{key}:a", integer=True)
        b = _num(cols[1], "to (excluded)", b0, f"{key}:b", integer=True)
        return {"range": [a, b]}, None
    if kind == "grid":
        (x0, x1), (y0, y1) = old.get("grid") or [[-2.0, 2.0], [-2.0, 2.0]]
        nx, ny = old.get("num") or [20, 20]
        c = st.columns(6)
        vals = [
            _num(c[i], lbl, v, f"{key}:{lbl}")
            for i, (lbl, v) in enumerate((("x from", x0), ("x to", x1), ("y from", y0),
                                          ("y to", y1)))
        ]  # fmt: skip
        gx = _num(c[4], "x points", nx, f"{key}:nx", integer=True)
        gy = _num(c[5], "y points", ny, f"{key}:ny", integer=True)
        return {"grid": [vals[:2], vals[2:]], "num": [gx, gy]}, None
    text = st.text_input(
        "values (a JSON list)",
        json.dumps(form if isinstance(form, list) else []),
        key=f"{key}:list",
        help="e.g. [0.01, 0.1, 1.0]; for problem.start a list of points [[x, y], …]",
    )
    try:
        values = json.loads(text)
    except ValueError:
        return [], f"sweep.axes.{path}: the values are not a JSON list"
    return values, None


def axes_editor(
    draft: dict[str, Any], axes: dict[str, Any], key: str
) -> tuple[dict[str, Any], list[str]]:
    """The axis rows: returns the edited ``axes`` and the problems found (one line each).

    ``key`` is this draft generation's widget prefix; rows live in session state under it.
    """
    paths = axis_paths(draft)
    rows_key = f"{key}:rows"
    if rows_key not in st.session_state:
        st.session_state[rows_key] = [
            {"id": i, "path": name, "form": form} for i, (name, form) in enumerate(axes.items())
        ]
    rows: list[dict[str, Any]] = st.session_state[rows_key]
    out: dict[str, Any] = {}
    problems: list[str] = []
    for row in list(rows):
        rkey = f"{key}:{row['id']}"
        with st.container(border=True):
            head = st.columns([3, 2, 1], vertical_alignment="bottom")
            options = paths if row["path"] in paths else [row["path"], *paths]
            path = head[0].selectbox(
                "axis", options, index=options.index(row["path"]), key=f"{rkey}:path"
            )
            kinds = ("grid", "list") if path == START else KINDS
            current = kind_of(row["form"])
            kind = head[1].selectbox(
                "values", kinds, index=kinds.index(current) if current in kinds else 0,
                key=f"{rkey}:kind",
            )  # fmt: skip
            if head[2].button("Remove", key=f"{rkey}:remove", icon=":material/delete:"):
                rows.remove(row)
                st.rerun()
            form, problem = _form_fields(kind, row["form"], rkey, path)
            row["path"], row["form"] = path, form
        if problem:
            problems.append(problem)
        if path in out:
            problems.append(f"sweep.axes.{path}: this axis is given twice")
        out[path] = form
    unused = [p for p in paths if p not in out]
    if unused and st.button("Add axis", key=f"{key}:add", icon=":material/add:"):
        path = unused[0]
        new: Any = {"grid": [[-2.0, 2.0], [-2.0, 2.0]], "num": [20, 20]} if path == START else {
            "log": [1e-3, 1.0], "num": 10}  # fmt: skip
        rows.append({"id": max((r["id"] for r in rows), default=-1) + 1, "path": path,
                     "form": new})  # fmt: skip
        st.rerun()
    return out, problems
