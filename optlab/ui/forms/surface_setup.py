"""The Surfaces page's problem settings: which surface, its parameters, start point, steps.

The start point is typed here or clicked on the contour: a click stores a pending
start, and the next full run applies it before these widgets are drawn (a widget's
value cannot change after it is drawn in the same run).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.problem import Surface, get_problem, list_problems
from optlab.ui.forms.problem_form import problem_choice, problem_fields
from optlab.ui.forms.widgets import seed
from optlab.ui.state import draft as drafts

_PENDING = "optlab:pending_start:"


def surface_names() -> list[str]:
    return [p.name for p in list_problems() if issubclass(p, Surface)]


def request_start(page: str, point: dict[str, float]) -> None:
    """Called by the contour's click: set the start point on the next full run."""
    st.session_state[_PENDING + page] = (round(float(point["x"]), 3), round(float(point["y"]), 3))


def _apply_pending(page: str, draft: dict[str, Any], name: str) -> None:
    pending = st.session_state.pop(_PENDING + page, None)
    if pending is None:
        return
    draft["problem"]["start"] = list(pending)
    st.session_state[drafts.wkey(page, "start", name, 0)] = pending[0]
    st.session_state[drafts.wkey(page, "start", name, 1)] = pending[1]


def surface_setup(page: str, draft: dict[str, Any]) -> type[Surface]:
    """Widgets for the problem part of ``draft`` (edited in place); returns the problem class."""
    name, problem, _ = problem_choice(page, draft, surface_names(), "Surface")
    cls = get_problem(name)
    assert issubclass(cls, Surface), name  # the names offered are surfaces
    st.caption(cls.description)
    if cls.formula:
        st.latex(cls.formula)
    _apply_pending(page, draft, name)
    start = problem.get("start") or list(cls.default_start)
    st.markdown("**Start point** — type it, or click on the contour")
    cols = st.columns(2)
    xy = []
    for i, (col, axis) in enumerate(zip(cols, "xy", strict=True)):
        k = drafts.wkey(page, "start", name, i)
        seed(k, float(start[i]))
        with col:
            xy.append(st.number_input(axis, key=k, value=None, format="%g", step=0.1))
    values = problem_fields(cls, problem, drafts.wkey(page, "params", name))
    new_problem: dict[str, Any] = {"name": name, "start": xy, **values}
    draft["problem"] = new_problem
    cols = st.columns(2)
    k = drafts.wkey(page, "steps")
    seed(k, int(draft.get("steps") or 500))
    draft["steps"] = cols[0].number_input("Steps", key=k, value=None, step=100, format="%d")
    k = drafts.wkey(page, "seed")
    seed(k, int(draft.get("seed") or 0))
    draft["seed"] = cols[1].number_input(
        "Seed", key=k, value=None, step=1, format="%d", help="the gradient noise's seed"
    )
    for extra in ("epochs", "batch_size"):
        draft.pop(extra, None)
    return cls


def problem_identity(spec: dict[str, Any]) -> str:
    """The problem minus its start point, defaults filled in: while the form's problem
    matches a shown experiment's, that experiment stays on screen."""
    problem = dict(spec.get("problem") or {})
    problem.pop("start", None)
    name = str(problem.pop("name", ""))
    try:
        cls = get_problem(name)
        params = cls.Params.model_validate(problem).model_dump(mode="json", exclude={"start"})
    except Exception:  # an invalid form: compare the raw values
        params = problem
    return f"{name.lower()}:{sorted(params.items())!r}"
