"""Every scheduler's learning-rate curve in one grid, as the seed articles plot them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optlab.catalog import schedulers
from optlab.ui import theme
from optlab.ui.schedule_examples import example

GALLERY_STEPS = 200
GALLERY_LR = 0.1
COLUMNS = 3


#: runs per preview spec (the spec's own limit is OPTLAB_MAX_RUNS, 12 by default)
CHUNK = 8


def gallery_specs(steps: int = GALLERY_STEPS, lr: float = GALLERY_LR) -> list[dict[str, Any]]:
    """One run per scheduler (its example arguments) on a cheap surface, a few per spec."""
    runs = [
        {
            "label": name,
            "optimizer": {"name": "SGD", "lr": lr},
            "scheduler": example(name, steps, lr),
        }
        for name in schedulers.catalogue()
    ]
    return [
        {
            "name": "Every scheduler",
            "problem": {"name": "quadratic"},
            "steps": steps,
            "runs": runs[i : i + CHUNK],
        }
        for i in range(0, len(runs), CHUNK)
    ]


def gallery_figure(preview: dict[str, Any]) -> dict[str, Any]:
    """Small multiples: one panel per scheduler, shared step axis, panel titles."""
    from plotly.subplots import make_subplots

    runs = preview["runs"]
    rows = math.ceil(len(runs) / COLUMNS)
    fig = make_subplots(
        rows=rows,
        cols=COLUMNS,
        subplot_titles=[r["label"] for r in runs],
        vertical_spacing=0.32 / rows,
        horizontal_spacing=0.06,
    )
    for i, run in enumerate(runs):
        lr = np.array([[np.nan if v is None else v for v in row] for row in run["lr"]], dtype=float)
        fig.add_scatter(
            x=np.arange(len(lr)),
            y=lr[:, 0] if lr.size else [],
            mode="lines",
            line={"color": theme.run_color(i), "width": 3, "shape": "hv"},
            name=run["label"],
            row=i // COLUMNS + 1,
            col=i % COLUMNS + 1,
            showlegend=False,
            hovertemplate="step %{x}: lr %{y:.4g}<extra></extra>",
        )
    out = fig.to_dict()
    layout = out["layout"]
    base = theme.base_layout(legend=False)
    for key in ("font", "paper_bgcolor", "plot_bgcolor", "hovermode", "hoverlabel"):
        layout[key] = base[key]
    layout["margin"] = {"l": 50, "r": 20, "t": 40, "b": 30}
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            axis.update(
                rangemode="tozero" if name.startswith("yaxis") else "normal",
                showline=True,
                linecolor="#444",
                mirror=True,
                gridcolor="#e6e6e6",
                zeroline=False,
                tickfont={"size": theme.FONT_SIZE - 4},
            )
    for note in layout.get("annotations", []):
        note["font"] = {"size": theme.FONT_SIZE, "family": theme.FONT_FAMILY}
    return out
