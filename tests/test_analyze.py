"""``optlab analyze``: curvature against numpy, stability limits against SGD (issue 12 §3)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from optlab.cli.main import main
from optlab.engine.curvature import analyze
from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec

QUAD = {"problem": {"name": "quadratic", "condition": 10.0, "angle": 30.0}, "steps": 1500}


def _spec(*optimizers: dict, data: dict = QUAD):
    return parse_spec(
        {**data, "runs": [{"label": f"r{i}", "optimizer": o} for i, o in enumerate(optimizers)]}
    )


def test_quadratic_eigenvalues_against_numpy():
    theta = math.radians(30.0)
    rot = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    hessian = rot.T @ np.diag([0.1, 1.0]) @ rot  # f = ½ (u²/κ + v²), (u, v) = R (x, y)
    out = analyze(_spec({"name": "SGD", "lr": 0.1}))
    np.testing.assert_allclose(out["hessian"], hessian, atol=1e-15)
    np.testing.assert_allclose(out["eigenvalues"], np.linalg.eigvalsh(hessian), rtol=1e-12)
    assert out["condition_number"] == pytest.approx(10.0, rel=1e-12)
    x, y = out["at"]
    np.testing.assert_allclose(out["gradient"], hessian @ [x, y], rtol=1e-12)
    sk = math.sqrt(10.0)
    assert out["optimal"] == pytest.approx(
        {"lr": (2 / (math.sqrt(0.1) + 1)) ** 2, "momentum": ((sk - 1) / (sk + 1)) ** 2,
         "rate": (sk - 1) / (sk + 1)}
    )  # fmt: skip


def test_rosenbrock_hessian_against_the_closed_form():
    spec = _spec({"name": "SGD", "lr": 1e-3}, data={"problem": {"name": "rosenbrock"}})
    out = analyze(spec, at=(0.5, -0.3))
    problem = spec.problem.build()
    a, b = problem.params.a, problem.params.b  # f = (a − x)² + b (y − x²)²
    x, y = 0.5, -0.3
    hessian = np.array([[2 - 4 * b * (y - x**2) + 8 * b * x**2, -4 * b * x], [-4 * b * x, 2 * b]])
    assert a == 1.0
    np.testing.assert_allclose(out["hessian"], hessian, rtol=1e-12)
    np.testing.assert_allclose(out["eigenvalues"], np.linalg.eigvalsh(hessian), rtol=1e-12)
    assert "optimal" not in out  # not a quadratic: no global optimum


def test_stability_limits_per_run():
    out = analyze(
        _spec(
            {"name": "SGD", "lr": 0.1},
            {"name": "SGD", "lr": 0.1, "momentum": 0.5},
            {"name": "SGD", "lr": 0.1, "momentum": 0.5, "nesterov": True},
            {"name": "SGD", "lr": 0.1, "weight_decay": 0.25},
            {"name": "SGD", "lr": 0.1, "momentum": 0.5, "dampening": 0.1},
            {"name": "Adam", "lr": 0.1},
        )
    )
    limits = [r["stability_limit"] for r in out["runs"]]
    # the dampened buffer is a heavy ball with lr·(1 − dampening)
    assert limits[:5] == pytest.approx([2.0, 3.0, 1.5, 1.6, 3.0 / 0.9])
    assert limits[5:] == [None]


def _reference_sgd(lr: float, momentum: float, nesterov: bool, steps: int = 1500) -> float:
    """The plain PyTorch loop on the same quadratic; the final loss."""
    problem = _spec({"name": "SGD", "lr": 0.1}).problem.build()
    xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([xy], lr=lr, momentum=momentum, nesterov=nesterov)
    for _ in range(steps):
        loss = problem.value(xy[0], xy[1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(problem.value(xy[0], xy[1]).detach())


@pytest.mark.parametrize(
    "settings",
    [{}, {"momentum": 0.5}, {"momentum": 0.5, "nesterov": True}],
    ids=["sgd", "heavy-ball", "nesterov"],
)
def test_sgd_converges_at_098_and_diverges_at_102_of_the_limit(settings):
    limit = analyze(_spec({"name": "SGD", "lr": 0.1, **settings}))["runs"][0]["stability_limit"]
    below = {"name": "SGD", "lr": 0.98 * limit, **settings}
    above = {"name": "SGD", "lr": 1.02 * limit, **settings}
    stable, unstable = run_experiment(_spec(below, above))["runs"]
    assert stable["status"] == "finished" and stable["final"]["loss"] < 1e-8
    assert unstable["status"] == "diverged"
    momentum = settings.get("momentum", 0.0)
    nesterov = settings.get("nesterov", False)
    assert _reference_sgd(0.98 * limit, momentum, nesterov) < 1e-8
    assert not _reference_sgd(1.02 * limit, momentum, nesterov) < 1e3


def test_analyze_command(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**QUAD, "runs": [{"label": "a", "optimizer": {"name": "SGD"}}]}))
    assert main(["analyze", str(path), "--at", "1,2", "--out", str(tmp_path / "a.json")]) == 0
    out = json.loads((tmp_path / "a.json").read_text())
    assert out["at"] == [1.0, 2.0] and out["runs"][0]["stability_limit"] == pytest.approx(2.0)
    assert main(["analyze", str(path), "--at", "1"]) == 2
    assert "--at" in capsys.readouterr().err
    model = tmp_path / "model.json"
    model.write_text(
        json.dumps(
            {
                "problem": {"name": "mse_regression"},
                "runs": [{"label": "a", "optimizer": {"name": "SGD"}}],
            }
        )
    )
    assert main(["analyze", str(model)]) == 2
    assert "problem.name" in capsys.readouterr().err
