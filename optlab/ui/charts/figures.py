"""Plotly figure builders (plain dicts): contour + trajectories, loss, lr, epoch metrics.

Dicts, not ``go.Figure``: a live update rebuilds every figure 5× a second and
plotly's validation would cost more than the drawing.  Every builder takes
:class:`~optlab.ui.charts.series.RunSeries` lists, colours runs by ``theme.run_color`` and
bounds each trace with ``decimate`` so an update stays small.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.ui import theme
from optlab.ui.charts import contour_image
from optlab.ui.charts.live_chart import decimate
from optlab.ui.charts.series import RunSeries

MAX_POINTS = 2000
#: points per trace while a run streams (half the drawing work of each live update)
LIVE_POINTS = 1000
#: static traces of the contour figure (sent once per browser session)
CONTOUR_STATIC = [0, 1, 2]


def contour_base(
    problem: Any,
) -> tuple[list[dict[str, Any]], tuple[tuple[float, float], ...]]:
    """The surface's image, colour bar and minima traces, and its plot box."""
    image, colorbar = contour_image.traces(problem.name, problem.params.model_dump_json())
    minima = problem.minima()
    minima_trace = {
        "type": "scatter",
        "mode": "markers",
        "x": [m[0] for m in minima],
        "y": [m[1] for m in minima],
        "marker": {
            "symbol": "star",
            "size": 22,
            "color": "#FFD700",
            "line": {"color": "#222", "width": 1.5},
        },
        "name": "minimum",
        "hovertemplate": "minimum (%{x:.3g}, %{y:.3g})<extra></extra>",
        "showlegend": bool(minima),
    }
    return [image, colorbar, minima_trace], problem.bounds


def contour_figure(
    problem: Any,
    runs: list[RunSeries],
    *,
    start: tuple[float, float] | None = None,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """Contour with each run's path, its current point and the known minima.

    Optimizers with train/eval modes (Schedule-Free, SPlus) also get their averaged point's
    path, dashed in the run's colour ("… (averaged)").  Traces 0–2 are static.
    """
    static, ((x0, x1), (y0, y1)) = contour_base(problem)
    traces: list[dict[str, Any]] = list(static)
    if start is not None:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [start[0]],
                "y": [start[1]],
                "marker": {"symbol": "x-thin", "size": 16, "line": {"width": 3, "color": "#111"}},
                "name": "start",
                "hovertemplate": "start (%{x:.3g}, %{y:.3g})<extra></extra>",
            }
        )
    for run in runs:
        pts = run.path()
        color = theme.run_color(run.color_at)
        xs, ys = decimate(pts[:, 0], pts[:, 1], max_points) if len(pts) else ([], [])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "line": {"color": color, "width": 3},
                "name": run.label,
                "legendgroup": run.label,
                "hovertemplate": f"{run.label}<br>(%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
            }
        )
        averaged = run.eval_path()
        if len(averaged):
            xs, ys = decimate(averaged[:, 0], averaged[:, 1], max_points)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": xs,
                    "y": ys,
                    "line": {"color": color, "width": 2.5, "dash": "dash"},
                    "name": f"{run.label} (averaged)",
                    "legendgroup": run.label,
                    "hovertemplate": f"{run.label} averaged point<br>(%{{x:.4g}}, %{{y:.4g}})"
                    "<extra></extra>",
                }
            )
        last = pts[-1:] if len(pts) else np.zeros((0, 2))
        symbol = "x" if run.status == "diverged" else "circle"
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": last[:, 0],
                "y": last[:, 1],
                "marker": {
                    "size": 15,
                    "color": color,
                    "symbol": symbol,
                    "line": {"color": "#ffffff", "width": 2},
                },
                "name": f"{run.label} now",
                "legendgroup": run.label,
                "showlegend": False,
                "hovertemplate": f"{run.label}: %{{x:.4g}}, %{{y:.4g}}<extra></extra>",
            }
        )
    layout = theme.base_layout(xaxis_title="x", yaxis_title="y")
    layout["xaxis"].update(range=[x0, x1], constrain="domain")
    layout["yaxis"].update(range=[y0, y1], autorange=False)
    layout["margin"] = {"l": 60, "r": 10, "t": 40, "b": 50}
    layout["dragmode"] = "zoom"
    return {"data": traces, "layout": layout}


def log_ticks(axis: dict[str, Any], values: np.ndarray) -> None:
    """Readable log-axis labels: one per decade over a wide range, else 1-2-5 in plain
    numbers (plotly's default then labels every digit without its decade)."""
    finite = values[np.isfinite(values) & (values > 0)]
    if not finite.size:
        return
    decades = float(np.log10(finite.max() / finite.min()))
    if decades >= 2:
        axis.update(dtick=1, exponentformat="power")
    else:
        axis.update(dtick="D2", tickformat=".2g")


def _positive(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size) and bool((finite > 0).all())


def loss_figure(runs: list[RunSeries], *, max_points: int = MAX_POINTS) -> dict[str, Any]:
    """Loss vs step, log-scaled when every loss is positive."""
    traces = []
    all_loss = [r.loss for r in runs if r.n]
    log_y = _positive(np.concatenate(all_loss)) if all_loss else True
    for run in runs:
        xs, ys = decimate(run.step, run.loss, max_points) if run.n else ([], [])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "line": {"color": theme.run_color(run.color_at), "width": 2.5},
                "name": run.label,
                "hovertemplate": f"{run.label}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
            }
        )
    layout = theme.base_layout(xaxis_title="step", yaxis_title="loss", log_y=log_y)
    if log_y and all_loss:
        log_ticks(layout["yaxis"], np.concatenate(all_loss))
    return {"data": traces, "layout": layout}


def change_points(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points where a piecewise-constant series changes (plus the last one).

    Drawn with ``line.shape = "hv"`` this is exact, and a constant learning rate costs
    two points instead of thousands in every live update.
    """
    xs, ys = np.asarray(xs), np.asarray(ys, dtype=np.float64)
    if ys.size < 3:
        return xs, ys
    same = (ys[1:] == ys[:-1]) | (np.isnan(ys[1:]) & np.isnan(ys[:-1]))
    keep = np.concatenate([[True], ~same])
    keep[-1] = True
    return xs[keep], ys[keep]


def lr_figure(runs: list[RunSeries], *, max_points: int = MAX_POINTS) -> dict[str, Any]:
    """Learning rate vs step: one line per parameter group, dashed by group.

    Beside it, dashed and thinner, the lr the optimizer really applied ("… (effective)")
    where it scales the group lr itself (D-Adaptation, Prodigy, Schedule-Free warm-up,
    Ranger21's schedule).
    """
    traces = []
    multi = any(r.lr.shape[1] > 1 for r in runs if r.lr.ndim == 2)
    for run in runs:
        if run.lr.ndim != 2:
            continue
        color = theme.run_color(run.color_at)
        effective = run.effective_lr
        for g in range(run.lr.shape[1]):
            group = run.groups[g] if g < len(run.groups) else f"group {g}"
            name = f"{run.label} · {group}" if multi else run.label
            dash = theme.GROUP_DASHES[g % len(theme.GROUP_DASHES)]
            xs, ys = decimate(*change_points(run.step, run.lr[:, g]), max_points)
            traces.append(_lr_trace(xs, ys, name, color, 2.5, dash))
            if effective is not None and g < effective.shape[1]:
                xs, ys = decimate(*change_points(run.step, effective[:, g]), max_points)
                dash = "dot" if dash == "dash" else "dash"
                traces.append(_lr_trace(xs, ys, f"{name} (effective)", color, 2.0, dash))
    values = [r.lr[np.isfinite(r.lr)] for r in runs if r.lr.size]
    values += [e[np.isfinite(e)] for r in runs if (e := r.effective_lr) is not None and e.size]
    flat = np.concatenate(values) if values else np.zeros(0)
    log_y = _positive(flat) and float(flat.max()) / float(flat.min()) > 20
    layout = theme.base_layout(xaxis_title="step", yaxis_title="learning rate", log_y=log_y)
    layout["yaxis"]["exponentformat"] = "power" if log_y else "e"
    if log_y:
        log_ticks(layout["yaxis"], flat)
    if flat.size and float(np.nanmax(flat)) == float(np.nanmin(flat)):
        value = float(flat[0])  # one constant lr: plotly would centre it in [v-1, v+1]
        layout["yaxis"]["range"] = [0.0, 1.5 * value] if value > 0 else [-1.0, 1.0]
    return {"data": traces, "layout": layout}


def _lr_trace(
    xs: np.ndarray, ys: np.ndarray, name: str, color: str, width: float, dash: str
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": xs,
        "y": ys,
        "line": {"color": color, "width": width, "dash": dash, "shape": "hv"},
        "name": name,
        "hovertemplate": f"{name}<br>step %{{x}}: lr %{{y:.4g}}<extra></extra>",
    }


def epoch_figure(runs: list[RunSeries], metric: str) -> dict[str, Any]:
    """Per-epoch curves: ``loss`` (train solid, validation dotted) or ``val_acc``."""
    traces = []
    for run in runs:
        color = theme.run_color(run.color_at)
        epochs = [e["epoch"] for e in run.epochs]
        keys: tuple[tuple[str, str, str], ...] = (
            ("train_loss", "train", "solid"),
            ("val_loss", "validation", "dot"),
        )
        if metric == "val_acc":
            keys = (("val_acc", "validation", "solid"),)
        for i, (key, what, dash) in enumerate(keys):
            values = [e.get(key) for e in run.epochs]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": epochs,
                    "y": [np.nan if v is None else v for v in values],
                    "line": {"color": color, "width": 3, "dash": dash},
                    "marker": {"size": 10, "symbol": "circle" if i == 0 else "circle-open"},
                    "name": run.label,
                    "legendgroup": run.label,
                    "showlegend": i == 0,
                    "hovertemplate": f"{run.label} {what}<br>epoch %{{x}}: %{{y:.4g}}"
                    "<extra></extra>",
                }
            )
    title = "validation accuracy" if metric == "val_acc" else "loss (train —, val ···)"
    layout = theme.base_layout(xaxis_title="epoch", yaxis_title=title)
    if max((len(r.epochs) for r in runs), default=0) <= 12:
        layout["xaxis"]["dtick"] = 1
    if metric == "val_acc":
        layout["yaxis"]["tickformat"] = ".0%"
    return {"data": traces, "layout": layout}


def schedule_figure(
    curves: list[dict[str, Any]], *, height_title: str = "learning rate"
) -> dict[str, Any]:
    """Overlaid lr curves of a schedule preview: ``[{label, groups, lr}]`` per run."""
    traces = []
    multi = any(len(c.get("groups") or []) > 1 for c in curves)
    for i, curve in enumerate(curves):
        lr = np.array(
            [[np.nan if v is None else v for v in row] for row in curve["lr"]], dtype=np.float64
        ).reshape(len(curve["lr"]), -1)
        for g in range(lr.shape[1]):
            groups = curve.get("groups") or []
            group = groups[g] if g < len(groups) else f"group {g}"
            name = f"{curve['label']} · {group}" if multi else curve["label"]
            steps = np.arange(lr.shape[0])
            xs, ys = decimate(steps, lr[:, g], MAX_POINTS)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": xs,
                    "y": ys,
                    "line": {
                        "color": theme.run_color(i),
                        "width": 3,
                        "dash": theme.GROUP_DASHES[g % len(theme.GROUP_DASHES)],
                        "shape": "hv",
                    },
                    "name": name,
                }
            )
    layout = theme.base_layout(xaxis_title="step", yaxis_title=height_title)
    layout["yaxis"].update(exponentformat="e", rangemode="tozero")
    return {"data": traces, "layout": layout}
