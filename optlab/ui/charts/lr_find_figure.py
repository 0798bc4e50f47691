"""The LR range test's plot: loss and smoothed loss against lr (log x), suggestions marked."""

from __future__ import annotations

import math
from typing import Any

from optlab.ui import theme

#: the suggestions in the order the finder offers them, with their colours
SUGGESTIONS = {"minimum": "#1f77b4", "steep": "#2ca02c", "valley": "#d62728"}


def lr_find_figure(result: dict[str, Any]) -> dict[str, Any]:
    """One run's ``lr-find`` result (``lrs``, ``losses``, ``smoothed``, ``suggestions``)."""
    lrs = result["lrs"]
    losses = [math.nan if v is None else v for v in result["losses"]]
    smoothed = [math.nan if v is None else v for v in result["smoothed"]]
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": lrs,
            "y": losses,
            "line": {"color": "#9a9a9a", "width": 1.5},
            "name": "loss",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": lrs,
            "y": smoothed,
            "line": {"color": theme.run_color(0), "width": 3},
            "name": "smoothed",
        },
    ]
    finite = [v for v in smoothed + losses if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    for key, color in SUGGESTIONS.items():
        lr = (result.get("suggestions") or {}).get(key)
        if lr is None:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [lr, lr],
                "y": [lo, hi],
                "line": {"color": color, "width": 2, "dash": "dash"},
                "name": f"{key}: {lr:.3g}",
                "hovertemplate": f"{key}: lr = {lr:.4g}<extra></extra>",
            }
        )
    layout = theme.base_layout(xaxis_title="learning rate", yaxis_title="loss")
    layout["xaxis"]["type"] = "log"
    layout["xaxis"]["exponentformat"] = "power"
    layout["margin"] = {**layout["margin"], "t": 30}
    return {"data": traces, "layout": layout}
