"""Sweeps (issue 10): every trial equals `optlab run` of its experiment, bit for bit on CPU."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.optim.sgd

from optlab.cli.main import main
from optlab.engine.experiment import run_experiment
from optlab.engine.sweep import TrialResult, run_sweep, run_trials
from optlab.engine.sweep_plan import Trial, plan, rerun_plan
from optlab.engine.sweep_steppers import FixedSGD, functional_sgd_step
from optlab.spec import ExperimentSpec, SpecError, parse_spec

SGD_MAP: dict[str, Any] = {
    "problem": {"name": "quadratic", "condition": 50},
    "steps": 120,
    "seed": 0,
    "runs": [{"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9}}],
    "sweep": {
        "mode": "grid",
        "axes": {
            "optimizer.lr": {"log": [0.01, 4.0], "num": 8},
            "optimizer.momentum": {"linear": [0.0, 0.99], "num": 6},
        },
        "threshold": 1e-6,
    },
}
BASINS: dict[str, Any] = {
    "problem": {"name": "himmelblau"},
    "steps": 150,
    "runs": [
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
        {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.005, "momentum": 0.9}},
    ],
    "sweep": {
        "axes": {"problem.start": {"grid": [[-5, 5], [-5, 5]], "num": [9, 7]}},
        "threshold": 1e-4,
    },
}
NOISY: dict[str, Any] = {
    "problem": {"name": "rosenbrock", "noise": 0.5},
    "steps": 50,
    "runs": [
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.02}},
        {"label": "plateau", "optimizer": {"name": "SGD", "lr": 1e-3},
         "scheduler": {"name": "ReduceLROnPlateau", "patience": 2}},
        {"label": "LBFGS", "optimizer": {"name": "LBFGS", "lr": 0.2, "max_iter": 2}},
        {"label": "clipped", "optimizer": {"name": "RMSprop", "lr": 0.01}, "clip_grad_norm": 1.0},
    ],
    "sweep": {"axes": {"problem.noise": [0.1, 2.0]}, "seeds": 3, "threshold": 0.05},
}  # fmt: skip
MODELS: dict[str, Any] = {
    "problem": {"name": "mse_regression"},
    "epochs": 2,
    "batch_size": 64,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.001}},
    ],
    "sweep": {"axes": {"optimizer.lr": [0.001, 0.01]}, "seeds": [0, 1]},
}


def _same_as_run(spec: ExperimentSpec, trial: Trial, got: dict[str, Any]) -> None:
    """The trial equals `optlab run` of its experiment, parsed from JSON as the CLI would."""
    single = parse_spec(trial.experiment(spec).to_json())
    assert single.to_dict() == trial.experiment(spec).to_dict()
    assert single.sweep is None and len(single.runs) == 1
    run = run_experiment(single)["runs"][0]
    assert got["status"] == run["status"]
    assert got["diverged_at"] == run.get("diverged_at")
    assert got["final_loss"] == run["final"]["loss"]
    if spec.is_surface:
        assert got.get("final_params") == run["final"].get("params")
    else:
        assert got["epochs"] == run["epochs"]


def _sample(n: int, k: int, seed: int = 0) -> list[int]:
    return sorted(random.Random(seed).sample(range(n), min(k, n)))


@pytest.fixture(scope="module")
def sgd_map() -> tuple[ExperimentSpec, list[Trial], dict[str, Any]]:
    spec = parse_spec(SGD_MAP)
    return spec, plan(spec), run_sweep(spec)


def test_grid_plan_is_the_product_keyed_by_axis_names(sgd_map: Any) -> None:
    _spec, trials, result = sgd_map
    assert len(trials) == 48 == len(result["trials"])
    assert trials[0].values == {"optimizer.lr": 0.01, "optimizer.momentum": 0.0}
    assert trials[-1].values == {"optimizer.lr": 4.0, "optimizer.momentum": 0.99}
    lrs = sorted({t.values["optimizer.lr"] for t in trials})
    assert lrs == [float(v) for v in np.geomspace(0.01, 4.0, 8)]
    assert [t.index for t in trials] == list(range(48))
    first = result["trials"][0]
    assert set(first) >= {
        "run", "values", "seed", "status", "diverged_at", "final_loss", "best_loss",
        "steps_to_threshold", "final_params",
    }  # fmt: skip
    assert first["run"] == "SGDM"
    json.dumps(result, allow_nan=False)


def test_lr_momentum_map_trials_equal_single_runs(sgd_map: Any) -> None:
    spec, trials, result = sgd_map
    statuses = {t["status"] for t in result["trials"]}
    assert statuses == {"finished", "diverged"}  # lr·λmax > 2 + 2β diverges
    for i in [*_sample(len(trials), 8), 47]:
        _same_as_run(spec, trials[i], result["trials"][i])


def test_lr_momentum_cell_equals_a_plain_pytorch_loop(sgd_map: Any) -> None:
    """The textbook loop, written here: torch.optim.SGD on the rotated quadratic."""
    spec, trials, result = sgd_map
    problem = spec.problem.build()
    for i in _sample(len(trials), 4, seed=1):
        if result["trials"][i]["status"] != "finished":
            continue
        values = trials[i].values
        xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD(
            [xy], lr=values["optimizer.lr"], momentum=values["optimizer.momentum"]
        )
        losses = []
        for _ in range(spec.steps or 0):
            loss = problem.value(xy[0], xy[1])
            losses.append(float(loss.detach()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        final = float(problem.value(xy[0], xy[1]).detach())
        got = result["trials"][i]
        assert got["final_params"] == xy.detach().tolist()
        assert got["final_loss"] == final
        assert got["best_loss"] == min([*losses, final])
        series = [*losses, final]
        hit = next((t for t, v in enumerate(series) if v <= 1e-6), None)
        assert got["steps_to_threshold"] == hit


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_functional_sgd_is_sgd_step_bit_for_bit() -> None:
    """The sweep steps SGD rows through torch's functional sgd: the same as SGD.step."""
    rng = random.Random(5)
    gen = torch.Generator().manual_seed(5)
    for _ in range(40):
        kwargs = {
            "lr": 10 ** rng.uniform(-4, 0.5),
            "momentum": rng.choice([0.0, 0.5, 0.9, rng.random()]),
            "weight_decay": rng.choice([0.0, 0.01]),
            "maximize": rng.random() < 0.2,
        }
        if kwargs["momentum"] and rng.random() < 0.5:
            kwargs["nesterov"] = True
        elif kwargs["momentum"]:
            kwargs["dampening"] = rng.choice([0.0, 0.3])
        start = torch.randn(2, dtype=torch.float64, generator=gen)
        a, b = start.clone().requires_grad_(), start.clone().requires_grad_()
        opt_a, opt_b = torch.optim.SGD([a], **kwargs), torch.optim.SGD([b], **kwargs)
        sched = torch.optim.lr_scheduler.StepLR(opt_b, step_size=7, gamma=0.5)
        sched_a = torch.optim.lr_scheduler.StepLR(opt_a, step_size=7, gamma=0.5)
        for _ in range(30):
            g = torch.randn(2, dtype=torch.float64, generator=gen)
            a.grad, b.grad = g.clone(), g.clone()
            opt_a.step()
            functional_sgd_step(opt_b)
            sched_a.step()
            sched.step()
            assert torch.equal(a.detach(), b.detach()), kwargs


def test_fixed_sgd_is_sgd_step_bit_for_bit() -> None:
    """The (lr, momentum) map's bulk stepper: the same as SGD.step, buffers in its state."""
    rng = random.Random(7)
    gen = torch.Generator().manual_seed(7)
    for _ in range(40):
        kwargs = {
            "lr": 10 ** rng.uniform(-4, 0.5),
            "momentum": rng.choice([0.0, 0.5, 0.9, rng.random()]),
            "weight_decay": rng.choice([0.0, 0.01]),
            "maximize": rng.random() < 0.2,
            "nesterov": False,
        }
        if kwargs["momentum"] and rng.random() < 0.5:
            kwargs["nesterov"] = True
        start = torch.randn(2, dtype=torch.float64, generator=gen)
        a, b = start.clone().requires_grad_(), start.clone().requires_grad_()
        opt_a, opt_b = torch.optim.SGD([a], **kwargs), torch.optim.SGD([b], **kwargs)
        assert FixedSGD.eligible(opt_b)
        grad_b = torch.zeros(2, dtype=torch.float64)
        b.grad = grad_b
        fixed = FixedSGD(opt_b, b, grad_b)
        for _ in range(30):
            g = torch.randn(2, dtype=torch.float64, generator=gen)
            a.grad = g.clone()
            grad_b.copy_(g)
            opt_a.step()
            with torch.no_grad():
                fixed.step()
            assert torch.equal(a.detach(), b.detach()), kwargs
        if kwargs["momentum"]:
            buf_a, buf_b = opt_a.state[a]["momentum_buffer"], opt_b.state[b]["momentum_buffer"]
            assert torch.equal(buf_a, buf_b)
    two = torch.optim.SGD([torch.zeros(2, requires_grad=True)] * 1 + [torch.ones(2)], lr=0.1)
    assert not FixedSGD.eligible(two)
    assert not FixedSGD.eligible(torch.optim.Adam([torch.zeros(2, requires_grad=True)]))


@pytest.fixture(scope="module")
def basins() -> tuple[ExperimentSpec, list[Trial], dict[str, Any]]:
    spec = parse_spec(BASINS)
    return spec, plan(spec), run_sweep(spec)


def test_start_grid_trials_equal_single_runs(basins: Any) -> None:
    spec, trials, result = basins
    assert len(trials) == 2 * 63
    assert trials[0].values == {"problem.start": (-5.0, -5.0)}
    assert result["trials"][1]["values"] == {"problem.start": [-5.0 + 10 / 8, -5.0]}
    for i in _sample(len(trials), 10, seed=2):
        _same_as_run(spec, trials[i], result["trials"][i])


def test_batched_starts_equal_separate_optimizers(basins: Any) -> None:
    """The (B, 2) path (one Adam for every start) against one real Adam per start."""
    spec, trials, result = basins
    adam = [t for t in trials if t.label == "Adam"]
    problem = spec.problem.build()
    for trial in adam[::9]:
        xy = torch.tensor(trial.values["problem.start"], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([xy], lr=0.05)
        for _ in range(spec.steps or 0):
            opt.zero_grad()
            problem.value(xy[0], xy[1]).backward()
            opt.step()
        assert result["trials"][trial.index]["final_params"] == xy.detach().tolist()


def test_seeds_and_noise_every_path_equals_single_runs() -> None:
    spec = parse_spec(NOISY)
    trials = plan(spec)
    assert len(trials) == 4 * 2 * 3
    assert {t.seed for t in trials} == {0, 1, 2}
    assert all("seed" not in t.values for t in trials)
    results = run_trials(spec, trials)
    for trial, got in zip(trials, results, strict=True):
        if trial.index % 2 == 0 or trial.label in ("LBFGS", "clipped", "plateau"):
            _same_as_run(spec, trial, got.to_dict())


def test_subsets_run_alone_equal_the_whole_sweep(basins: Any) -> None:
    """A worker handed a slice of the plan gets the same numbers."""
    spec, trials, result = basins
    part = trials[5:9] + trials[70:72]
    seen: list[TrialResult] = []
    got = run_trials(spec, part, on_result=seen.append)
    assert sorted(r.index for r in seen) == sorted(t.index for t in part)
    for r in got:
        assert r.to_dict() == result["trials"][r.index]


def test_model_sweep_trials_equal_single_runs() -> None:
    spec = parse_spec(MODELS)
    trials = plan(spec)
    assert len(trials) == 8
    result = run_sweep(spec)
    first = result["trials"][0]
    assert {"val_acc", "train_loss", "epochs", "final_loss"} <= set(first)
    assert len(first["epochs"]) == 2
    for i in (0, 5):
        _same_as_run(spec, trials[i], result["trials"][i])


def test_random_and_halton_draw_the_same_points_for_every_run() -> None:
    for mode in ("random", "halton"):
        data = {
            **SGD_MAP,
            "runs": [*SGD_MAP["runs"], {"label": "SGD", "optimizer": {"name": "SGD"}}],
            "sweep": {"mode": mode, "trials": 6, "axes": SGD_MAP["sweep"]["axes"]},
        }
        trials = plan(parse_spec(data))
        assert len(trials) == 12
        assert [t.values for t in trials[:6]] == [t.values for t in trials[6:]]
        lrs = [t.values["optimizer.lr"] for t in trials]
        assert all(0.01 <= v <= 4.0 for v in lrs) and len(set(lrs[:6])) == 6


def test_tune_reruns_the_best_with_new_seeds() -> None:
    data = {
        **SGD_MAP,
        "steps": 60,
        "sweep": {
            "mode": "halton",
            "axes": {"optimizer.lr": {"log": [0.01, 1.0], "num": 2}},
            "tune": {"trials": 5, "metric": "final_loss", "rerun_seeds": 3},
        },
    }
    data["problem"] = {"name": "quadratic", "condition": 50, "noise": 0.1}
    spec = parse_spec(data)
    result = run_sweep(spec)
    trials = result["trials"]
    assert [t["phase"] for t in trials] == ["search"] * 5 + ["rerun"] * 3
    best = result["summary"]["SGDM"]["best"]
    rerun = result["summary"]["SGDM"]["rerun"]
    assert all(t["values"] == best["values"] for t in trials[5:])
    assert rerun["seeds"] == [1, 2, 3]
    losses = [t["final_loss"] for t in trials[5:]]
    assert rerun["median"] == float(np.median(losses))
    assert rerun["min"] == min(losses) and rerun["max"] == max(losses)
    search = plan(spec)
    again = rerun_plan(spec, search, run_trials(spec, search))
    assert [t.index for t in again] == [5, 6, 7]


def test_should_stop_cancels_what_has_not_finished() -> None:
    spec = parse_spec({**SGD_MAP, "steps": 5000})
    calls = []

    def stop() -> bool:
        calls.append(1)
        return True

    results = run_trials(spec, plan(spec), should_stop=stop)
    assert calls
    assert {r.status for r in results} <= {"cancelled", "diverged"}
    assert any(r.status == "cancelled" for r in results)


# ------------------------------------------------------------------------------ the command


def _write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_cli_sweep_writes_the_result(tmp_path: Path) -> None:
    data = {**SGD_MAP, "steps": 30}
    out = tmp_path / "r.json"
    assert main(["sweep", _write(tmp_path, data), "--out", str(out), "--no-store", "--quiet"]) == 0
    text = out.read_text()
    result = json.loads(text)
    assert set(result) == {"spec", "trials", "summary"}
    assert len(result["trials"]) == 48
    assert result["spec"]["sweep"]["axes"]["optimizer.lr"] == {"log": [0.01, 4.0], "num": 8}
    assert result == json.loads(json.dumps(run_sweep(parse_spec(data))))
    # readable: the spec and summary indented, each trial on a line of its own
    lines = text.splitlines()
    trials = [json.loads(line.rstrip(",")) for line in lines if line.startswith('  {"index"')]
    assert trials == result["trials"]
    assert ' "spec": {' in lines and '  "problem": {' in lines


def test_cli_run_refuses_a_sweep(tmp_path: Path, capsys: Any) -> None:
    assert main(["run", _write(tmp_path, SGD_MAP), "--no-store", "--quiet"]) == 2
    assert "use `python -m optlab sweep`" in capsys.readouterr().err


def _adam(axes: dict[str, Any], **sweep: Any) -> dict[str, Any]:
    return {
        "problem": {"name": "himmelblau"},
        "runs": [{"label": "A", "optimizer": {"name": "Adam"}}],
        "sweep": {"axes": axes, **sweep},
    }


BAD: list[tuple[dict[str, Any], str, str]] = [
    (_adam({"optimizer.momentum": [0.5]}), "sweep.axes.optimizer.momentum",
     "Adam has no hyperparameter momentum"),
    (_adam({"optimizer.bogus": [1]}), "sweep.axes.optimizer.bogus", "no hyperparameter"),
    (_adam({"nonsense.path": [1]}), "sweep.axes.nonsense.path", "unknown axis path"),
    (_adam({"optimizer.lr": {"log": [0.0, 1.0], "num": 3}}), "sweep.axes.optimizer.lr",
     "positive"),
    (_adam({"optimizer.lr": []}), "sweep.axes.optimizer.lr", "at least one value"),
    (_adam({"optimizer.lr": {"linear": [0.1, 1.0], "num": 0}}), "sweep.axes.optimizer.lr",
     "greater than or equal to 1"),
    (_adam({"optimizer.lr": [-1.0]}), "sweep.axes.optimizer.lr", "greater than or equal to 0"),
    (_adam({"problem.start": {"grid": [[-9, 4], [-4, 4]], "num": [3, 3]}}),
     "sweep.axes.problem.start", "inside himmelblau's box"),
    (_adam({"optimizer.lr": {"grid": [[0, 1], [0, 1]], "num": [2, 2]}}),
     "sweep.axes", "problem.start only"),
    (_adam({"problem.start": {"grid": [[-4, 4], [-4, 4]], "num": [200, 101]}}), "sweep",
     "OPTLAB_MAX_TRIALS"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "where", "what"), BAD)
def test_bad_sweeps_exit_2_with_one_line(
    tmp_path: Path, capsys: Any, data: dict[str, Any], where: str, what: str
) -> None:
    assert main(["sweep", _write(tmp_path, data), "--no-store", "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {where}") and what in lines[0], lines[0]


def test_model_trial_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTLAB_MAX_MODEL_TRIALS", "4")
    with pytest.raises(SpecError, match="OPTLAB_MAX_MODEL_TRIALS"):
        plan(parse_spec(MODELS))


def test_a_halton_sampled_trial_equals_a_plain_pytorch_loop() -> None:
    """Sampled (not grid) points: each drawn (lr, momentum) trial is the textbook loop."""
    spec = parse_spec(
        {
            **SGD_MAP,
            "steps": 80,
            "sweep": {
                "mode": "halton",
                "trials": 12,
                "axes": {
                    "optimizer.lr": {"log": [0.01, 1.0], "num": 2},
                    "optimizer.momentum": {"linear": [0.0, 0.9], "num": 2},
                },
                "threshold": 1e-6,
            },
        }
    )
    trials = plan(spec)
    result = run_sweep(spec)
    lrs = [t.values["optimizer.lr"] for t in trials]
    assert len(set(lrs)) == 12 and all(0.01 <= v <= 1.0 for v in lrs)  # drawn, not a grid
    problem = spec.problem.build()
    checked = 0
    for i in _sample(len(trials), 5, seed=3):
        got = result["trials"][i]
        values = trials[i].values
        xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD(
            [xy], lr=values["optimizer.lr"], momentum=values["optimizer.momentum"]
        )
        for _ in range(80):
            loss = problem.value(xy[0], xy[1])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if got["status"] == "finished":
            assert got["final_params"] == xy.detach().tolist()
            assert got["final_loss"] == float(problem.value(xy[0], xy[1]).detach())
            checked += 1
    assert checked >= 3


def _plain_trial(problem: Any, start: tuple[float, float], make: Any, steps: int) -> Any:
    """One start as a textbook loop under the divergence rule of docs/architecture.md
    (loss, gradient norm and point checked before each update): (status, diverged_at,
    the recorded losses and the final one, the final point)."""
    (x0, x1), (y0, y1) = problem.divergence_box()
    xy = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make([xy])
    losses: list[float] = []
    for t in range(steps):
        opt.zero_grad()
        loss = problem.value(xy[0], xy[1])
        loss.backward()
        (x, y), (gx, gy) = xy.detach().tolist(), xy.grad.tolist()
        value = loss.item()
        if not (
            math.isfinite(value) and math.isfinite(math.hypot(gx, gy))
            and x0 <= x <= x1 and y0 <= y <= y1
        ):  # fmt: skip
            return "diverged", t, losses, None
        losses.append(value)
        opt.step()
    final = problem.value(xy[0], xy[1]).item()
    point = xy.detach().tolist()
    if not (math.isfinite(final) and all(map(math.isfinite, point))):
        return "diverged", steps, losses, None
    return "finished", None, [*losses, final], point


def test_rows_diverging_at_different_steps_against_plain_loops() -> None:
    """A block whose rows end at many different steps (a shared SGD with momentum that
    blows up from most starts, a shared Adam that reaches the threshold at many steps):
    each trial's status, diverged_at, best loss, steps to threshold and final point are
    those of its own textbook loop."""
    spec = parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": 120,
            "runs": [
                {"label": "wild", "optimizer": {"name": "SGD", "lr": 0.004, "momentum": 0.9}},
                {"label": "calm", "optimizer": {"name": "Adam", "lr": 0.03}},
            ],
            "sweep": {
                "axes": {"problem.start": {"grid": [[-2, 2], [-1, 3]], "num": [9, 8]}},
                "threshold": 0.5,
            },
        }
    )
    trials, result = plan(spec), run_sweep(spec)
    problem = spec.problem.build()
    makers = {
        "wild": lambda p: torch.optim.SGD(p, lr=0.004, momentum=0.9),
        "calm": lambda p: torch.optim.Adam(p, lr=0.03),
    }
    diverged_at, hits = set(), set()
    for trial, got in zip(trials, result["trials"], strict=True):
        status, at, losses, point = _plain_trial(
            problem, trial.values["problem.start"], makers[trial.label], 120
        )
        hit = next((t for t, v in enumerate(losses) if v <= 0.5), None)
        assert got["status"] == status, trial
        assert got["diverged_at"] == at
        assert got["best_loss"] == (min(losses) if losses else None)
        assert got["steps_to_threshold"] == hit
        assert got.get("final_params") == point
        diverged_at.add(at)
        hits.add(hit)
    assert len(diverged_at - {None}) >= 4  # rows ended at several different steps
    assert len(hits - {None}) >= 4
