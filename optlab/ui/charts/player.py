"""Pace control for the contour: the data the browser-side player animates.

The player (``player.js``, loaded with ``live_chart.js``) plays the trajectories at
a human pace without any Streamlit rerun: Python sends, once per update, each run's
decimated ``step``, ``x``, ``y``, ``loss`` and ``lr`` arrays and the indices of the
run's path and current-point traces.  While it follows the newest step, Plotly's own
traces show the paths; once the user plays or steps, the JS empties those traces and
draws the paths up to the shown step on a canvas over the plot area (one Plotly
redraw per frame would cost ~80 ms with the contour image; the canvas ~1 ms).  It
shows the step counter and each run's loss and lr there, and
broadcasts the step (a ``optlab:step`` window event) so the sibling charts of the
same ``group`` draw a cursor.  Keyboard: space, ← →, Home, End.

Speeds are multiples of :data:`LECTURE_PACE` (steps per second at 1×): a 1,000-step
run takes about 10 s at 1×.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.ui import theme
from optlab.ui.charts.series import RunSeries
from optlab.ui.charts.step_vectors import step_payload

#: steps per second at speed 1× ("lecture pace": 1,000 steps in about 10 s)
LECTURE_PACE = 100.0
SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


def stride_index(n: int, max_points: int) -> np.ndarray:
    """The indices :func:`~optlab.ui.charts.live_chart.decimate` keeps (power-of-two stride)."""
    if n <= max_points:
        return np.arange(n)
    stride = 1
    while -(-(n - 1) // stride) + 1 > max_points:
        stride *= 2
    return np.append(np.arange(0, n - 1, stride), n - 1)


def _trace_index(traces: list[dict[str, Any]], name: str, mode: str) -> int | None:
    for i, t in enumerate(traces):
        if t.get("name") == name and t.get("mode") == mode:
            return i
    return None


def _run_arrays(run: RunSeries, max_points: int) -> dict[str, np.ndarray]:
    params = run.params if run.params is not None else np.zeros((0, 2))
    n = min(run.n, params.shape[0])
    step = run.step[:n].astype(np.float64)
    xy = params[:n]
    loss = run.loss[:n].astype(np.float64)
    has_lr = run.lr.ndim == 2 and run.lr.shape[1] > 0
    lr = run.lr[:n, 0].astype(np.float64) if has_lr else np.full(n, np.nan)
    if n and not run.active and run.final_params is not None:  # final point
        step = np.append(step, step[-1] + 1)
        xy = np.vstack([xy, np.asarray(run.final_params, dtype=np.float64)[None, :]])
        fl = np.nan if run.final_loss is None else float(run.final_loss)
        loss = np.append(loss, fl)
        lr = np.append(lr, lr[-1])
    idx = stride_index(len(step), max_points)
    return {"step": step[idx], "x": xy[idx, 0], "y": xy[idx, 1], "loss": loss[idx], "lr": lr[idx]}


def build_player(
    figure: dict[str, Any],
    runs: list[RunSeries],
    *,
    ident: str,
    group: str,
    live: bool,
    max_points: int,
    autoplay: bool = False,
    total: int | None = None,
    run_specs: list[Any] | None = None,
) -> dict[str, Any] | None:
    """The ``player`` part of a contour chart's payload (``figure`` is left as it is).

    ``ident`` names the experiment (the player starts afresh when it changes);
    ``autoplay`` starts playing from step 0 at lecture pace, else the player follows
    the newest step until the user presses a key or a button.  ``run_specs`` (the spec's
    runs) let runs with ``record_state`` carry their arrows and step inspector.
    """
    traces = figure.get("data") or []
    out = []
    for run in runs:
        line = _trace_index(traces, run.label, "lines")
        marker = _trace_index(traces, f"{run.label} now", "markers")
        if line is None or run.params is None:
            continue
        arrays = _run_arrays(run, max_points)
        color = (traces[line].get("line") or {}).get("color", "#444")
        spec = run_specs[run.index] if run_specs and run.index < len(run_specs) else None
        extra = step_payload(run, spec, arrays["step"])
        out.append(
            {"label": run.label, "color": color, "line": line, "marker": marker, **arrays, **extra}
        )
    return _payload(out, ident=ident, group=group, live=live, autoplay=autoplay, total=total)


def build_step_player(
    runs: list[RunSeries],
    *,
    ident: str,
    group: str,
    live: bool,
    max_points: int,
    total: int | None = None,
) -> dict[str, Any] | None:
    """A player without paths (model runs): it plays the recorded steps, shows each run's
    loss and lr at the shown step and moves the cursor of the charts of ``group``."""
    out = []
    for run in runs:
        if run.n == 0:
            continue
        has_lr = run.lr.ndim == 2 and run.lr.shape[1] > 0 and run.lr.shape[0] >= run.n
        lr = run.lr[: run.n, 0].astype(np.float64) if has_lr else np.full(run.n, np.nan)
        idx = stride_index(run.n, max_points)
        out.append(
            {
                "label": run.label,
                "color": theme.run_color(run.color_at),
                "line": None,
                "marker": None,
                "step": run.step[: run.n].astype(np.float64)[idx],
                "x": np.zeros(0),
                "y": np.zeros(0),
                "loss": run.loss.astype(np.float64)[idx],
                "lr": lr[idx],
            }
        )
    return _payload(out, ident=ident, group=group, live=live, total=total, paths=False)


def _payload(
    runs: list[dict[str, Any]],
    *,
    ident: str,
    group: str,
    live: bool,
    total: int | None,
    autoplay: bool = False,
    paths: bool = True,
) -> dict[str, Any] | None:
    """What player.js reads: the runs' arrays and how to play them (None: no run to play);
    ``paths=False`` plays the steps without drawing paths (no contour)."""
    if not runs:
        return None
    return {
        "id": ident,
        "group": group,
        "live": bool(live),
        "autoplay": bool(autoplay),
        "paths": bool(paths),
        "pace": LECTURE_PACE,
        "speeds": list(SPEEDS),
        "total": total,
        "runs": runs,
    }


def steps_per_epoch(runs: list[RunSeries], epochs: int) -> float | None:
    """Updates per epoch (to place a step cursor on a per-epoch chart): known once a run
    has finished every epoch (the store keeps no batch count); None before."""
    for run in runs:
        if run.status == "finished" and epochs > 0 and len(run.epochs) == epochs:
            return (run.last_step + 1) / epochs
    return None
