"""The stability lines the dashboard draws (issue 12 §3, review findings): read from the
figures' own line data, a plain numpy iteration of the linearized torch.optim.SGD update
on the quadratic converges at 0.98× the drawn limit and diverges at 1.02×, for plain SGD,
heavy ball, Nesterov, dampening and weight decay; the sweep map draws SGD's boundary on
SGD panels only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from optlab.spec import parse_spec
from optlab.ui.charts import curvature_figures, momentum_map
from optlab.ui.charts.series import RunSeries

RULES: list[dict[str, Any]] = [
    {"momentum": 0.0},
    {"momentum": 0.5},
    {"momentum": 0.9},
    {"momentum": 0.5, "nesterov": True},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.7, "dampening": 0.4},
    {"momentum": 0.6, "weight_decay": 0.3},
    {"momentum": 0.8, "nesterov": True, "weight_decay": 0.2},
]


def _linear_sgd(hessian: np.ndarray, lr: float, rule: dict[str, Any], steps: int = 6000) -> float:
    """torch.optim.SGD's update on f = ½xᵀHx (gradient Hx + wd·x), in numpy; final |x|."""
    mu, damp = rule.get("momentum", 0.0), rule.get("dampening", 0.0)
    nesterov, wd = rule.get("nesterov", False), rule.get("weight_decay", 0.0)
    x = np.array([1.0, -0.7])
    buf = None
    for _ in range(steps):
        g = hessian @ x + wd * x
        if mu:
            buf = g.copy() if buf is None else mu * buf + (1 - damp) * g
            g = g + mu * buf if nesterov else buf
        x = x - lr * g
        if not np.isfinite(x).all() or np.abs(x).max() > 1e12:
            return float("inf")
    return float(np.abs(x).max())


def _analysis() -> tuple[dict[str, Any], np.ndarray]:
    runs = [
        {"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.01, **rule}}
        for i, rule in enumerate(RULES)
    ]
    spec = {"problem": {"name": "quadratic"}, "steps": 10, "runs": runs}
    analysis = curvature_figures.analysis_for(spec)
    assert analysis is not None and analysis["quadratic"]
    return analysis, np.asarray(analysis["hessian"])


def _drawn_limit(fig: dict[str, Any], rule: dict[str, Any]) -> float:
    """The lr the figure's boundary for this rule draws at the rule's β."""
    want = {
        "nesterov": bool(rule.get("nesterov")),
        "dampening": float(rule.get("dampening", 0.0)),
        "weight_decay": float(rule.get("weight_decay", 0.0)),
    }
    (line,) = [t for t in fig["data"] if t.get("meta") == want]
    (at,) = np.flatnonzero(np.asarray(line["y"]) == rule["momentum"])
    return float(np.asarray(line["x"])[at])


@pytest.mark.parametrize("i", range(len(RULES)), ids=[str(r) for r in RULES])
def test_momentum_figure_boundary_is_the_edge_of_the_plain_numpy_iteration(i: int) -> None:
    analysis, hessian = _analysis()
    fig = curvature_figures.momentum_figure(analysis)
    assert fig is not None
    limit = _drawn_limit(fig, RULES[i])
    assert _linear_sgd(hessian, 0.98 * limit, RULES[i]) < 1e-6
    assert _linear_sgd(hessian, 1.02 * limit, RULES[i]) == float("inf")
    # the marker's stable/past-the-limit flag is judged by that same line
    marker = next(t for t in fig["data"] if t["name"].startswith(f"r{i} ("))
    assert marker["name"].endswith("(stable)") == (limit > 0.01)


def test_momentum_figure_draws_one_boundary_per_rule_present() -> None:
    analysis, _ = _analysis()
    fig = curvature_figures.momentum_figure(analysis)
    assert fig is not None
    names = [t["name"] for t in fig["data"] if t["name"].startswith("stability boundary")]
    assert len(names) == len(set(names)) == 5  # plain SGD and the heavy balls share one
    assert "stability boundary, Nesterov, weight decay 0.2" in names


@pytest.mark.parametrize("i", [1, 3, 4, 5, 6, 7], ids=lambda i: str(RULES[i]))
def test_sharpness_edge_is_the_edge_of_the_plain_numpy_iteration(i: int) -> None:
    """The sharpness chart's edge at lr: a quadratic of that top curvature (×0.98) is
    stable under the run's SGD and one ×1.02 is not."""
    rule, lr = RULES[i], 0.05
    run = RunSeries(index=0, label="run", status="finished")
    run.append(np.arange(3), np.ones(3), np.full((3, 1), lr))
    run.instruments = {"sharpness": np.array([1.0, 2.0, 3.0])}
    spec = parse_spec(
        {
            "problem": {"name": "mse_regression"},
            "epochs": 1,
            "batch_size": 8,
            "runs": [{"label": "run", "optimizer": {"name": "SGD", "lr": lr, **rule}}],
        }
    ).runs
    fig = curvature_figures.sharpness_figure([run], spec)
    assert fig is not None
    (edge,) = [t for t in fig["data"] if "edge of stability" in t["name"]]
    lam = float(edge["y"][0])
    assert np.allclose(edge["y"], lam)
    assert _linear_sgd(np.diag([0.98 * lam, 0.1]), lr, rule) < 1e-6
    assert _linear_sgd(np.diag([1.02 * lam, 0.1]), lr, rule) == float("inf")


def test_sharpness_leaves_out_an_edge_with_no_closed_form_and_says_so() -> None:
    run = RunSeries(index=0, label="run", status="finished")
    run.append(np.arange(3), np.ones(3), np.full((3, 1), 0.05))
    run.instruments = {"sharpness": np.array([1.0, 2.0, 3.0])}
    opt = {"name": "SGD", "lr": 0.05, "momentum": 0.9, "nesterov": True, "dampening": 0.0}
    base = {"problem": {"name": "mse_regression"}, "epochs": 1, "batch_size": 8}
    spec = parse_spec({**base, "runs": [{"label": "run", "optimizer": {**opt, "maximize": True}}]})
    fig = curvature_figures.sharpness_figure([run], spec.runs)
    assert fig is not None
    names = [t["name"] for t in fig["data"]]
    assert not any("edge of stability" in n for n in names)
    assert any(n.startswith("run: no closed-form edge") for n in names)


def test_sweep_map_draws_the_sgd_boundary_on_sgd_panels_only() -> None:
    trials = [
        {"run": label, "values": {"optimizer.lr": lr, "optimizer.momentum": mu},
         "steps_to_threshold": 5, "status": "finished"}
        for label in ("SGD", "NAG", "RMSprop")
        for lr in (0.01, 0.1)
        for mu in (0.0, 0.5, 0.9)
    ]  # fmt: skip
    runs = [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.1}},
        {"label": "NAG", "optimizer": {"name": "SGD", "lr": 0.1, "nesterov": True}},
        {"label": "RMSprop", "optimizer": {"name": "RMSprop", "lr": 0.1}},
    ]
    lam_min, lam_max = 0.5, 4.0
    fig = momentum_map.lr_momentum_map(
        {"trials": trials, "spec": {"runs": runs}}, eigenvalues=(lam_min, lam_max), optimal=True
    )
    lines = [t for t in fig.data if t.type == "scatter" and str(t.name).startswith("stability")]
    assert sorted(t.xaxis for t in lines) == ["x", "x2"]  # not the RMSprop panel (x3)
    hessian = np.diag([lam_min, lam_max])
    for t, rule in zip(sorted(lines, key=lambda t: t.xaxis), [{}, {"nesterov": True}], strict=True):
        for beta in (0.5, 0.9):
            (at,) = np.flatnonzero(np.asarray(t.y) == beta)
            limit = float(np.asarray(t.x)[at])
            assert _linear_sgd(hessian, 0.98 * limit, {"momentum": beta, **rule}) < 1e-6
            assert _linear_sgd(hessian, 1.02 * limit, {"momentum": beta, **rule}) == float("inf")
    stars = [t for t in fig.data if str(t.name).startswith("optimal")]
    assert [t.xaxis for t in stars] == ["x", "x2"]
