"""The engine equals the textbook PyTorch loop, step by step (docs/architecture.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as lrs

from optlab.engine.experiment import Experiment, preview_schedule, run_experiment
from optlab.engine.records import ResultCollector
from optlab.problem import get_problem
from optlab.spec import parse_spec


def rosen(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def textbook_surface(make_opt, make_sched=None, steps=200, start=(-1.5, 2.0), closure=False):
    """The loop a user writes: one optimizer, recording each step."""
    xy = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_opt([xy])
    sched = make_sched(opt) if make_sched else None
    losses, points, lrs_seen = [], [], []
    for _ in range(steps):
        loss = rosen(xy[0], xy[1])
        losses.append(loss.item())
        points.append(xy.detach().tolist())
        lrs_seen.append([g["lr"] for g in opt.param_groups])
        opt.zero_grad()
        loss.backward()
        if closure:

            def fn():
                opt.zero_grad()
                loss = rosen(xy[0], xy[1])
                loss.backward()
                return loss

            opt.step(fn)
        else:
            opt.step()
        if isinstance(sched, lrs.ReduceLROnPlateau):
            sched.step(losses[-1])
        elif sched:
            sched.step()
    return losses, points, lrs_seen, xy.detach().tolist()


TORCH_CASES = [
    ({"name": "SGD", "lr": 1e-3}, lambda p: torch.optim.SGD(p, lr=1e-3)),
    (
        {"name": "sgd", "lr": 1e-3, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9),
    ),
    (
        {"name": "SGD", "lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
    (
        {"name": "SGD", "lr": 1e-3, "momentum": 0.5, "dampening": 0.1, "maximize": False},
        lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.5, dampening=0.1),
    ),
    ({"name": "Adam", "lr": 0.05}, lambda p: torch.optim.Adam(p, lr=0.05)),
    (
        {"name": "Adam", "lr": 0.05, "amsgrad": True, "betas": [0.8, 0.99]},
        lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True, betas=(0.8, 0.99)),
    ),
    (
        {"name": "Adam", "lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
        lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    ({"name": "AdamW", "lr": 0.05}, lambda p: torch.optim.AdamW(p, lr=0.05)),
    ({"name": "NAdam", "lr": 0.05}, lambda p: torch.optim.NAdam(p, lr=0.05)),
    ({"name": "RAdam", "lr": 0.005}, lambda p: torch.optim.RAdam(p, lr=0.005)),
    ({"name": "Adamax", "lr": 0.05}, lambda p: torch.optim.Adamax(p, lr=0.05)),
    ({"name": "Adagrad", "lr": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ({"name": "Adadelta", "lr": 1.0}, lambda p: torch.optim.Adadelta(p, lr=1.0)),
    ({"name": "RMSprop", "lr": 0.01}, lambda p: torch.optim.RMSprop(p, lr=0.01)),
    (
        {"name": "RMSprop", "lr": 0.01, "momentum": 0.5, "centered": True},
        lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    ),
    ({"name": "Rprop", "lr": 0.01}, lambda p: torch.optim.Rprop(p, lr=0.01)),
    ({"name": "ASGD", "lr": 1e-3}, lambda p: torch.optim.ASGD(p, lr=1e-3)),
]


def surface_spec(optimizer, scheduler=None, steps=200, **extra):
    run = {"label": "r", "optimizer": optimizer}
    if scheduler:
        run["scheduler"] = scheduler
    return parse_spec({"problem": {"name": "rosenbrock"}, "steps": steps, "runs": [run], **extra})


@pytest.mark.parametrize(
    ("opt_spec", "make"),
    TORCH_CASES,
    ids=[c[0]["name"] + str(i) for i, c in enumerate(TORCH_CASES)],
)
def test_torch_optimizers_equal_textbook_loop(opt_spec, make):
    result = run_experiment(surface_spec(opt_spec))
    run = result["runs"][0]
    losses, points, lrs_seen, final = textbook_surface(make)
    assert run["status"] == "finished"
    assert run["loss"] == losses
    assert run["params"] == points
    assert run["lr"] == lrs_seen
    assert run["final"]["params"] == final


def test_lbfgs_with_closure_equals_textbook():
    result = run_experiment(surface_spec({"name": "LBFGS", "lr": 0.5}, steps=30))
    _losses, points, _, final = textbook_surface(
        lambda p: torch.optim.LBFGS(p, lr=0.5), steps=30, closure=True
    )
    assert result["runs"][0]["params"] == points
    assert result["runs"][0]["final"]["params"] == final


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("AdaBound", lambda po, p: po.AdaBound(p, lr=0.01)),
        ("Lion", lambda po, p: po.Lion(p, lr=0.01)),
        ("SWATS", lambda po, p: po.SWATS(p, lr=0.01)),
        ("MADGRAD", lambda po, p: po.MADGRAD(p, lr=0.01)),
        ("AdaBelief", lambda po, p: po.AdaBelief(p, lr=0.01)),
        ("Prodigy", lambda po, p: po.Prodigy(p, lr=0.01)),
        ("ScheduleFreeAdamW", lambda po, p: po.ScheduleFreeAdamW(p, lr=0.01)),
        ("Adan", lambda po, p: po.Adan(p, lr=0.01)),
        ("Ranger", lambda po, p: po.Ranger(p, lr=0.01)),
    ],
)
def test_pytorch_optimizer_extras_equal_textbook(name, make):
    import pytorch_optimizer as po

    result = run_experiment(surface_spec({"name": name, "lr": 0.01}, steps=100))
    _, points, _, _ = textbook_surface(lambda p: make(po, p), steps=100)
    run = result["runs"][0]
    if run["status"] == "diverged":  # the engine stops there; the textbook loop runs on
        assert run["params"] == points[: run["diverged_at"]] and run["diverged_at"] > 2
    else:
        assert run["params"] == points


def test_lookahead_wraps_inner_optimizer():
    import pytorch_optimizer as po

    spec = surface_spec(
        {"name": "Lookahead", "k": 5, "alpha": 0.5, "optimizer": {"name": "Adam", "lr": 0.05}},
        steps=60,
    )
    result = run_experiment(spec)
    _, points, _, _ = textbook_surface(
        lambda p: po.Lookahead(torch.optim.Adam(p, lr=0.05), k=5, alpha=0.5), steps=60
    )
    assert result["runs"][0]["params"] == points


SCHEDULE_CASES = [
    (
        {"name": "MultiplicativeLR", "lr_lambda": "0.99"},
        lambda o: lrs.MultiplicativeLR(o, lambda epoch: 0.99),
    ),
    (
        {"name": "MultiStepLR", "milestones": [30, 80], "gamma": 0.3},
        lambda o: lrs.MultiStepLR(o, [30, 80], 0.3),
    ),
    (
        {"name": "ConstantLR", "factor": 0.5, "total_iters": 40},
        lambda o: lrs.ConstantLR(o, 0.5, 40),
    ),
    (
        {"name": "LinearLR", "start_factor": 0.2, "total_iters": 60},
        lambda o: lrs.LinearLR(o, start_factor=0.2, total_iters=60),
    ),
    ({"name": "ExponentialLR", "gamma": 0.98}, lambda o: lrs.ExponentialLR(o, 0.98)),
    ({"name": "CosineAnnealingLR", "T_max": 50}, lambda o: lrs.CosineAnnealingLR(o, T_max=50)),
    (
        {"name": "OneCycleLR", "max_lr": 0.002},
        lambda o: lrs.OneCycleLR(o, max_lr=0.002, total_steps=200),
    ),
    (
        {"name": "ReduceLROnPlateau", "patience": 5, "factor": 0.5},
        lambda o: lrs.ReduceLROnPlateau(o, patience=5, factor=0.5),
    ),
    (
        {"name": "LambdaLR", "lr_lambda": "0.95 ** epoch"},
        lambda o: lrs.LambdaLR(o, lambda epoch: 0.95**epoch),
    ),
    ({"name": "StepLR", "step_size": 30, "gamma": 0.5}, lambda o: lrs.StepLR(o, 30, 0.5)),
    (
        {"name": "PolynomialLR", "total_iters": 100, "power": 2.0},
        lambda o: lrs.PolynomialLR(o, 100, 2.0),
    ),
    (
        {"name": "CyclicLR", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 20},
        lambda o: lrs.CyclicLR(o, 1e-4, 1e-3, step_size_up=20),  # torch default: cycles momentum
    ),
    (
        {"name": "CosineAnnealingWarmRestarts", "T_0": 10, "T_mult": 2},
        lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2),
    ),
    (
        {
            "name": "SequentialLR",
            "milestones": [50],
            "schedulers": [
                {"name": "LinearLR", "start_factor": 0.1, "total_iters": 50},
                {"name": "CosineAnnealingLR", "T_max": 150},
            ],
        },
        lambda o: lrs.SequentialLR(
            o,
            [
                lrs.LinearLR(o, start_factor=0.1, total_iters=50),
                lrs.CosineAnnealingLR(o, T_max=150),
            ],
            milestones=[50],
        ),
    ),
    (
        {
            "name": "ChainedScheduler",
            "schedulers": [
                {"name": "ConstantLR", "factor": 0.5, "total_iters": 20},
                {"name": "ExponentialLR", "gamma": 0.99},
            ],
        },
        lambda o: lrs.ChainedScheduler(
            [lrs.ConstantLR(o, factor=0.5, total_iters=20), lrs.ExponentialLR(o, gamma=0.99)],
            optimizer=o,
        ),
    ),
]


@pytest.mark.parametrize(
    ("sched_spec", "make"), SCHEDULE_CASES, ids=[c[0]["name"] for c in SCHEDULE_CASES]
)
def test_schedules_equal_textbook_and_preview(sched_spec, make):
    opt = {"name": "SGD", "lr": 1e-3, "momentum": 0.9}
    spec = surface_spec(opt, sched_spec)
    run = run_experiment(spec)["runs"][0]
    _losses, points, lrs_seen, _ = textbook_surface(
        lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9), make
    )
    assert run["lr"] == lrs_seen
    assert run["params"] == points
    if sched_spec["name"] != "ReduceLROnPlateau":  # the preview feeds it a flat loss instead
        assert preview_schedule(spec)["runs"][0]["lr"] == lrs_seen


def test_runs_are_evaluated_together_yet_independent():
    """Six runs stepped in one graph equal six separate textbook loops."""
    cases = TORCH_CASES[:6]
    spec = parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": 150,
            "runs": [{"label": f"r{i}", "optimizer": c[0]} for i, c in enumerate(cases)],
        }
    )
    result = run_experiment(spec)
    for run, (_, make) in zip(result["runs"], cases, strict=True):
        assert run["params"] == textbook_surface(make, steps=150)[1]


def test_divergence_is_marked_and_other_runs_finish():
    spec = parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": 300,
            "runs": [
                {"label": "big", "optimizer": {"name": "SGD", "lr": 0.1}},
                {"label": "ok", "optimizer": {"name": "Adam", "lr": 0.01}},
            ],
        }
    )
    big, ok = run_experiment(spec)["runs"]
    assert big["status"] == "diverged"
    k = big["diverged_at"]
    assert 0 < k < 300
    assert len(big["loss"]) == k and all(math.isfinite(v) for v in big["loss"])
    assert ok["status"] == "finished" and len(ok["loss"]) == 300


def test_noise_is_seeded_and_paired():
    spec = lambda seed: parse_spec(  # noqa: E731
        {
            "problem": {"name": "rosenbrock", "noise": 1.0},
            "steps": 50,
            "seed": seed,
            "runs": [{"label": "a", "optimizer": {"name": "SGD", "lr": 1e-3}}],
        }
    )
    a, b, c = (run_experiment(spec(s))["runs"][0]["params"] for s in (0, 0, 1))
    assert a == b and a != c


def test_batches_stream_in_order():
    exp = Experiment(surface_spec({"name": "Adam", "lr": 0.05}, steps=3000))
    starts = [c.start for b in exp.batches(flush_seconds=0.0) for c in b.chunks]
    assert starts == sorted(starts) and len(starts) > 1


def test_resume_from_checkpoint_is_bit_identical_surface():
    spec = parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": 400,
            "runs": [
                {
                    "label": "a",
                    "optimizer": {"name": "Adam", "lr": 0.05},
                    "scheduler": {"name": "StepLR", "step_size": 50, "gamma": 0.7},
                },
                {"label": "b", "optimizer": {"name": "SGD", "lr": 1e-3, "momentum": 0.9}},
            ],
        }
    )
    whole = run_experiment(spec)
    exp = Experiment(spec)
    collector = ResultCollector(["a", "b"])
    for batch in exp.batches(flush_seconds=0.0):
        collector.add(batch)
        if exp.steps_done >= 150:
            break
    resumed = Experiment.resume(spec, exp.checkpoint_bytes())
    for batch in resumed.batches(flush_seconds=0.0):
        collector.add(batch)
    assert collector.run_dicts() == whole["runs"]


def mse_spec(runs, epochs=2, **problem):
    return parse_spec(
        {
            "problem": {"name": "mse_regression", "n_samples": 200, **problem},
            "epochs": epochs,
            "batch_size": 32,
            "seed": 3,
            "runs": runs,
        }
    )


def textbook_model(spec, make_opt, make_sched=None):
    """The usual loop over the same data, weights and batch order as the engine."""
    problem = spec.problem.build()
    data = problem.load_data(torch.device("cpu"), spec.seed)
    torch.manual_seed(spec.seed)
    model = problem.build_model()
    opt = make_opt(model)
    sched = make_sched(opt) if make_sched else None
    n, bs = data.n_train, spec.batch_size
    losses = []
    for epoch in range(spec.epochs):
        gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        for b in range(math.ceil(n / bs)):
            idx = perm[b * bs : (b + 1) * bs]
            loss = torch.nn.functional.mse_loss(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            losses.append(loss.item())
    return losses, model


def test_model_run_equals_textbook_and_per_layer_lrs_are_recorded():
    """The seed article's example: layer1 at 0.1, layer2 at 0.2 (two LR curves)."""
    spec = mse_spec(
        [
            {
                "label": "layers",
                "optimizer": {"name": "SGD", "lr": 0.01},
                "param_groups": [
                    {"params": "layer1.*", "lr": 0.1},
                    {"params": "layer2.*", "lr": 0.2},
                ],
                "scheduler": {"name": "ExponentialLR", "gamma": 0.99},
            }
        ]
    )
    run = run_experiment(spec)["runs"][0]
    losses, _ = textbook_model(
        spec,
        lambda m: torch.optim.SGD(
            [
                {"params": m.layer1.parameters(), "lr": 0.1},
                {"params": m.layer2.parameters(), "lr": 0.2},
            ],
            lr=0.01,
        ),
        lambda o: lrs.ExponentialLR(o, 0.99),
    )
    assert run["loss"] == pytest.approx(losses, rel=1e-6)
    assert run["groups"] == ["layer1.*", "layer2.*"]
    lr = np.array(run["lr"])
    assert lr.shape == (len(losses), 2)
    assert lr[0].tolist() == [0.1, 0.2] and lr[1].tolist() == [0.1 * 0.99, 0.2 * 0.99]
    assert len(run["epochs"]) == 2 and run["final"]["loss"] == run["epochs"][-1]["val_loss"]


def test_frozen_layer_does_not_move_then_unfreezes_with_the_schedule():
    spec = mse_spec(
        [
            {
                "label": "f",
                "optimizer": {"name": "Adam", "lr": 0.01},
                "param_groups": [{"params": "layer1.*", "frozen": True, "unfreeze_at_step": 7}],
                "scheduler": {"name": "StepLR", "step_size": 3, "gamma": 0.5},
            }
        ],
        epochs=3,
    )
    exp = Experiment(spec)
    model = exp.runner.runs[0].model
    before = model.layer1.weight.detach().clone()
    it = exp.batches(flush_seconds=0.0)
    while exp.steps_done < 7:
        next(it)
    assert torch.equal(model.layer1.weight, before)  # frozen for updates 0..6
    for _ in it:
        pass
    assert not torch.equal(model.layer1.weight, before)
    lr = preview_schedule(spec)["runs"][0]["lr"]
    assert lr[6] == [0.01 * 0.5**2, None]
    assert lr[7] == [0.01 * 0.5**2, 0.01 * 0.5**2]  # the joining group gets the schedule too


def test_model_resume_bit_identical():
    spec = mse_spec(
        [
            {"label": "a", "optimizer": {"name": "Adam", "lr": 0.01}},
            {"label": "b", "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9}},
        ],
        epochs=3,
    )
    whole = run_experiment(spec)["runs"]
    exp = Experiment(spec)
    collector = ResultCollector(["a", "b"])
    for batch in exp.batches(flush_seconds=0.0):
        collector.add(batch)
        if exp.steps_done >= 9:
            break
    resumed = Experiment.resume(spec, exp.checkpoint_bytes())
    for batch in resumed.batches(flush_seconds=0.0):
        collector.add(batch)
    assert collector.run_dicts() == whole


def test_paired_runs_share_initial_weights():
    spec = mse_spec(
        [
            {"label": "a", "optimizer": {"name": "SGD", "lr": 0.0}},
            {"label": "b", "optimizer": {"name": "Adam", "lr": 0.0}},
        ],
        epochs=1,
    )
    a, b = run_experiment(spec)["runs"]
    assert a["loss"] == b["loss"]  # lr 0: same weights, same batches -> same losses


def test_registry_lists_problem_kinds():
    assert get_problem("ROSENBROCK").kind == "surface"
    assert get_problem("cifar10_cnn").kind == "model"
