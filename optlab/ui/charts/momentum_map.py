"""The (lr, momentum) map of a sweep (issue 10): steps to threshold as a heat map, with
the analytic stability boundary lr·λ_max = 2 + 2β of heavy-ball momentum on a quadratic
and, on the quadratic problem, Distill's optimal (lr, momentum) ("Why Momentum Really
Works"): lr* = (2 / (√λmin + √λmax))², β* = ((√κ − 1) / (√κ + 1))².  λ comes from the
surface's Hessian at its minimum, by torch autograd.  Drawn in the shared light look
(``sweep_figures.look``) so ``themes.apply`` re-themes it; the boundary's red and the
optimum's ringed star stay visible on the heat map and on every theme's background.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from optlab.engine.curvature import sgd_stability_limit
from optlab.ui.charts.sweep_figures import STAR, look

#: the stability boundary: a red that keeps a 3:1 contrast on white and on the dark theme
BOUNDARY_COLOR = "#E8172B"


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
    """Steps to threshold over (lr, momentum), one panel per run (optimizer); SGD panels
    get their stability boundary and (``optimal``) Distill's optimum."""
    trials = [
        t
        for t in result["trials"]
        if isinstance(t["values"].get(lr_axis), int | float)
        and isinstance(t["values"].get(momentum_axis), int | float)
    ]
    names = [r["label"] for r in result["spec"]["runs"]] or ["run"]
    lrs = sorted({float(t["values"][lr_axis]) for t in trials})
    moms = sorted({float(t["values"][momentum_axis]) for t in trials})
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True)
    steps_seen = [s for t in trials if (s := t.get("steps_to_threshold")) is not None]
    zmax = max(steps_seen, default=1)
    for k, label in enumerate(names):
        z, status = _grid([t for t in trials if t["run"] == label], lrs, moms, lr_axis,
                          momentum_axis)  # fmt: skip
        fig.add_heatmap(
            x=lrs,
            y=moms,
            z=z,
            zmin=0,
            zmax=zmax,
            customdata=status,
            colorscale="Viridis_r",
            showscale=k == len(names) - 1,
            colorbar={"title": "steps to threshold"},
            hovertemplate=f"{label}<br>lr=%{{x:.4g}}<br>momentum=%{{y:.3f}}<br>steps=%{{z}}"
            "<br>%{customdata}<extra></extra>",
            name=f"{label}: steps to threshold",
            row=1,
            col=k + 1,
        )
        rule = _sgd_rule(result["spec"]["runs"], k)
        if eigenvalues is not None and rule is not None:  # the boundary is SGD's alone
            _overlays(fig, eigenvalues, moms, optimal, k, rule)
    look(
        fig,
        title="(lr, momentum) map: steps to threshold, one panel per run",
        height=460,
        legend={"orientation": "h", "y": -0.25, "yanchor": "top"},
        margin={"l": 70, "r": 20, "t": 80, "b": 60},
        uirevision="sweep",
    )
    fig.update_xaxes(title=lr_axis, type="log", range=_log_range(lrs))
    fig.update_yaxes(range=[min(moms, default=0.0), max(moms, default=1.0)])
    fig.update_yaxes(title=momentum_axis, row=1, col=1)
    return fig


def _grid(
    trials: list[dict[str, Any]], lrs: list[float], moms: list[float], lr_axis: str, mom_axis: str
) -> tuple[np.ndarray, list[list[str]]]:
    """One run's steps to threshold on the (momentum, lr) grid, and each cell's status."""
    z = np.full((len(moms), len(lrs)), np.nan)
    status = [["" for _ in lrs] for _ in moms]
    col = {v: i for i, v in enumerate(lrs)}
    row = {v: i for i, v in enumerate(moms)}
    for t in trials:
        i, j = row[float(t["values"][mom_axis])], col[float(t["values"][lr_axis])]
        steps = t.get("steps_to_threshold")
        z[i, j] = np.nan if steps is None else steps
        status[i][j] = t["status"] if steps is not None or t["status"] != "finished" else "slow"
    return z, status


def _sgd_rule(runs: list[dict[str, Any]], k: int) -> dict[str, Any] | None:
    """Panel ``k``'s SGD settings that move the boundary; None for other optimizers."""
    opt = runs[k].get("optimizer") if k < len(runs) else None
    if not isinstance(opt, dict) or str(opt.get("name", "")).lower() != "sgd":
        return None
    if opt.get("maximize"):
        return None
    return {
        "nesterov": bool(opt.get("nesterov", False)),
        "dampening": float(opt.get("dampening") or 0.0),
        "weight_decay": float(opt.get("weight_decay") or 0.0),
    }


def _overlays(
    fig: go.Figure,
    eigenvalues: tuple[float, float],
    moms: list[float],
    optimal: bool,
    k: int,
    rule: dict[str, Any],
) -> None:
    """Panel ``k``'s SGD stability boundary (from ``sgd_stability_limit``) and the optimum."""
    lam_min, lam_max = eigenvalues
    top = max(moms) if moms else 0.99
    betas = np.union1d(np.linspace(0.0, max(top, 0.0), 60), moms)
    lrs = [sgd_stability_limit(lam_max, momentum=float(b), **rule) for b in betas]
    kind = "Nesterov" if rule["nesterov"] else "heavy ball"
    kind += f", dampening {rule['dampening']:g}" * bool(rule["dampening"])
    kind += f", weight decay {rule['weight_decay']:g}" * bool(rule["weight_decay"])
    named = {t.name for t in fig.data}  # the legend names each overlay once
    fig.add_scatter(
        x=[np.nan if v is None else v for v in lrs],
        y=betas,
        mode="lines",
        line={"color": BOUNDARY_COLOR, "width": 3, "dash": "dash"},
        name=f"stability boundary ({kind})",
        legendgroup=f"boundary {kind}",
        showlegend=f"stability boundary ({kind})" not in named,
        row=1,
        col=k + 1,
    )
    if optimal:
        lr_opt, beta_opt = optimal_momentum(lam_min, lam_max)
        fig.add_scatter(
            x=[lr_opt],
            y=[beta_opt],
            mode="markers",
            marker={**STAR, "size": 18, "line": {**STAR["line"], "width": 2}},
            name=f"optimal lr={lr_opt:.3g}, momentum={beta_opt:.3f}",
            legendgroup="optimal",
            showlegend=f"optimal lr={lr_opt:.3g}, momentum={beta_opt:.3f}" not in named,
            row=1,
            col=k + 1,
        )


def _log_range(values: list[float]) -> list[float] | None:
    pos = [v for v in values if v > 0]
    if not pos:
        return None
    return [math.log10(min(pos)), math.log10(max(pos))]
