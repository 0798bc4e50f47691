"""Issue 9: every number is the one a careful PyTorch user gets (plain loops written here)."""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import re
import subprocess
import sys

import pytest
import pytorch_optimizer as po
import torch

from optlab.catalog import optimizers, schedulers
from optlab.engine.experiment import run_experiment
from optlab.export.script import export_script
from optlab.spec import SpecError, parse_spec


def rosen(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def surface(runs, steps=200):
    return parse_spec({"problem": {"name": "rosenbrock"}, "steps": steps, "runs": runs})


def mse(runs, epochs=2):
    return parse_spec(
        {
            "problem": {"name": "mse_regression", "n_samples": 200},
            "epochs": epochs,
            "batch_size": 32,
            "seed": 3,
            "device": "cpu",
            "runs": runs,
        }
    )


def plain_surface(make_opt, steps=200, clip=None, closure=False, averaged=False):
    """The user's loop on Rosenbrock from (-1.5, 2); returns train points, averaged points
    (a copy of the optimizer switched to eval()), and the final point, at eval() if asked."""
    xy = torch.tensor((-1.5, 2.0), dtype=torch.float64, requires_grad=True)
    opt = make_opt([xy])
    points, avg = [], []
    for _ in range(steps):
        points.append(xy.detach().tolist())
        if averaged:
            twin = copy.deepcopy(opt)
            twin.eval()
            avg.append(twin.param_groups[0]["params"][0].detach().tolist())
        if closure:

            def fn():
                opt.zero_grad()
                loss = rosen(xy[0], xy[1])
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_([xy], clip)
                return loss

            opt.step(fn)
        else:
            opt.zero_grad()
            rosen(xy[0], xy[1]).backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_([xy], clip)
            opt.step()
    if averaged:
        opt.eval()
    return points, avg, xy.detach().tolist()


def plain_model(spec, make_opt, clip=None, closure=False, modes=False):
    """The user's loop on mse_regression: the same data, weights and batch order as the
    engine; validation in eval mode (and the optimizer's eval() when it has one)."""
    problem = spec.problem.build()
    data = problem.load_data(torch.device("cpu"), spec.seed)
    torch.manual_seed(spec.seed)
    model = problem.build_model()
    opt = make_opt(model.parameters())
    n, bs = data.n_train, spec.batch_size
    val_losses = []
    for epoch in range(spec.epochs):
        gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        for b in range(math.ceil(n / bs)):
            idx = perm[b * bs : (b + 1) * bs]

            def fn(idx=idx):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(data.train_x[idx]), data.train_y[idx])
                loss.backward()
                if clip is not None and closure:
                    torch.nn.utils.clip_grad_norm_(list(model.parameters()), clip)
                return loss

            if closure:
                opt.step(fn)
            else:
                fn()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(list(model.parameters()), clip)
                opt.step()
        if modes:
            opt.eval()
        model.eval()
        with torch.no_grad():
            val = torch.nn.functional.mse_loss(model(data.val_x), data.val_y).item()
        model.train()
        if modes:
            opt.train()
        val_losses.append(val)
    return val_losses


# ---------------------------------------------------------------- 1. train/eval modes


def test_train_eval_modes_are_detected_from_the_class():
    modal = {n for n, i in optimizers.catalogue().items() if i.train_eval_modes}
    assert {"ScheduleFreeAdamW", "ScheduleFreeRAdam", "ScheduleFreeSGD", "SPlus"} <= modal
    assert not {"Adam", "SGD", "LBFGS", "Lookahead"} & modal


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("ScheduleFreeAdamW", po.ScheduleFreeAdamW),
        ("ScheduleFreeSGD", po.ScheduleFreeSGD),
        ("ScheduleFreeRAdam", po.ScheduleFreeRAdam),
    ],
)
def test_schedule_free_surface_final_and_eval_params_are_the_averaged_point(name, cls):
    result = run_experiment(surface([{"label": "sf", "optimizer": {"name": name, "lr": 0.01}}]))
    run = result["runs"][0]
    points, avg, final = plain_surface(lambda p: cls(p, lr=0.01), averaged=True)
    assert run["params"] == points  # the training trajectory is untouched
    assert run["eval_params"] == avg
    assert run["final"]["params"] == final
    at = torch.tensor(final, dtype=torch.float64)
    assert run["final"]["loss"] == pytest.approx(rosen(at[0], at[1]).item(), rel=1e-12)
    assert run["eval_params"] != run["params"]


def test_schedule_free_validation_is_at_the_averaged_point():
    spec = mse([{"label": "sf", "optimizer": {"name": "ScheduleFreeAdamW", "lr": 0.01}}])
    run = run_experiment(spec)["runs"][0]
    want = plain_model(spec, lambda p: po.ScheduleFreeAdamW(p, lr=0.01), modes=True)
    assert [e["val_loss"] for e in run["epochs"]] == pytest.approx(want, rel=1e-6)
    train_point = plain_model(spec, lambda p: po.ScheduleFreeAdamW(p, lr=0.01))
    assert want != pytest.approx(train_point, rel=1e-6)  # the difference is visible


# ---------------------------------------------------------------- 3. clipping with closures


def test_clip_grad_norm_reaches_every_closure_gradient_on_a_surface():
    def lbfgs(clip):
        run = {"label": "l", "optimizer": {"name": "LBFGS", "lr": 0.2}}
        return {**run, "clip_grad_norm": clip} if clip else run

    result = run_experiment(surface([lbfgs(None), {**lbfgs(0.5), "label": "c"}], steps=20))
    unclipped, clipped = result["runs"]
    _, _, want = plain_surface(
        lambda p: torch.optim.LBFGS(p, lr=0.2), steps=20, clip=0.5, closure=True
    )
    assert clipped["final"]["params"] == want
    assert clipped["final"]["params"] != unclipped["final"]["params"]


def test_clip_grad_norm_reaches_every_closure_gradient_on_a_model():
    spec = mse(
        [{"label": "l", "optimizer": {"name": "LBFGS", "lr": 0.1}, "clip_grad_norm": 0.05}],
        epochs=1,
    )
    run = run_experiment(spec)["runs"][0]
    want = plain_model(spec, lambda p: torch.optim.LBFGS(p, lr=0.1), clip=0.05, closure=True)
    assert [e["val_loss"] for e in run["epochs"]] == pytest.approx(want, rel=1e-6)


# ---------------------------------------------------------------- 2. exported scripts


SCHEDULERS = {
    "LambdaLR": {"lr_lambda": "0.97 ** epoch"},
    "MultiplicativeLR": {"lr_lambda": "0.98"},
    "StepLR": {"step_size": 3, "gamma": 0.5},
    "MultiStepLR": {"milestones": [2, 5]},
    "ConstantLR": {"factor": 0.5, "total_iters": 4},
    "LinearLR": {"start_factor": 0.3, "total_iters": 5},
    "ExponentialLR": {"gamma": 0.95},
    "PolynomialLR": {"total_iters": 8, "power": 2.0},
    "CosineAnnealingLR": {"T_max": 10},
    "ReduceLROnPlateau": {"patience": 1, "factor": 0.5},
    "CyclicLR": {"base_lr": 0.0005, "max_lr": 0.002, "step_size_up": 3},
    "OneCycleLR": {"max_lr": 0.002},
    "CosineAnnealingWarmRestarts": {"T_0": 4},
    "SequentialLR": {
        "milestones": [4],
        "schedulers": [
            {"name": "LinearLR", "start_factor": 0.5, "total_iters": 4},
            {"name": "ExponentialLR", "gamma": 0.9},
        ],
    },
    "ChainedScheduler": {
        "schedulers": [
            {"name": "ConstantLR", "factor": 0.5, "total_iters": 3},
            {"name": "ExponentialLR", "gamma": 0.95},
        ]
    },
}


def parity_runs() -> list[dict]:
    assert set(SCHEDULERS) == set(schedulers.catalogue())  # every scheduler is covered
    sgd = {"name": "SGD", "lr": 0.001, "momentum": 0.9}
    runs = [
        {"label": name, "optimizer": sgd, "scheduler": {"name": name, **kwargs}}
        for name, kwargs in SCHEDULERS.items()
    ]
    runs += [
        {"label": "LBFGS", "optimizer": {"name": "LBFGS", "lr": 0.1}},
        {
            "label": "Lookahead(LBFGS)",
            "optimizer": {"name": "Lookahead", "optimizer": {"name": "LBFGS", "lr": 0.1}},
        },
        {
            "label": "Lookahead(Adam)",
            "optimizer": {"name": "Lookahead", "optimizer": {"name": "Adam", "lr": 0.01}},
        },
        {
            "label": "LBFGS clipped",
            "optimizer": {"name": "LBFGS", "lr": 0.2},
            "clip_grad_norm": 0.5,
        },
        {"label": "ScheduleFreeAdamW", "optimizer": {"name": "ScheduleFreeAdamW", "lr": 0.01}},
        {"label": "Ranger21", "optimizer": {"name": "Ranger21", "lr": 0.01}},
    ]
    return runs


@pytest.mark.parametrize("problem", ["rosenbrock", "mse_regression"])
def test_exported_script_prints_what_optlab_run_prints(problem, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTLAB_MAX_RUNS", "64")
    runs = parity_runs()
    spec = surface(runs, steps=12) if problem == "rosenbrock" else mse(runs, epochs=1)
    script = export_script(spec)
    assert not re.search(r"^\s*(import|from)\s+optlab", script, re.MULTILINE)
    (tmp_path / "script.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "-I", "script.py"],  # -I: no PYTHONPATH, no cwd: optlab is not there
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert out.returncode == 0, out.stderr
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    cli = subprocess.run(
        [sys.executable, "-m", "optlab", "run", str(spec_file), "--no-store", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    result = json.loads(cli.stdout)
    want = [
        f"{r['label']}: final loss = {r['final']['loss']:.10g}"
        if r["status"] == "finished"
        else f"{r['label']}: diverged at step {r['diverged_at']}"
        for r in result["runs"]
    ]
    assert [r["status"] for r in result["runs"]].count("finished") >= len(want) - 1
    assert out.stdout.strip().splitlines() == want


# ---------------------------------------------------------------- 4. library defaults

#: curated defaults that differ from the signature on purpose, with the reason
DELIBERATE = {
    ("Ranger21", "num_iterations"): "required by the library; the run's length fills it",
}


def test_optimizer_defaults_are_the_libraries():
    wrong = []
    for name, info in optimizers.catalogue().items():
        signature = inspect.signature(info.cls.__init__).parameters
        for key, hp in info.params.items():
            if (name, key) in DELIBERATE:
                continue
            library = signature[key].default
            if library is inspect.Parameter.empty:
                wrong.append((name, key, "required"))
                continue
            if hasattr(library, "value"):  # an enum: the catalogue holds its value
                library = library.value
            if isinstance(library, list | tuple):
                library = tuple(library)
            if hp.default != library:
                wrong.append((name, key, hp.default, library))
    assert wrong == []


def test_ranger21_num_iterations_is_the_run_length():
    spec = surface([{"label": "r", "optimizer": {"name": "Ranger21", "lr": 0.01}}], steps=40)
    run = run_experiment(spec)["runs"][0]
    _, _, want = plain_surface(lambda p: po.Ranger21(p, lr=0.01, num_iterations=40), steps=40)
    assert run["final"]["params"] == want


# ---------------------------------------------------------------- 5. errors that surface late


def test_lr_lambda_list_must_match_the_groups_joining_later_included():
    runs = [
        {
            "label": "l",
            "optimizer": {"name": "SGD", "lr": 0.01},
            "param_groups": [{"params": "layer1.*", "frozen": True, "unfreeze_at_step": 3}],
            "scheduler": {"name": "LambdaLR", "lr_lambda": ["0.9 ** epoch"]},
        }
    ]
    with pytest.raises(SpecError, match=r"runs\[0\]\.scheduler\.lr_lambda.*2 group"):
        mse(runs, epochs=1)
    runs[0]["scheduler"]["lr_lambda"] = ["0.9 ** epoch", "1.0"]
    mse(runs, epochs=1)


def test_lr_lambda_length_is_refused_by_the_cli(tmp_path):
    spec = {
        "problem": {"name": "rosenbrock"},
        "steps": 5,
        "runs": [
            {
                "label": "a",
                "optimizer": {"name": "SGD", "lr": 0.001},
                "scheduler": {"name": "LambdaLR", "lr_lambda": ["1.0", "0.5"]},
            }
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, "-m", "optlab", "run", str(tmp_path / "s.json"), "--no-store", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "runs[0].scheduler.lr_lambda" in out.stderr


def test_a_scheduler_that_cannot_be_built_is_named_and_no_run_exits_2(tmp_path):
    spec = {
        "problem": {"name": "rosenbrock"},
        "steps": 5,
        "runs": [
            {
                "label": "a",
                "optimizer": {"name": "SGD", "lr": 0.001},
                # lasts 3 steps but the run steps it 5 times: torch would fail mid-run
                "scheduler": {"name": "OneCycleLR", "max_lr": 0.01, "total_steps": 3},
            }
        ],
    }
    result = run_experiment(parse_spec(spec))
    assert result["runs"][0]["message"].startswith("could not build the scheduler")
    (tmp_path / "s.json").write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, "-m", "optlab", "run", str(tmp_path / "s.json"), "--no-store", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "could not build the scheduler" in out.stderr
    ok = {"label": "b", "optimizer": {"name": "SGD", "lr": 0.001}}
    spec["runs"].append(ok)
    (tmp_path / "s.json").write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, "-m", "optlab", "run", str(tmp_path / "s.json"), "--no-store", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr  # one run started: the experiment ran


def test_an_optimizer_that_cannot_be_built_is_named():
    spec = surface(
        [{"label": "a", "optimizer": {"name": "SGD", "lr": 0.001, "nesterov": True}}], steps=3
    )
    run = run_experiment(spec)["runs"][0]
    assert run["status"] == "failed"
    assert run["message"].startswith("could not build the optimizer")
