"""Tiny app for the live chart browser test: 6 trajectories grow over a static contour.

A polling fragment adds points every LIVE_CHART_DEMO_INTERVAL seconds; after
LIVE_CHART_DEMO_UPDATES updates it reruns the whole app, whose fragment is then declared
with run_every=None: that is how polling stops in Streamlit 1.67 (a full run clears the
page's auto-rerun timers, and no new one is sent).
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from optlab.ui.charts.live_chart import decimate, live_chart

UPDATES = int(os.environ.get("LIVE_CHART_DEMO_UPDATES", "60"))
POINTS_PER_UPDATE = int(os.environ.get("LIVE_CHART_DEMO_POINTS", "60"))
INTERVAL = float(os.environ.get("LIVE_CHART_DEMO_INTERVAL", "0.2"))
RUNS = 6

st.session_state.setdefault("updates", 0)
done = st.session_state.updates >= UPDATES


def figure(n_points: int) -> dict:
    """A contour of a bowl plus RUNS spirals of n_points points each."""
    grid = np.linspace(-3.0, 3.0, 80)
    gx, gy = np.meshgrid(grid, grid)
    contour = {
        "type": "contour",
        "x": grid,
        "y": grid,
        "z": np.log1p(gx**2 + 3 * gy**2),
        "showscale": False,
        "colorscale": "Viridis",
    }
    t = np.arange(n_points) * 0.01
    traces = [contour]
    for run in range(RUNS):
        radius = 2.8 * np.exp(-t / (2 + run))
        xs, ys = decimate(radius * np.cos(t + run), radius * np.sin(t + run), max_points=2000)
        traces.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": f"run {run}"})
    layout = {
        "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "xaxis": {"range": [-3, 3]},
        "yaxis": {"range": [-3, 3]},
    }
    return {"data": traces, "layout": layout}


@st.fragment(run_every=None if done else INTERVAL)
def chart() -> None:
    if st.session_state.updates < UPDATES:
        st.session_state.updates += 1
    n = st.session_state.updates
    clicked = live_chart(
        figure(n * POINTS_PER_UPDATE), key="demo", height=400, static_traces=[0], on_click=True
    )
    if clicked is not None:
        st.session_state.clicked = clicked
    st.write(f"updates: {n}" + (" (done)" if n >= UPDATES else ""))
    if "clicked" in st.session_state:
        c = st.session_state.clicked
        st.write(f"clicked at x={c['x']:.2f}, y={c['y']:.2f}")
    if n >= UPDATES and not done:
        st.rerun(scope="app")


chart()
