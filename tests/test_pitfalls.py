"""``optlab check``: every pitfall warning, the presets, ``scheduler_first`` (issue 12 §4, §5)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

from optlab.cli.main import main
from optlab.engine.experiment import preview_schedule, run_experiment
from optlab.engine.pitfalls import check_spec
from optlab.spec import SpecError, parse_spec
from optlab.ui.presets import PRESETS

# mse_regression: 800 training examples, batch 32 -> 25 minibatches per epoch, 20 epochs
MODEL = {"problem": {"name": "mse_regression"}, "epochs": 20, "batch_size": 32}
SURFACE = {"problem": {"name": "rosenbrock"}, "steps": 200}


def _fields(data: dict[str, Any], *runs: dict[str, Any]) -> list[str]:
    spec = parse_spec({**data, "runs": [{"label": f"r{i}", **r} for i, r in enumerate(runs)]})
    return [p.field for p in check_spec(spec)]


def _sgd(**kw: Any) -> dict[str, Any]:
    return {"optimizer": {"name": "SGD", "lr": 0.01, **kw}}


@pytest.mark.parametrize(
    ("scheduler", "field"),
    [
        ({"name": "StepLR", "step_size": 7, "gamma": 0.1}, "step_size"),
        ({"name": "MultiStepLR", "milestones": [10, 15]}, "milestones"),
        ({"name": "ExponentialLR", "gamma": 0.9}, "gamma"),
        ({"name": "LambdaLR", "lr_lambda": "0.95 ** epoch"}, "lr_lambda"),
        ({"name": "MultiplicativeLR", "lr_lambda": "0.95"}, "lr_lambda"),
    ],
)
def test_a_schedule_written_in_epochs_stepped_per_minibatch(scheduler, field):
    assert _fields(MODEL, {**_sgd(), "scheduler": scheduler}) == [f"runs[0].scheduler.{field}"]
    # the same schedule stepped per epoch, as meant: no warning
    per_epoch = {**scheduler, "interval": "epoch"}
    assert _fields(MODEL, {**_sgd(), "scheduler": per_epoch}) == []


def test_a_schedule_sized_in_steps_is_not_mistaken_for_epochs():
    sched = {"name": "StepLR", "step_size": 100, "gamma": 0.5}
    assert _fields(MODEL, {**_sgd(), "scheduler": sched}) == []
    assert _fields(MODEL, {**_sgd(), "scheduler": {"name": "ExponentialLR", "gamma": 0.999}}) == []


def test_cosine_shorter_than_the_run():
    sched = {"name": "CosineAnnealingLR", "T_max": 50}
    assert _fields(SURFACE, {**_sgd(), "scheduler": sched}) == ["runs[0].scheduler.T_max"]
    assert _fields(SURFACE, {**_sgd(), "scheduler": {**sched, "T_max": 200}}) == []


def test_onecycle_longer_than_the_run():
    sched = {"name": "OneCycleLR", "max_lr": 0.01, "total_steps": 300, "cycle_momentum": False}
    assert _fields(SURFACE, {**_sgd(), "scheduler": sched}) == ["runs[0].scheduler.total_steps"]


def test_sequential_milestone_past_the_end():
    sched = {
        "name": "SequentialLR",
        "milestones": [250],
        "schedulers": [{"name": "ConstantLR"}, {"name": "ExponentialLR", "gamma": 0.9}],
    }
    assert _fields(SURFACE, {**_sgd(), "scheduler": sched}) == ["runs[0].scheduler.milestones"]


def test_warmup_longer_than_the_run():
    sched = {"name": "CosineAnnealingLR", "T_max": 200, "warmup": {"steps": 250}}
    assert "runs[0].scheduler.warmup.steps" in _fields(SURFACE, {**_sgd(), "scheduler": sched})


def test_plateau_on_the_minibatch_loss_where_a_validation_loss_exists():
    sched = {"name": "ReduceLROnPlateau"}
    assert _fields(MODEL, {**_sgd(), "scheduler": sched}) == ["runs[0].scheduler.monitor"]
    good = {**sched, "monitor": "val_loss", "interval": "epoch"}
    assert _fields(MODEL, {**_sgd(), "scheduler": good}) == []
    assert _fields(SURFACE, {**_sgd(), "scheduler": sched}) == []  # no validation loss there


def test_cycle_momentum_on_sgd_without_momentum():
    sched = {"name": "CyclicLR", "base_lr": 0.001, "max_lr": 0.01}
    assert _fields(SURFACE, {**_sgd(), "scheduler": sched}) == ["runs[0].scheduler.cycle_momentum"]
    assert _fields(SURFACE, {**_sgd(momentum=0.9), "scheduler": sched}) == []


def test_cycle_momentum_on_an_optimizer_without_momentum_is_an_error():
    run = {
        "label": "a",
        "optimizer": {"name": "Adagrad", "lr": 0.01},
        "scheduler": {"name": "CyclicLR", "base_lr": 0.001, "max_lr": 0.01},
    }
    with pytest.raises(SpecError) as err:
        parse_spec({**SURFACE, "runs": [run]})
    assert "runs[0].scheduler.cycle_momentum" in str(err.value)


def test_adam_weight_decay():
    adam = {"optimizer": {"name": "Adam", "lr": 0.01, "weight_decay": 0.1}}
    assert _fields(SURFACE, adam) == ["runs[0].optimizer.weight_decay"]
    adamw = {"optimizer": {"name": "AdamW", "lr": 0.01, "weight_decay": 0.1}}
    assert _fields(SURFACE, adamw) == []


def test_lr_above_the_stability_limit_of_a_quadratic():
    quad = {"problem": {"name": "quadratic"}, "steps": 100}  # λ_max = 1: limit 2 for SGD
    assert _fields(quad, {"optimizer": {"name": "SGD", "lr": 2.1}}) == ["runs[0].optimizer.lr"]
    assert _fields(quad, {"optimizer": {"name": "SGD", "lr": 1.9}}) == []
    # heavy ball: (2 + 2β)/λ_max = 3.6
    assert _fields(quad, {"optimizer": {"name": "SGD", "lr": 3.0, "momentum": 0.8}}) == []
    # a warmup that climbs above the limit counts too
    warm = {"name": "LinearLR", "start_factor": 0.5, "total_iters": 10}
    over = {"optimizer": {"name": "SGD", "lr": 2.5}, "scheduler": warm}
    assert _fields(quad, over) == ["runs[0].optimizer.lr"]


def test_frozen_group_that_never_unfreezes():
    groups = [{"params": "layer1.*", "frozen": True}]
    assert _fields(MODEL, {**_sgd(), "param_groups": groups}) == ["runs[0].param_groups[0].frozen"]
    later = [{"params": "layer1.*", "frozen": True, "unfreeze_at_step": 10}]
    assert _fields(MODEL, {**_sgd(), "param_groups": later}) == []


def test_lr_on_an_optimizer_that_adapts_its_own():
    assert _fields(SURFACE, {"optimizer": {"name": "Prodigy", "lr": 0.001}}) == [
        "runs[0].optimizer.lr"
    ]
    assert _fields(SURFACE, {"optimizer": {"name": "Prodigy", "lr": 1.0}}) == []
    groups = [{"params": "layer1.*", "lr": 0.01}]
    run = {"optimizer": {"name": "DAdaptAdam", "lr": 1.0}, "param_groups": groups}
    assert _fields(MODEL, run) == ["runs[0].param_groups[0].lr"]


def test_scheduler_first_is_named():
    sched = {"name": "StepLR", "step_size": 50, "gamma": 0.5}
    run = {**_sgd(), "scheduler": sched, "scheduler_first": True}
    assert _fields(SURFACE, run) == ["runs[0].scheduler_first"]


def test_scheduler_first_needs_a_schedule_that_does_not_read_the_loss():
    for run in (
        {**_sgd(), "scheduler_first": True},
        {**_sgd(), "scheduler": {"name": "ReduceLROnPlateau"}, "scheduler_first": True},
    ):
        with pytest.raises(SpecError) as err:
            parse_spec({**SURFACE, "runs": [{"label": "a", **run}]})
        assert "runs[0].scheduler_first" in str(err.value)


ABOUT = {"adam_wd_vs_adamw": {"weight_decay"}, "schedules_scheduler_first": {"scheduler_first"}}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_no_preset_warns_unless_it_is_about_that_pitfall(preset):
    fields = {p.field.rsplit(".", 1)[-1] for p in check_spec(parse_spec(preset.spec))}
    assert fields == ABOUT.get(preset.key, set())


# ---- scheduler_first against the plain PyTorch loop ------------------------------------------


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_scheduler_first_matches_the_old_pytorch_loop():
    spec = parse_spec(
        {
            "problem": {"name": "quadratic", "condition": 10.0, "angle": 30.0},
            "steps": 30,
            "runs": [
                {
                    "label": "old order",
                    "optimizer": {"name": "SGD", "lr": 0.5, "momentum": 0.5},
                    "scheduler": {"name": "StepLR", "step_size": 4, "gamma": 0.5},
                    "scheduler_first": True,
                }
            ],
        }
    )
    problem = spec.problem.build()
    xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([xy], lr=0.5, momentum=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    points, lrs = [], []
    for _ in range(30):
        sched.step()  # PyTorch < 1.1: the scheduler first
        points.append(xy.detach().tolist())
        lrs.append(opt.param_groups[0]["lr"])
        loss = problem.value(xy[0], xy[1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    run = run_experiment(spec)["runs"][0]
    np.testing.assert_array_equal(run["params"], points)
    assert [row[0] for row in run["lr"]] == lrs
    assert run["final"]["params"] == xy.detach().tolist()
    # the preview agrees, and the first value of the schedule is skipped
    assert preview_schedule(spec)["runs"][0]["lr"] == run["lr"]
    normal = parse_spec({**spec.to_dict(), "runs": [{**spec.to_dict()["runs"][0]}]})
    normal.runs[0].scheduler_first = False
    shifted = [row[0] for row in preview_schedule(normal)["runs"][0]["lr"]]
    assert lrs[:-1] == shifted[1:]


def test_scheduler_first_per_epoch_on_a_model():
    data = {
        **MODEL,
        "epochs": 3,
        "runs": [
            {
                "label": "old",
                "optimizer": {"name": "SGD", "lr": 0.1},
                "scheduler": {"name": "StepLR", "step_size": 1, "gamma": 0.5, "interval": "epoch"},
                "scheduler_first": True,
            }
        ],
    }
    lr = [row[0] for row in preview_schedule(parse_spec(data))["runs"][0]["lr"]]
    assert lr[0] == lr[24] == 0.05 and lr[25] == 0.025 and lr[50] == 0.0125


# ---- the command line ------------------------------------------------------------------------


def test_check_prints_one_line_per_pitfall_and_exits_0(tmp_path, capsys):
    spec = {
        **SURFACE,
        "runs": [
            {"label": "a", "optimizer": {"name": "Adam", "lr": 0.01, "weight_decay": 0.1}},
            {**_sgd(), "label": "b", "scheduler": {"name": "CosineAnnealingLR", "T_max": 10}},
        ],
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].strip() for line in out] == [
        "runs[0].optimizer.weight_decay",
        "runs[1].scheduler.T_max",
    ]
    assert all(line.startswith("warning: ") for line in out)
    # run prints the same lines on stderr
    assert main(["run", str(path), "--no-store", "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("warning: ")] == out


def test_check_of_an_invalid_spec_exits_2_naming_the_field(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(
        json.dumps({**SURFACE, "runs": [{"label": "a", **_sgd(), "scheduler_first": 3}]})
    )
    assert main(["check", str(path)]) == 2
    assert "runs[0].scheduler_first" in capsys.readouterr().err


def test_sweep_prints_the_warnings(tmp_path, capsys):
    spec = {
        **SURFACE,
        "steps": 20,
        "runs": [{"label": "a", "optimizer": {"name": "Adam", "lr": 0.01, "weight_decay": 0.1}}],
        "sweep": {"axes": {"problem.noise": [0.0, 0.1]}},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["sweep", str(path), "--quiet", "--out", str(tmp_path / "s.json")]) == 0
    assert "warning: runs[0].optimizer.weight_decay:" in capsys.readouterr().err
