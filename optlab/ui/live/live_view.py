"""The live view of one stored experiment: charts that update in place while it runs.

A polling fragment (``run_every=POLL_SECONDS``) re-reads only the new steps from the
store and redraws every chart through ``live_chart`` (Plotly.react on the same DOM
node, the user's zoom kept).  Polling stops when every run is done: the fragment
asks for one full rerun, after which it is declared without ``run_every``.  The
player (``charts/player.py``) replays the steps in the browser, live or finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from optlab.ui import theme
from optlab.ui.charts import figures
from optlab.ui.charts.curvature_figures import (
    add_stability_lines,
    analysis_for,
    sharpness_figure,
)
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.charts.player import build_player, build_step_player, steps_per_epoch
from optlab.ui.charts.summary_table import summary_table
from optlab.ui.live.live_data import ExperimentData, refresh
from optlab.ui.live.status_bar import status_bar
from optlab.ui.markdown_text import md_text
from optlab.ui.services import manager, store

POLL_SECONDS = 0.15
_CACHE = "optlab:live:data"
_MAX_HELD = 4


def load(exp_id: str) -> ExperimentData:
    """The experiment's data, updated from the store since the last call in this session."""
    held: dict[str, ExperimentData] = st.session_state.setdefault(_CACHE, {})
    data = refresh(store(), exp_id, held.get(exp_id))
    held[exp_id] = data
    for old in list(held)[:-_MAX_HELD]:
        if old != exp_id:
            held.pop(old, None)
    return data


def _cancel(exp_id: str, run: int | None) -> None:
    try:
        manager().cancel(exp_id, run)
    except Exception as exc:  # a finished or unknown experiment: say so, never a traceback
        st.toast(f"Could not cancel: {md_text(exc)}")


def _surface_charts(
    data: ExperimentData,
    key: str,
    start: tuple[float, float] | None,
    on_click: Callable[[dict[str, float]], None] | None,
    autoplay: bool = False,
    fit: bool = False,
) -> None:
    from optlab.spec import parse_spec

    spec = parse_spec(data.spec)
    problem = spec.problem.build()
    points = figures.LIVE_POINTS if data.active else figures.MAX_POINTS
    fig = figures.contour_figure(problem, data.runs, start=start, max_points=points)
    if fit:  # the readout above names each run in its colour: the legend's rows go to the plot
        fig = _no_legend(fig)
    player = build_player(
        fig,
        data.runs,
        ident=data.id,
        group=key,
        live=data.active,
        max_points=points,
        autoplay=autoplay,
        total=int(data.spec.get("steps") or 0) or None,
        run_specs=list(spec.runs),
    )
    click = live_chart(
        fig,
        key=f"{key}:contour",
        height=theme.FIT_CONTOUR_HEIGHT if fit else theme.CONTOUR_HEIGHT,
        static_traces=figures.CONTOUR_STATIC,
        on_click=on_click is not None,
        player=player,
    )
    if click is not None and on_click is not None:
        on_click(click)
    left, right = st.columns(2)
    with left:
        fig = _no_legend(figures.loss_figure(data.runs, max_points=points))
        live_chart(fig, key=f"{key}:loss", height=340, cursor=key)
    with right:
        fig = _no_legend(figures.lr_figure(data.runs, max_points=points))
        analysis = analysis_for(data.spec)
        if analysis is not None:  # each SGD run's stability limit (issue 12 §3)
            add_stability_lines(fig, analysis, int(data.spec.get("steps") or 1))
        live_chart(fig, key=f"{key}:lr", height=340, cursor=key)


def _no_legend(fig: dict[str, Any]) -> dict[str, Any]:
    """Below the contour the colours are known: the small charts keep their room."""
    fig["layout"]["showlegend"] = False
    fig["layout"]["margin"] = {**fig["layout"]["margin"], "t": 16}
    return fig


def _model_charts(data: ExperimentData, key: str) -> None:
    """Per-step loss (with the player: play/pause/step over the recorded steps) and lr,
    per-epoch loss and accuracy; every chart marks the player's step."""
    points = figures.LIVE_POINTS if data.active else figures.MAX_POINTS
    player = build_step_player(
        data.runs, ident=data.id, group=key, live=data.active, max_points=points
    )
    # the loss across the width: the player's bar and readout above it need the room
    live_chart(
        figures.loss_figure(data.runs, max_points=points),
        key=f"{key}:loss",
        height=360,
        player=player,
        cursor=key,
    )
    lr = figures.lr_figure(data.runs, max_points=points)
    from optlab.problem import get_problem

    task = getattr(get_problem(str(data.spec["problem"]["name"])), "task", "regression")
    per = steps_per_epoch(data.runs, int(data.spec.get("epochs") or 0))
    cursor = key if per else None  # the epoch axis: step / steps per epoch
    epochs = figures.epoch_figure(data.runs, "loss")
    left, right = st.columns(2)
    with left:
        live_chart(lr, key=f"{key}:lr", height=340, cursor=key)
    with right:
        live_chart(epochs, key=f"{key}:epochs", height=340, cursor=cursor, cursor_scale=per)
    if task == "classification":
        left, _ = st.columns(2)
        with left:
            acc = figures.epoch_figure(data.runs, "val_acc")
            live_chart(acc, key=f"{key}:acc", height=340, cursor=cursor, cursor_scale=per)
    _sharpness_chart(data, key)


def _sharpness_chart(data: ExperimentData, key: str) -> None:
    """record_sharpness: λ_max against 2/lr (the edge of stability), live."""
    if not any(r.instruments.get("sharpness") is not None for r in data.runs):
        return
    from optlab.spec import parse_spec

    fig = sharpness_figure(data.runs, list(parse_spec(data.spec).runs))
    if fig is not None:
        st.markdown("**Sharpness** — λ_max of the loss Hessian vs 2/lr (edge of stability)")
        live_chart(fig, key=f"{key}:sharpness", height=340)


def live_view(
    exp_id: str,
    *,
    key: str,
    start: tuple[float, float] | None = None,
    on_click: Callable[[dict[str, float]], None] | None = None,
    after: Callable[[ExperimentData], Any] | None = None,
    autoplay: bool = False,
    fit: bool = False,
    headline: bool = True,
) -> ExperimentData:
    """Status, charts and summary of ``exp_id``, polling while it runs.

    ``fit`` (presenter mode, lessons): a lower contour without its legend, so that the
    whole plot area, the status lines and the player bar fit a 1280x720 screen;
    ``headline=False`` (lessons) drops the status's title line (see ``status_bar``)."""
    first = load(exp_id)
    was_active = first.active
    inline = [True]  # the first call runs inside this full run; later ones are polls

    @st.fragment(run_every=POLL_SECONDS if was_active else None)
    def panel() -> None:
        in_full_run, inline[0] = inline[0], False
        data = load(exp_id)
        status_bar(data, on_cancel=lambda run: _cancel(exp_id, run), key=key, headline=headline)
        if data.is_surface:
            _surface_charts(data, key, start, on_click, autoplay, fit)
        else:
            _model_charts(data, key)
        summary_table(data, f"{key}:summary")
        if after is not None:
            after(data)
        if was_active and not data.active and not in_full_run:
            # Stop polling: the next full run declares the fragment without run_every.
            # (Never from inside a full run: that would cut it short before the page
            # writes its URL.)
            st.rerun(scope="app")

    panel()
    return first
