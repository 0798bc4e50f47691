"""Tiny app for the pace-control browser test and the classroom benchmark.

RUNS finished runs of STEPS steps each (synthetic spirals into Rosenbrock's minimum)
on the real Rosenbrock contour, with the player, and a loss chart with a cursor.
``script runs: N`` counts the Streamlit script runs of this session (reruns while
playing show up there).
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from optlab.problem import get_problem
from optlab.ui.charts import figures
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.charts.player import build_player
from optlab.ui.charts.series import RunSeries

RUNS = int(os.environ.get("PLAYER_DEMO_RUNS", "6"))
STEPS = int(os.environ.get("PLAYER_DEMO_STEPS", "1000"))
AUTOPLAY = os.environ.get("PLAYER_DEMO_AUTOPLAY", "0") == "1"
LABEL0 = os.environ.get("PLAYER_DEMO_LABEL0", "run 0")  # the hostile-label test sets markup

st.session_state["runs"] = st.session_state.get("runs", 0) + 1
st.markdown(f"script runs: {st.session_state['runs']}")


def run_series(i: int) -> RunSeries:
    t = np.arange(STEPS, dtype=np.float64)
    r = 2.0 * np.exp(-t / (150 + 60 * i))
    angle = t * 0.02 + i
    params = np.stack([1 + r * np.cos(angle) * 0.9, 1 + r * np.sin(angle) * 0.9], axis=1)
    loss = (1 - params[:, 0]) ** 2 + 100 * (params[:, 1] - params[:, 0] ** 2) ** 2
    lr = np.full((STEPS, 1), 0.001 * (i + 1))
    label = LABEL0 if i == 0 else f"run {i}"
    run = RunSeries(index=i, label=label, status="finished", groups=["default"])
    run.append(t.astype(np.int64), loss, lr, params, t * 0.001)
    return run


problem = get_problem("rosenbrock")()
runs = [run_series(i) for i in range(RUNS)]
fig = figures.contour_figure(problem, runs, max_points=figures.MAX_POINTS)
player = build_player(
    fig, runs, ident="demo", group="demo", live=False, max_points=2000, autoplay=AUTOPLAY,
    total=STEPS,
)  # fmt: skip
live_chart(fig, key="demo:contour", height=520, static_traces=figures.CONTOUR_STATIC, player=player)
live_chart(figures.loss_figure(runs), key="demo:loss", height=300, cursor="demo")
st.text_input("a text box", key="box")
