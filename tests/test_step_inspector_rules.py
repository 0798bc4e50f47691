"""The step inspector's math, rule by rule (issue 12 §2, review findings): for every
optimizer setting, the numbers it substitutes, evaluated, give the update the real run
recorded *and* the update of a plain torch loop written here, at step 0 and later steps;
settings the rule cannot express fall back to the state view."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from optlab.spec import parse_spec
from optlab.ui.charts import step_inspector
from optlab.ui.live import live_data
from tests.helpers import finished_experiment

STEPS = 12
START = [-1.2, 1.4]
CHECK = (0, 1, 2, 5, STEPS - 1)

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"lr": 0.0004}),
    "sgd_momentum": ("SGD", {"lr": 0.0004, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"lr": 0.0004, "momentum": 0.9, "nesterov": True}),
    "sgd_dampening": ("SGD", {"lr": 0.0004, "momentum": 0.9, "dampening": 0.5}),
    "sgd_wd": ("SGD", {"lr": 0.0004, "momentum": 0.5, "weight_decay": 0.3}),
    "sgd_maximize": ("SGD", {"lr": 0.00002, "momentum": 0.9, "maximize": True}),
    "adam": ("Adam", {"lr": 0.05}),
    "adam_wd_max": ("Adam", {"lr": 0.05, "weight_decay": 0.2, "maximize": True}),
    "adam_decoupled": ("Adam", {"lr": 0.05, "weight_decay": 0.2, "decoupled_weight_decay": True}),
    "adamw": ("AdamW", {"lr": 0.05, "weight_decay": 0.2}),
    "adamw_max": ("AdamW", {"lr": 0.05, "weight_decay": 0.2, "maximize": True}),
    "amsgrad": ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    "rmsprop": ("RMSprop", {"lr": 0.01}),
    "rmsprop_centered_mom": ("RMSprop", {"lr": 0.002, "centered": True, "momentum": 0.5}),
    "rmsprop_max_wd": ("RMSprop", {"lr": 0.01, "maximize": True, "weight_decay": 0.1}),
    "adagrad": ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
    "adagrad_max": ("Adagrad", {"lr": 0.1, "maximize": True}),
    "adadelta": ("Adadelta", {"lr": 1.0, "weight_decay": 0.1}),
    "adadelta_max": ("Adadelta", {"lr": 1.0, "maximize": True}),
}


def _spec(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"problem": {"name": "rosenbrock", "start": START}, "steps": STEPS, "runs": runs}


def _recorded(tmp_path: Path, runs: list[dict[str, Any]]) -> live_data.ExperimentData:
    """A real surface experiment with record_state, written to and read from SQLite."""
    _, data = finished_experiment(tmp_path / "optlab.db", parse_spec(_spec(runs)))
    return data


def _plain(name: str, kwargs: dict[str, Any]) -> np.ndarray:
    """The updates of the textbook torch loop on the same surface, per step."""
    problem = parse_spec(_spec([{"label": "p", "optimizer": {"name": "SGD"}}])).problem.build()
    xy = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([xy], **kwargs)
    out = []
    for _ in range(STEPS):
        before = xy.detach().clone()
        opt.zero_grad()
        problem.value(xy[0], xy[1]).backward()
        opt.step()
        out.append((xy.detach() - before).numpy())
    return np.array(out)


@pytest.fixture(scope="module")
def inspected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    runs = [
        {"label": key, "optimizer": {"name": name, **kw}, "record_state": True}
        for key, (name, kw) in CASES.items()
    ]
    out = {}
    for part in (runs[:10], runs[10:]):  # an experiment holds at most 12 runs
        data = _recorded(tmp_path_factory.mktemp("rules"), part)
        specs = parse_spec(_spec(part)).runs
        for run, spec in zip(data.runs, specs, strict=True):
            found = step_inspector.inspector_data(run, spec.optimizer)
            assert found is not None
            out[run.label] = found
    return out


def _eval(expr: str, values: dict[str, np.ndarray], t: int) -> np.ndarray:
    """A substituted right-hand side, evaluated with the inspector's own numbers at step t:
    ``{a}·{b} + {c}`` etc. (·, +, −, /, √ only; parsed by hand, never eval'd)."""
    names = [n for n in step_inspector._NAME.findall(expr)]
    env = {n: np.asarray(values[n][t], dtype=np.float64) for n in names}
    py = re.sub(r"√\{(\w+)\}", r"√({\1})", expr)
    py = py.replace("·", "*").replace("−", "-").replace("√", "np.sqrt")
    py = step_inspector._NAME.sub(lambda m: f"env[{m.group(1)!r}]", py)
    allowed = set("envnp.sqrt[]'*+-/() _abcdefghijklmnopqrstuvwxyz0123456789")
    assert set(py) <= allowed, py
    return np.asarray(_arith(py, env))


def _arith(py: str, env: dict[str, np.ndarray]) -> Any:
    import ast

    tree = ast.parse(py, mode="eval")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
            return ops[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Call):  # np.sqrt(x)
            assert ast.unparse(node.func) == "np.sqrt"
            return np.sqrt(ev(node.args[0]))
        if isinstance(node, ast.Subscript):  # env['name']
            return env[node.slice.value]  # type: ignore[attr-defined]
        if isinstance(node, ast.Constant):
            return node.value
        raise AssertionError(ast.dump(node))

    return ev(tree)


def _rhs_checks(data: dict[str, Any], t: int) -> int:
    """Every line ``… = <numbers> = {result}``: the middle, evaluated, equals the result."""
    checked = 0
    for line in data["lines"]:
        parts = [p.strip() for p in line.split(" = ")]
        if len(parts) < 3 or not re.fullmatch(r"\{\w+\}", parts[-1]):
            continue
        if set(step_inspector._NAME.sub("x", parts[-2])) - set("x·+−/√() 0123456789."):
            continue  # a symbolic middle, not the numbers
        want = np.asarray(data["values"][parts[-1][1:-1]][t])
        got = _eval(parts[-2], data["values"], t)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300, err_msg=line)
        checked += 1
    return checked


@pytest.mark.parametrize("key", list(CASES))
def test_predicted_update_equals_recorded_and_plain_torch(
    inspected: dict[str, dict[str, Any]], key: str
) -> None:
    data = inspected[key]
    v = data["values"]
    ref = _plain(*CASES[key])
    assert step_inspector.MISMATCH not in data["lines"]
    for t in CHECK:
        np.testing.assert_allclose(v["update"][t], ref[t], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(v["pred"][t], ref[t], rtol=1e-9, atol=1e-300)
        # the numbers written in the lines, evaluated, give the line's result
        assert _rhs_checks(data, t) >= 1
        lines = step_inspector.render(data, t)
        assert lines[-2].startswith("Δθ = ") and lines[-2].endswith(
            "= (" + ", ".join(step_inspector.fmt(float(x)) for x in v["pred"][t]) + ")"
        )


def test_maximize_runs_the_rule_on_the_negated_gradient(
    inspected: dict[str, dict[str, Any]],
) -> None:
    for key in ("sgd_maximize", "adam_wd_max", "rmsprop_max_wd", "adagrad_max", "adadelta_max"):
        data = inspected[key]
        assert "maximize: g_t ← −∇f(θ_t) = {g}" in data["lines"]
        v = data["values"]
        graw = v["graw"][0]
        # the gradient the rule uses is −∇f (plus the coupled L2 term where set)
        wd = float(CASES[key][1].get("weight_decay", 0.0))
        np.testing.assert_allclose(v["g"][0], -graw + wd * v["theta"][0], rtol=1e-12)


def test_decoupled_adam_is_shown_as_adamw(inspected: dict[str, dict[str, Any]]) -> None:
    for key in ("adam_decoupled", "adamw"):
        lines = inspected[key]["lines"]
        assert not any("coupled L2" in line for line in lines)
        assert any(line.startswith("decoupled decay (AdamW)") for line in lines)
        assert any("− lr·λ·θ_t" in line for line in lines if line.startswith("Δθ"))
    assert any("coupled L2" in line for line in inspected["adam_wd_max"]["lines"])


def test_dampened_buffer_starts_at_the_gradient(inspected: dict[str, dict[str, Any]]) -> None:
    data = inspected["sgd_dampening"]
    v = data["values"]
    np.testing.assert_array_equal(v["b"][0], v["g"][0])  # torch: b_0 = g_0
    first = step_inspector.render(data, 0)
    g0 = "(" + ", ".join(step_inspector.fmt(float(x)) for x in v["g"][0]) + ")"
    assert any(f"= 0·(0, 0) + 1·{g0} = {g0}" in line for line in first)
    later = step_inspector.render(data, 3)
    assert any("= 0.9·(" in line and " + 0.5·(" in line for line in later)


def test_a_cycled_momentum_falls_back_to_the_state_view(tmp_path: Path) -> None:
    """OneCycleLR cycles SGD's momentum per step: no constant-μ rule gives the updates."""
    run = {
        "label": "cycled",
        "optimizer": {"name": "SGD", "lr": 0.0004, "momentum": 0.9},
        "scheduler": {"name": "OneCycleLR", "max_lr": 0.0005, "total_steps": STEPS},
        "record_state": True,
    }
    data = _recorded(tmp_path, [run])
    spec = parse_spec(_spec([run])).runs[0]
    found = step_inspector.inspector_data(data.runs[0], spec.optimizer)
    assert found is not None
    assert found["lines"][1] == step_inspector.MISMATCH
    assert "momentum_buffer = {st_momentum_buffer}" in found["lines"]
    assert "pred" not in found["values"]
    assert not any(line.startswith("Δθ") for line in found["lines"])
