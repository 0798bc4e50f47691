"""The (lr, momentum) map of a sweep (issue 10): steps to threshold as a heat map, with
the analytic stability boundary lr·λ_max = 2 + 2β of heavy-ball momentum on a quadratic
and, on the quadratic problem, Distill's optimal (lr, momentum) ("Why Momentum Really
Works"): lr* = (2 / (√λmin + √λmax))², β* = ((√κ − 1) / (√κ + 1))².  λ comes from the
surface's Hessian at its minimum, by torch autograd.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go


def hessian_eigenvalues(problem: Any, at: tuple[float, float]) -> tuple[float, float]:
    """(λ_min, λ_max) of the surface's Hessian at ``at``, by torch autograd."""
    import torch

    def f(p: torch.Tensor) -> torch.Tensor:
        return problem.value(p[0], p[1])

    point = torch.tensor(at, dtype=torch.float64)
    hess = torch.autograd.functional.hessian(f, point)
    eig = torch.linalg.eigvalsh(hess)
    return float(eig[0]), float(eig[-1])


def optimal_momentum(lam_min: float, lam_max: float) -> tuple[float, float]:
    """Distill's optimal (lr, momentum) for a quadratic with these extreme eigenvalues."""
    kappa = lam_max / lam_min
    lr = (2.0 / (math.sqrt(lam_min) + math.sqrt(lam_max))) ** 2
    beta = ((math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)) ** 2
    return lr, beta


def lr_momentum_map(
    result: dict[str, Any],
    lr_axis: str = "optimizer.lr",
    momentum_axis: str = "optimizer.momentum",
    eigenvalues: tuple[float, float] | None = None,
    optimal: bool = False,
) -> go.Figure:
    """Steps to threshold over (lr, momentum), with lr·λ_max = 2 + 2β and the optimum."""
    trials = [
        t
        for t in result["trials"]
        if isinstance(t["values"].get(lr_axis), int | float)
        and isinstance(t["values"].get(momentum_axis), int | float)
    ]
    lrs = sorted({float(t["values"][lr_axis]) for t in trials})
    moms = sorted({float(t["values"][momentum_axis]) for t in trials})
    z = np.full((len(moms), len(lrs)), np.nan)
    status = [["" for _ in lrs] for _ in moms]
    col = {v: i for i, v in enumerate(lrs)}
    row = {v: i for i, v in enumerate(moms)}
    for t in trials:
        i, j = row[float(t["values"][momentum_axis])], col[float(t["values"][lr_axis])]
        steps = t.get("steps_to_threshold")
        z[i, j] = np.nan if steps is None else steps
        status[i][j] = t["status"] if steps is not None or t["status"] != "finished" else "slow"
    fig = go.Figure()
    fig.add_heatmap(
        x=lrs,
        y=moms,
        z=z,
        customdata=status,
        colorscale="Viridis_r",
        colorbar={"title": "steps to threshold"},
        hovertemplate="lr=%{x:.4g}<br>momentum=%{y:.3f}<br>steps=%{z}<br>%{customdata}"
        "<extra></extra>",
        name="steps to threshold",
    )
    if eigenvalues is not None:
        lam_min, lam_max = eigenvalues
        top = max(moms) if moms else 0.99
        betas = np.linspace(0.0, max(top, 0.0), 60)
        fig.add_scatter(
            x=(2.0 + 2.0 * betas) / lam_max,
            y=betas,
            mode="lines",
            line={"color": "red", "width": 3, "dash": "dash"},
            name="stability boundary lr·λmax = 2 + 2β",
        )
        if optimal:
            lr_opt, beta_opt = optimal_momentum(lam_min, lam_max)
            fig.add_scatter(
                x=[lr_opt],
                y=[beta_opt],
                mode="markers",
                marker={"symbol": "star", "size": 18, "color": "white", "line": {"width": 2}},
                name=f"optimal lr={lr_opt:.3g}, momentum={beta_opt:.3f}",
            )
    fig.update_layout(
        title="(lr, momentum) map: steps to threshold",
        xaxis={"title": lr_axis, "type": "log", "range": _log_range(lrs)},
        yaxis={"title": momentum_axis, "range": [min(moms, default=0.0), max(moms, default=1.0)]},
        height=460,
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        uirevision="sweep",
    )
    return fig


def _log_range(values: list[float]) -> list[float] | None:
    pos = [v for v in values if v > 0]
    if not pos:
        return None
    return [math.log10(min(pos)), math.log10(max(pos))]
