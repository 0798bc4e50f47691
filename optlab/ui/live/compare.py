"""Two stored experiments overlaid in the same charts (History → Compare).

Runs keep their own colours within an experiment; the second experiment's runs
continue the palette and are drawn dashed, and every label says which experiment
it belongs to (``A · SGD``, ``B · Adam``).
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from optlab.ui import theme
from optlab.ui.charts import figures
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.charts.series import RunSeries
from optlab.ui.charts.summary_table import summary_table
from optlab.ui.live.live_data import ExperimentData, refresh
from optlab.ui.services import store


def _tagged(data: ExperimentData, tag: str, offset: int) -> list[RunSeries]:
    out = []
    for run in data.runs:
        twin = copy.copy(run)
        twin.label = f"{tag} · {run.label}"
        twin.color_index = offset + run.index
        out.append(twin)
    return out


def _dash_second(fig: dict) -> dict:
    for trace in fig["data"]:
        name = str(trace.get("name", ""))
        if name.startswith("B · ") and "line" in trace:
            trace["line"] = {**trace["line"], "dash": "dash"}
    return fig


def same_surface(a: ExperimentData, b: ExperimentData) -> bool:
    if not (a.is_surface and b.is_surface):
        return False
    pa, pb = a.spec.get("problem"), b.spec.get("problem")
    if not isinstance(pa, dict) or not isinstance(pb, dict):
        return False
    strip = {"start"}
    return {k: v for k, v in pa.items() if k not in strip} == {
        k: v for k, v in pb.items() if k not in strip
    }


def _surface(data: ExperimentData) -> Any:
    """The experiment's surface, or None when its stored spec no longer validates."""
    from optlab.spec import SpecError, parse_spec

    try:
        return parse_spec(data.spec).problem.build()
    except SpecError:
        return None


def compare_view(id_a: str, id_b: str) -> None:
    """Overlay experiments ``id_a`` (A, solid) and ``id_b`` (B, dashed)."""
    a, b = refresh(store(), id_a, None), refresh(store(), id_b, None)
    runs = _tagged(a, "A", 0) + _tagged(b, "B", len(a.runs))
    cols = st.columns(2)
    for col, tag, data in ((cols[0], "A", a), (cols[1], "B", b)):
        col.markdown(f"**{tag}: {data.name or data.id}** · `{data.id}` · {data.status}")
    loss = _dash_second(figures.loss_figure(runs))
    lr = _dash_second(figures.lr_figure(runs))
    problem = _surface(a) if same_surface(a, b) else None
    if problem is not None:
        left, right = st.columns([1.25, 1])
        with left:
            live_chart(
                _dash_second(figures.contour_figure(problem, runs)),
                key="history:compare:contour",
                height=theme.CONTOUR_HEIGHT,
                static_traces=figures.CONTOUR_STATIC,
            )
        with right:
            for fig, name in ((loss, "loss"), (lr, "lr")):
                fig["layout"]["showlegend"] = False
                live_chart(fig, key=f"history:compare:{name}", height=theme.CONTOUR_HEIGHT // 2)
    else:
        if a.is_surface and b.is_surface:
            st.caption("The two experiments use different surfaces: only the curves are overlaid.")
        left, right = st.columns(2)
        with left:
            live_chart(loss, key="history:compare:loss", height=380)
        with right:
            live_chart(lr, key="history:compare:lr", height=380)
    if not a.is_surface or not b.is_surface:
        left, right = st.columns(2)
        with left:
            fig = _dash_second(figures.epoch_figure(runs, "loss"))
            live_chart(fig, key="history:compare:epochs", height=360)
        with right:
            fig = _dash_second(figures.epoch_figure(runs, "val_acc"))
            live_chart(fig, key="history:compare:acc", height=360)
    left, right = st.columns(2)
    for col, tag, data, part in (
        (left, "A", a, runs[: len(a.runs)]),
        (right, "B", b, runs[len(a.runs) :]),
    ):
        shown = copy.copy(data)
        shown.runs = part
        with col:
            summary_table(shown, f"history:compare:summary:{tag}")
