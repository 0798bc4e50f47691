"""The curvature panel beside the contour (issue 12 §3): ``analyze`` at the start point.

The gradient, the Hessian's eigenvalues and condition number, each run's stability limit
(SGD: 2/λ_max, heavy ball (2+2β)/λ_max, Nesterov its own bound; — where no closed form
applies), Distill's optimal heavy ball on a quadratic, and the (lr, momentum) plane with
the runs against the boundary lr·λ_max = 2 + 2β.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.ui.charts.curvature_figures import analysis_for, momentum_figure
from optlab.ui.charts.live_chart import live_chart


def _vec(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def curvature_panel(spec: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The panel for a valid surface spec (nothing otherwise); returns the analysis."""
    analysis = analysis_for(spec) if spec is not None else None
    if analysis is None:
        return None
    with st.expander(
        "Curvature and stability at the start", expanded=False, icon=":material/insights:"
    ):
        eig = analysis["eigenvalues"]
        kappa = analysis.get("condition_number")
        st.markdown(
            f"At θ₀ = {_vec(analysis['at'])}: ∇f = {_vec(analysis['gradient'])}, "
            f"Hessian eigenvalues λ = {_vec(eig)}, condition number κ = "
            + (f"{kappa:.4g}" if kappa is not None else "— (λ_min ≤ 0: not a minimum's bowl)")
        )
        rows = [
            {
                "run": r["label"],
                "optimizer": r["optimizer"],
                "lr": r.get("lr"),
                "momentum": r.get("momentum"),
                "stability limit": r.get("stability_limit"),
                "lr / limit": (
                    r["lr"] / r["stability_limit"]
                    if r.get("stability_limit") and r.get("lr") is not None
                    else None
                ),
            }
            for r in analysis["runs"]
        ]
        st.dataframe(rows, hide_index=True, key=f"{key}:stability_table")
        st.caption(
            "The stability limit is the largest lr for which the update linearized here is "
            "stable: 2/λ_max for SGD, (2+2β)/λ_max with momentum β, (2+2β)/((1+2β)·λ_max) "
            "with Nesterov (λ_max includes weight decay); — where no closed form applies "
            "(adaptive optimizers, Nesterov with dampening, maximize)."
        )
        optimal = analysis.get("optimal")
        if optimal:
            st.markdown(
                f"**Optimal heavy ball** (quadratic): lr = {optimal['lr']:.4g}, momentum = "
                f"{optimal['momentum']:.4g}, rate = {optimal['rate']:.4g} per step"
            )
        fig = momentum_figure(analysis)
        if fig is not None:
            live_chart(fig, key=f"{key}:momentum_plane", height=340)
    return analysis
