"""Curvature and stability beside the contour (issue 12 §3): figures from ``analyze``.

``analyze`` (``optlab/engine/curvature.py``) gives the Hessian's eigenvalues at the start
and each run's stability limit (SGD: 2/λ_max, with momentum β: (2+2β)/λ_max, Nesterov its
own bound; every formula lives there).  Here: the (lr, momentum) plane with the runs'
points, one stability boundary per SGD rule present and, on a quadratic, Distill's optimal
heavy ball; and the stability limit as a horizontal line in the run's colour on the lr chart.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from optlab.engine.curvature import analyze, sgd_sharpness_edge, sgd_stability_limit
from optlab.spec import SpecError, parse_spec
from optlab.ui import theme
from optlab.ui.charts.momentum_map import optimal_momentum


@functools.lru_cache(maxsize=64)
def _analysis(spec_json: str) -> dict[str, Any] | None:
    try:
        return analyze(parse_spec(json.loads(spec_json)))
    except (SpecError, ValueError):
        return None


def analysis_for(spec: dict[str, Any]) -> dict[str, Any] | None:
    """``analyze`` at the start of a surface spec (None for a model or an invalid spec);
    cached by the spec, so a polling live view computes it once."""
    return _analysis(json.dumps(spec, sort_keys=True))


def sgd_points(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs with a closed-form limit (SGD, with or without momentum), with their index."""
    return [
        {**r, "index": i}
        for i, r in enumerate(analysis.get("runs") or [])
        if r.get("stability_limit") is not None and r.get("lr") is not None
    ]


def _rule(r: dict[str, Any]) -> tuple[bool, float, float]:
    return (bool(r.get("nesterov")), float(r.get("dampening") or 0.0),
            float(r.get("weight_decay") or 0.0))  # fmt: skip


def _rule_name(rule: tuple[bool, float, float]) -> str:
    nesterov, damp, wd = rule
    parts = ["Nesterov" if nesterov else "heavy ball"]
    parts += [f"dampening {damp:g}"] * bool(damp) + [f"weight decay {wd:g}"] * bool(wd)
    return ", ".join(parts)


def boundary_traces(lam_max: float, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One stability boundary lr(β) per distinct SGD rule among the runs (heavy ball when
    none), from ``sgd_stability_limit``: each run's marker is judged by its own curve."""
    rules = sorted({_rule(r) for r in points}) or [(False, 0.0, 0.0)]
    betas = np.union1d(np.linspace(0.0, 0.99, 100), [float(r["momentum"]) for r in points])
    dashes = ["dash", "dashdot", "longdash", "longdashdot"]
    traces = []
    for i, (nesterov, damp, wd) in enumerate(rules):
        lr = [sgd_stability_limit(lam_max, momentum=float(b), nesterov=nesterov,
                                  dampening=damp, weight_decay=wd) for b in betas]  # fmt: skip
        name = f"stability boundary, {_rule_name((nesterov, damp, wd))}"
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": np.array([np.nan if v is None else v for v in lr]),
                "y": betas,
                "line": {"color": "#d62728", "width": 2.5, "dash": dashes[i % len(dashes)]},
                "name": name,
                "meta": {"nesterov": nesterov, "dampening": damp, "weight_decay": wd},
                "hovertemplate": f"lr=%{{x:.4g}}, β=%{{y:.3f}}<extra>{name}</extra>",
            }
        )
    return traces


def momentum_figure(analysis: dict[str, Any]) -> dict[str, Any] | None:
    """Each SGD run's (lr, momentum) against its rule's stability boundary and the optimum."""
    eig = analysis.get("eigenvalues") or []
    if not eig or eig[-1] <= 0:
        return None
    lam_min, lam_max = float(eig[0]), float(eig[-1])
    points = sgd_points(analysis)
    traces = boundary_traces(lam_max, points)
    lrs = [float(x) for t in traces for x in t["x"] if np.isfinite(x)]
    if analysis.get("optimal") and lam_min > 0:
        lr_opt, beta_opt = optimal_momentum(lam_min, lam_max)
        lrs.append(lr_opt)
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [lr_opt],
                "y": [beta_opt],
                "marker": {"symbol": "star", "size": 18, "color": "gold", "line": {"width": 1.5}},
                "name": f"optimal heavy ball: lr={lr_opt:.3g}, β={beta_opt:.3f}",
            }
        )
    for r in points:
        lrs.append(float(r["lr"]))
        stable = r["lr"] < r["stability_limit"]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [r["lr"]],
                "y": [r["momentum"]],
                "marker": {
                    "size": 13,
                    "color": theme.run_color(r["index"]),
                    "symbol": "circle" if stable else "x",
                    "line": {"width": 1.5, "color": "#fff"},
                },
                "name": f"{r['label']} ({'stable' if stable else 'past the limit'})",
                "hovertemplate": f"{r['label']}: lr=%{{x:.4g}}, β=%{{y:.3f}}<extra></extra>",
            }
        )
    layout = theme.base_layout(xaxis_title="lr", yaxis_title="momentum β")
    positive = [v for v in lrs if v > 0]
    layout["xaxis"].update(
        type="log", range=[np.log10(min(positive)) - 0.3, np.log10(max(positive)) + 0.3]
    )
    layout["yaxis"].update(range=[-0.03, 1.0])
    layout["legend"] = {"orientation": "h", "y": -0.3}
    layout["margin"] = {**layout.get("margin", {}), "t": 16}
    return {"data": traces, "layout": layout}


def add_stability_lines(fig: dict[str, Any], analysis: dict[str, Any], steps: int) -> None:
    """Each SGD run's stability limit as a dotted horizontal line on its lr chart."""
    yaxis = fig.setdefault("layout", {}).setdefault("yaxis", {})
    for r in sgd_points(analysis):
        limit = float(r["stability_limit"])
        held = yaxis.get("range")
        if held and yaxis.get("type") != "log" and limit > held[1]:  # keep the line in view
            yaxis["range"] = [held[0], 1.1 * limit]
        fig["data"].append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [0, max(1, steps)],
                "y": [limit, limit],
                "line": {"color": theme.run_color(r["index"]), "width": 1.5, "dash": "dot"},
                "name": f"{r['label']} stability limit",
                "hovertemplate": f"{r['label']}: lr < {limit:.4g} is stable here<extra></extra>",
            }
        )


def _sgd_rule(run_spec: Any) -> dict[str, Any] | None:
    """The run's SGD settings that set its edge of stability; None for other optimizers."""
    if run_spec is None or str(run_spec.optimizer.name).lower() != "sgd":
        return None
    kw = run_spec.optimizer.kwargs

    def num(key: str) -> float:
        value = kw.get(key, 0.0)
        return float(value) if isinstance(value, int | float) else 0.0

    return {
        "momentum": num("momentum"),
        "nesterov": bool(kw.get("nesterov", False)),
        "dampening": num("dampening"),
        "weight_decay": num("weight_decay"),
        "maximize": bool(kw.get("maximize", False)),
    }


def _note(steps: np.ndarray, text: str) -> dict[str, Any]:
    """A legend-only entry: why a run's edge line is left out."""
    return {"type": "scatter", "mode": "lines", "x": steps[:0], "y": [], "name": text,
            "line": {"color": "rgba(0,0,0,0)"}}  # fmt: skip


def sharpness_figure(runs: list[Any], run_specs: list[Any]) -> dict[str, Any] | None:
    """λ_max of the loss Hessian (``record_sharpness``) per run against 2/lr, and for SGD
    with momentum or weight decay its own edge (``sgd_sharpness_edge``: heavy ball
    (2+2β)/((1−d)·lr), Nesterov (2+2β)/((1+2β)·lr), less the weight decay), live."""
    traces: list[dict[str, Any]] = []
    for run in runs:
        sharp = run.instruments.get("sharpness")
        if sharp is None:
            continue
        color = theme.run_color(run.color_at)
        n = min(len(sharp), run.n)
        steps, values = run.step[:n], np.asarray(sharp[:n], dtype=np.float64)
        ok = np.isfinite(values)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": steps[ok],
                "y": values[ok],
                "line": {"color": color, "width": 2.5},
                "marker": {"size": 6},
                "name": f"{run.label} sharpness λ_max",
            }
        )
        lr = run.lr[:n, 0] if run.lr.ndim == 2 and run.lr.shape[1] else np.full(n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            edge = np.where(lr > 0, 2.0 / lr, np.nan)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": steps,
                "y": edge,
                "line": {"color": color, "width": 1.5, "dash": "dash", "shape": "hv"},
                "name": f"{run.label} 2/lr",
            }
        )
        spec = run_specs[run.index] if run.index < len(run_specs) else None
        rule = _sgd_rule(spec)
        if rule is None or (rule["momentum"] == 0 and not rule["weight_decay"]):
            continue  # 2/lr above is the edge (or the rule of thumb for adaptive optimizers)
        sgd_edge = None if rule.pop("maximize") else sgd_sharpness_edge(lr, **rule)
        beta, damp, wd = rule["momentum"], rule["dampening"], rule["weight_decay"]
        kind = "Nesterov" if rule["nesterov"] else "heavy ball"
        if sgd_edge is None:
            traces.append(_note(steps, f"{run.label}: no closed-form edge ({kind}, "
                                       f"dampening {damp:g}; or maximize)"))  # fmt: skip
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": steps,
                "y": sgd_edge,
                "line": {"color": color, "width": 1.5, "dash": "dot", "shape": "hv"},
                "name": f"{run.label} edge of stability ({kind}, β={beta:g}"
                + (f", dampening {damp:g}" if damp else "")
                + (f", weight decay {wd:g}" if wd else "")
                + ")",
            }
        )
    if not traces:
        return None
    layout = theme.base_layout(xaxis_title="step", yaxis_title="λ_max (sharpness)")
    layout["yaxis"]["type"] = "log"
    layout["yaxis"]["exponentformat"] = "power"
    return {"data": traces, "layout": layout}
