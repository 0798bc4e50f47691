"""Surfaces: optimizers racing across a 2-D loss surface, live.

Left: the problem, the start point and the runs; right: the contour with every
trajectory, loss and learning rate per step, the summary.  The sidebar holds the
presets, the share link, downloads and upload.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.problem import Surface, get_problem
from optlab.ui import presets, theme
from optlab.ui.charts.figures import CONTOUR_STATIC, contour_figure
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.forms.runs_editor import runs_editor
from optlab.ui.forms.surface_setup import request_start, surface_names, surface_setup
from optlab.ui.frame.curvature_panel import curvature_panel
from optlab.ui.frame.lr_finder import lr_finder
from optlab.ui.frame.present import controls_shown, presenting
from optlab.ui.frame.run_page import check_and_run, editor_columns, page_end
from optlab.ui.frame.sidebar import open_page
from optlab.ui.live.live_view import live_view
from optlab.ui.state import page_state

PAGE = "surfaces"
DEFAULT = presets.get("sgdm_adam_rosenbrock").spec
CHART_KEY = "surfaces"


def _load(spec: dict[str, Any]) -> None:
    page_state.load_spec(PAGE, spec)


def _clicked(point: dict[str, float]) -> None:
    request_start(PAGE, point)
    st.rerun(scope="app")


def _preview(cls: Any, draft: dict[str, Any], height: int) -> None:
    """The contour of the surface being set up, with its start point (click to move it)."""
    problem_spec = draft.get("problem") or {}
    try:
        params = {k: v for k, v in problem_spec.items() if k != "name"}
        problem = cls(cls.Params.model_validate(params))
    except Exception:  # the form holds an invalid value: draw the defaults meanwhile
        problem = cls()
    start = problem.start
    fig = contour_figure(problem, [], start=start)
    click = live_chart(
        fig,
        key=f"{CHART_KEY}:contour",
        height=height,
        static_traces=CONTOUR_STATIC,
        on_click=True,
    )
    if click is not None:
        _clicked(click)
    st.caption("Click on the contour to move the start point. Press **Run** to race the runs.")


def _surface_class(draft: dict[str, Any]) -> Any:
    """The draft's surface class without its form (presenting): the first surface if unknown."""
    name = str((draft.get("problem") or {}).get("name", "")).lower()
    try:
        cls = get_problem(name)
    except ValueError:
        cls = None
    if cls is None or not issubclass(cls, Surface):
        cls = get_problem(surface_names()[0])
    return cls


def _start(draft: dict[str, Any]) -> tuple[float, float] | None:
    start = (draft.get("problem") or {}).get("start")
    if (
        isinstance(start, list)
        and len(start) == 2
        and all(isinstance(v, int | float) for v in start)
    ):
        return float(start[0]), float(start[1])
    return None


def render() -> None:
    draft = open_page(PAGE, DEFAULT, _load)
    present = presenting(PAGE)
    editing = controls_shown(PAGE)
    if editing:
        left, right, bar = editor_columns()
        with left:
            cls = surface_setup(PAGE, draft)
            st.markdown("#### Runs")
            boxes = runs_editor(PAGE, draft, steps=int(draft.get("steps") or 500), model=False)
    elif present:  # Run in a narrow side column: the contour and its player fit 1280x720
        bar, right = st.columns([1, 4], gap="medium")
        boxes = []
        cls = _surface_class(draft)
    else:  # a students' link: no editor, the chart across the page
        bar, right, boxes = st.container(), st.container(), []
        cls = _surface_class(draft)
    shown = check_and_run(PAGE, draft, bar, boxes, narrow=present)
    spec, exp_id = shown.spec, shown.exp_id
    height = theme.FIT_CONTOUR_HEIGHT if present else theme.CONTOUR_HEIGHT
    with right:
        if exp_id:
            live_view(
                exp_id,
                key=CHART_KEY,
                start=_start(draft),
                on_click=_clicked,
                fit=present,
            )
        else:
            _preview(cls, draft, height)
        curvature_panel(spec.to_dict() if spec is not None else None, CHART_KEY)
        if editing:  # the finder is an editor action: not in presenter mode or on a students' link
            lr_finder(PAGE, draft, spec, model=False)
    page_end(PAGE, draft, shown, _load, present=present, model=False)
