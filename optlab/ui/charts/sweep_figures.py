"""Figures of a sweep's result JSON (issue 10), redrawn as trials come in.

Each builder takes ``Store.sweep_result``'s dict (trials finished so far) and returns a
Plotly figure or table rows: LR sensitivity, the basin-of-attraction map, seed bands
for models and the equal-budget table (the (lr, momentum) map is in
:mod:`optlab.ui.charts.momentum_map`).  Figures are drawn in the light look of
:mod:`optlab.ui.theme` (run ``k`` of the spec in ``theme.run_color(k)``, as on the other
pages) so that ``themes.apply`` re-themes them like every other chart.  Nothing here
imports streamlit.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from optlab.ui import theme

START = "problem.start"
#: a known minimum's marker: dark ink ringed in white (``themes`` swaps both on dark)
STAR: dict[str, Any] = {
    "symbol": "star",
    "color": "#111",
    "line": {"color": "#ffffff", "width": 1.5},
}
#: legend right of the plot, out of the title's way
SIDE_LEGEND = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}
MINIMA_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
NO_MINIMUM = "#bbbbbb"


def labels(result: dict[str, Any]) -> list[str]:
    return [r["label"] for r in result["spec"]["runs"]]


def axes(result: dict[str, Any]) -> dict[str, Any]:
    return dict((result["spec"].get("sweep") or {}).get("axes") or {})


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def metric(trial: dict[str, Any], name: str) -> float | None:
    if name == "steps_to_threshold":
        v = trial.get("steps_to_threshold")
        return float(v) if v is not None else None
    return _finite(trial.get(name))


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the pace so far (None before the first trial)."""
    if done <= 0 or elapsed <= 0 or total <= done:
        return None if total > done else 0.0
    return elapsed / done * (total - done)


def look(fig: go.Figure, **layout: Any) -> go.Figure:
    """``fig`` in the shared light look (``theme.base_layout``) on every subplot's axes,
    then ``layout`` on top."""
    base = theme.base_layout()
    axis = {k: v for k, v in base.pop("xaxis").items() if k != "title"}
    base.pop("yaxis")
    fig.update_layout(base)
    fig.update_xaxes(axis)
    fig.update_yaxes(axis)
    fig.update_layout(**layout)
    return fig


# --------------------------------------------------------------------------- LR sensitivity


def lr_sensitivity(result: dict[str, Any], axis: str, name: str = "final_loss") -> go.Figure:
    """The metric against the swept value per optimizer: median, min–max band, diverged ✕."""
    fig = go.Figure()
    form = axes(result).get(axis)
    ceiling = max((m for t in result["trials"] if (m := metric(t, name)) is not None), default=1.0)
    for k, label in enumerate(labels(result)):
        color = theme.run_color(k)
        by_x: dict[float, list[float]] = defaultdict(list)
        diverged: list[tuple[float, Any]] = []
        for t in result["trials"]:
            x = t["values"].get(axis)
            if t["run"] != label or t.get("phase") == "rerun" or not isinstance(x, int | float):
                continue
            if t["status"] == "diverged":
                diverged.append((float(x), t["diverged_at"]))
            elif (m := metric(t, name)) is not None:
                by_x[float(x)].append(m)
        xs = sorted(by_x)
        stats = [np.percentile(by_x[x], [0, 50, 100]) for x in xs]
        if xs:
            fig.add_scatter(
                x=xs + xs[::-1],
                y=[s[2] for s in stats] + [s[0] for s in stats][::-1],
                fill="toself",
                mode="none",  # no vertex markers in Plotly's default colours
                fillcolor=theme.rgba(color, 0.18),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                name=f"{label} min–max",
            )
            fig.add_scatter(
                x=xs,
                y=[s[1] for s in stats],
                mode="lines+markers",
                line={"color": color, "width": 2.5},
                marker={"color": color, "size": 7},
                name=f"{label} (median)",
                customdata=[[len(by_x[x])] for x in xs],
                hovertemplate=f"{label}<br>{axis}=%{{x:.4g}}<br>median {name}=%{{y:.4g}}"
                "<br>%{customdata[0]} trials<extra></extra>",
            )
        if diverged:
            fig.add_scatter(
                x=[d[0] for d in diverged],
                y=[ceiling] * len(diverged),
                mode="markers",
                marker={"symbol": "x", "size": 10, "color": color},
                name=f"{label} diverged",
                customdata=[[d[1]] for d in diverged],
                hovertemplate=f"{label}<br>{axis}=%{{x:.4g}}<br>diverged at step "
                "%{customdata[0]}<extra></extra>",
            )
    log_x = isinstance(form, dict) and "log" in form
    return look(
        fig,
        title=f"{name} vs {axis}",
        xaxis={"title": {"text": axis}, "type": "log" if log_x else "linear"},
        yaxis={"title": {"text": name}, "type": "log" if name.endswith("loss") else "linear"},
        legend=SIDE_LEGEND,
        height=420,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        uirevision="sweep",
    )


# --------------------------------------------------------------------------- basin map


def nearest_minimum(
    point: list[float] | None, minima: list[tuple[float, float]], tol: float = 0.1
) -> int | None:
    """Index of the known minimum within ``tol`` of ``point`` (None: none reached)."""
    if not point or any(v is None for v in point):
        return None
    best, where = tol, None
    for i, (mx, my) in enumerate(minima):
        d = math.hypot(point[0] - mx, point[1] - my)
        if d <= best:
            best, where = d, i
    return where


def basin_map(
    result: dict[str, Any],
    color_by: str = "minimum",
    minima: list[tuple[float, float]] | None = None,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> go.Figure:
    """The start grid, one panel per optimizer, coloured by ``minimum`` reached,
    ``steps_to_threshold`` or ``final_loss``; a marker's ``customdata[0]`` is its trial index."""
    names = labels(result)
    minima = minima or []
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True)
    grid = axes(result).get(START) or {}
    nx = (grid.get("num") or [20, 20])[0] if isinstance(grid, dict) else 20
    size = max(4, min(28, int(360 / max(1, nx))))
    for k, label in enumerate(names):
        mine = [
            t
            for t in result["trials"]
            if t["run"] == label and isinstance(t["values"].get(START), list)
        ]
        xs = [t["values"][START][0] for t in mine]
        ys = [t["values"][START][1] for t in mine]
        text = [_hover(t, minima) for t in mine]
        marker: dict[str, Any] = {"symbol": "square", "size": size, "line": {"width": 0}}
        if color_by == "minimum":
            idx = [nearest_minimum(t.get("final_params"), minima) for t in mine]
            marker["color"] = [
                NO_MINIMUM if i is None else MINIMA_COLORS[i % len(MINIMA_COLORS)] for i in idx
            ]
        else:
            vals = [metric(t, color_by) for t in mine]
            z = [np.nan if v is None else v for v in vals]
            if color_by == "final_loss":
                z = [np.log10(max(v, 1e-300)) if v == v else np.nan for v in z]
            marker.update(
                color=z,
                colorscale="Viridis",
                showscale=k == len(names) - 1,
                colorbar={"title": "log10 loss" if color_by == "final_loss" else "steps"},
            )
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker=marker,
            customdata=[[t["index"]] for t in mine],
            text=text,
            hovertemplate="%{text}<extra></extra>",
            name=label,
            showlegend=False,
            row=1,
            col=k + 1,
        )
        for i, (mx, my) in enumerate(minima):
            fig.add_scatter(
                x=[mx],
                y=[my],
                mode="markers",
                marker={**STAR, "size": 14},
                name=f"minimum {i + 1}",
                hovertemplate=f"minimum {i + 1}: ({mx:.3f}, {my:.3f})<extra></extra>",
                showlegend=False,
                row=1,
                col=k + 1,
            )
    look(
        fig,
        title=f"Basins of attraction: start points coloured by {color_by.replace('_', ' ')}",
        height=420,
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        clickmode="event+select",
        uirevision="sweep",
    )
    if bounds is not None:
        fig.update_xaxes(range=list(bounds[0]))
        fig.update_yaxes(range=list(bounds[1]))
    return fig


def _hover(t: dict[str, Any], minima: list[tuple[float, float]]) -> str:
    x, y = t["values"][START]
    parts = [f"{t['run']} from ({x:.3g}, {y:.3g})", f"status: {t['status']}"]
    if t.get("final_loss") is not None:
        parts.append(f"final loss: {t['final_loss']:.4g}")
    if t.get("steps_to_threshold") is not None:
        parts.append(f"steps to threshold: {t['steps_to_threshold']}")
    if t.get("diverged_at") is not None:
        parts.append(f"diverged at step {t['diverged_at']}")
    reached = nearest_minimum(t.get("final_params"), minima)
    if reached is not None:
        parts.append(f"reached minimum {reached + 1}")
    parts.append("click: open this run")
    return "<br>".join(parts)


# --------------------------------------------------------------------------- models


def _config(t: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in t["values"].items() if k != "seed"}, sort_keys=True)


def band_trials(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """The trials of ``label`` whose spread over seeds is shown: tune's re-runs, else the
    seeds of its best configuration, else all of them."""
    mine = [t for t in result["trials"] if t["run"] == label and t.get("epochs")]
    reruns = [t for t in mine if t.get("phase") == "rerun"]
    if reruns:
        return reruns
    best = (result.get("summary", {}).get(label) or {}).get("best")
    if best is not None:
        key = json.dumps({k: v for k, v in best["values"].items() if k != "seed"}, sort_keys=True)
        same = [t for t in mine if _config(t) == key]
        if same:
            return same
    return mine


def seed_bands(result: dict[str, Any], name: str = "val_loss") -> go.Figure:
    """Per optimizer, the per-epoch ``name`` (``val_loss``, ``train_loss``, ``val_acc``) as
    median with a min–max band over seeds."""
    fig = go.Figure()
    for k, label in enumerate(labels(result)):
        color = theme.run_color(k)
        runs = band_trials(result, label)
        curves: dict[int, list[float]] = defaultdict(list)
        for t in runs:
            for e in t["epochs"]:
                v = _finite(e.get(name))
                if v is not None:
                    curves[int(e["epoch"])].append(v)
        xs = sorted(curves)
        if not xs:
            continue
        lo = [min(curves[x]) for x in xs]
        hi = [max(curves[x]) for x in xs]
        med = [float(np.median(curves[x])) for x in xs]
        fig.add_scatter(
            x=xs + xs[::-1],
            y=hi + lo[::-1],
            fill="toself",
            mode="none",  # no vertex markers in Plotly's default colours
            fillcolor=theme.rgba(color, 0.2),
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
        )
        fig.add_scatter(
            x=xs,
            y=med,
            mode="lines+markers",
            line={"color": color, "width": 2.5},
            marker={"color": color, "size": 7},
            name=f"{label} (median of {len(runs)})",
        )
    return look(
        fig,
        title=f"{name} per epoch: median and min–max over seeds",
        xaxis={"title": {"text": "epoch"}},
        yaxis={"title": {"text": name}},
        legend=SIDE_LEGEND,
        height=400,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        uirevision="sweep",
    )


def epochs_to_target(epochs: list[dict[str, Any]], name: str, target: float) -> int | None:
    """The first epoch whose ``name`` reaches ``target`` (at or above it for accuracy, at
    or below it for a loss); None if none does."""
    higher = name.endswith("acc")
    for e in epochs:
        v = _finite(e.get(name))
        if v is not None and (v >= target if higher else v <= target):
            return int(e["epoch"])
    return None


def budget_rows(
    result: dict[str, Any], target: tuple[str, float] | None = None
) -> list[dict[str, Any]]:
    """The equal-budget table: per optimizer its best configuration, the seed spread and
    steps (surfaces) or epochs (models, over the re-run seeds: ``target`` = (metric,
    level), else val loss at the sweep's threshold) to reach the target."""
    threshold = (result["spec"].get("sweep") or {}).get("threshold")
    if target is None and threshold is not None:
        target = ("val_loss", float(threshold))
    rows = []
    for label, entry in (result.get("summary") or {}).items():
        best = entry.get("best") or {}
        rerun = entry.get("rerun") or {}
        iqr = rerun.get("iqr")
        row = {
            "optimizer": label,
            "trials": entry.get("trials"),
            "diverged": entry.get("diverged"),
            "best configuration": json.dumps(best.get("values")) if best else "—",
            "best final loss": best.get("final_loss"),
            "best val acc": best.get("val_acc"),
            "steps to threshold": best.get("steps_to_threshold"),
            "re-run median": rerun.get("median"),
            "re-run min": rerun.get("min"),
            "re-run max": rerun.get("max"),
            "re-run IQR": f"{iqr[0]:.4g} – {iqr[1]:.4g}" if iqr else None,
        }
        seeds = [t for t in band_trials(result, label) if t.get("epochs")]
        if seeds and target is not None:
            reach = [epochs_to_target(t["epochs"], *target) for t in seeds]
            got = [r for r in reach if r is not None]
            row["steps to threshold"] = None
            row[f"epochs to {target[0]} {'≥' if target[0].endswith('acc') else '≤'} "
                f"{target[1]:g}"] = (
                f"{float(np.median(got)):g} (reached by {len(got)} of {len(reach)} seeds)"
                if got else f"not reached ({len(reach)} seeds)"
            )  # fmt: skip
        rows.append(row)
    return rows
