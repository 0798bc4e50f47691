"""The scheduler catalogue and builder give exactly the lrs of schedulers written by hand."""

from __future__ import annotations

import inspect
import io
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch.optim import lr_scheduler as L

from optlab.catalog import schedulers
from optlab.catalog.schedulers import build_scheduler, describe, get_info, scheduler_steps
from optlab.spec import SchedulerSpec

Opt = torch.optim.Optimizer


def make_opt(lrs: tuple[float, ...] = (0.1, 0.05), kind: str = "sgd") -> Opt:
    """A real optimizer over tiny parameters, one param group per lr."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if kind == "adagrad":
        return torch.optim.Adagrad(groups, lr=lrs[0])
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def trace(sched: Any, opt: Opt, n: int, metrics: list[float] | None = None) -> list[list[Any]]:
    """The (lr, momentum) of every group used by each of ``n`` updates."""
    out = []
    for t in range(n):
        out.append([(g["lr"], g.get("momentum")) for g in opt.param_groups])
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[t])
    return out


Textbook = Callable[[Opt], Any]
LOSSES = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]

CASES: list[tuple[str, dict[str, Any], Textbook, int]] = [
    (
        "LambdaLR",
        {"name": "LambdaLR", "lr_lambda": "0.95 ** epoch"},
        lambda o: L.LambdaLR(o, lambda epoch: 0.95**epoch),
        30,
    ),
    (
        "LambdaLR-per-group",
        {"name": "lambdalr", "lr_lambda": ["0.95 ** epoch", "1 / (1 + epoch)"]},
        lambda o: L.LambdaLR(o, [lambda e: 0.95**e, lambda e: 1 / (1 + e)]),
        20,
    ),
    (
        "MultiplicativeLR",
        {"name": "MultiplicativeLR", "lr_lambda": "0.9"},
        lambda o: L.MultiplicativeLR(o, lambda e: 0.9),
        20,
    ),
    (
        "StepLR",
        {"name": "StepLR", "step_size": 3, "gamma": 0.5},
        lambda o: L.StepLR(o, step_size=3, gamma=0.5),
        20,
    ),
    (
        "MultiStepLR",
        {"name": "MultiStepLR", "milestones": [2, 5, 7], "gamma": 0.3},
        lambda o: L.MultiStepLR(o, milestones=[2, 5, 7], gamma=0.3),
        12,
    ),
    (
        "ConstantLR",
        {"name": "ConstantLR", "factor": 0.5, "total_iters": 4},
        lambda o: L.ConstantLR(o, factor=0.5, total_iters=4),
        10,
    ),
    (
        "LinearLR",
        {"name": "LinearLR", "start_factor": 0.2, "end_factor": 0.9, "total_iters": 6},
        lambda o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6),
        10,
    ),
    (
        "ExponentialLR",
        {"name": "ExponentialLR", "gamma": 0.9},
        lambda o: L.ExponentialLR(o, gamma=0.9),
        20,
    ),
    (
        "PolynomialLR",
        {"name": "PolynomialLR", "total_iters": 8, "power": 2.0},
        lambda o: L.PolynomialLR(o, total_iters=8, power=2.0),
        12,
    ),
    (
        "CosineAnnealingLR",
        {"name": "CosineAnnealingLR", "T_max": 10, "eta_min": 0.001},
        lambda o: L.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        25,
    ),
    (
        "CosineAnnealingWarmRestarts",
        {"name": "CosineAnnealingWarmRestarts", "T_0": 10, "T_mult": 2},
        lambda o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2),
        75,
    ),
    (
        "CyclicLR-triangular",
        {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4},
        lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
        30,
    ),
    (
        "CyclicLR-exp_range",
        {
            "name": "CyclicLR",
            "base_lr": [0.01, 0.005],
            "max_lr": 0.1,
            "step_size_up": 3,
            "step_size_down": 5,
            "mode": "exp_range",
            "gamma": 0.97,
            "cycle_momentum": True,
        },
        lambda o: L.CyclicLR(
            o,
            base_lr=[0.01, 0.005],
            max_lr=0.1,
            step_size_up=3,
            step_size_down=5,
            mode="exp_range",
            gamma=0.97,
            cycle_momentum=True,
        ),
        40,
    ),
    (
        "OneCycleLR",
        {"name": "OneCycleLR", "max_lr": 0.5},
        lambda o: L.OneCycleLR(o, max_lr=0.5, total_steps=50),
        50,
    ),
    (
        "OneCycleLR-epochs",
        {
            "name": "OneCycleLR",
            "max_lr": [0.5, 0.2],
            "epochs": 4,
            "steps_per_epoch": 10,
            "anneal_strategy": "linear",
            "three_phase": True,
        },
        lambda o: L.OneCycleLR(
            o,
            max_lr=[0.5, 0.2],
            epochs=4,
            steps_per_epoch=10,
            anneal_strategy="linear",
            three_phase=True,
        ),
        40,
    ),
    (
        "SequentialLR",
        {
            "name": "SequentialLR",
            "milestones": [5],
            "schedulers": [
                {"name": "LinearLR", "start_factor": 0.1, "total_iters": 5},
                {"name": "CosineAnnealingLR", "T_max": 20},
            ],
        },
        lambda o: L.SequentialLR(
            o,
            schedulers=[
                L.LinearLR(o, start_factor=0.1, total_iters=5),
                L.CosineAnnealingLR(o, T_max=20),
            ],
            milestones=[5],
        ),
        30,
    ),
    (
        "ChainedScheduler",
        {
            "name": "ChainedScheduler",
            "schedulers": [
                {"name": "ConstantLR", "factor": 0.5, "total_iters": 3},
                {"name": "ExponentialLR", "gamma": 0.9},
            ],
        },
        lambda o: L.ChainedScheduler(
            [L.ConstantLR(o, factor=0.5, total_iters=3), L.ExponentialLR(o, gamma=0.9)], optimizer=o
        ),
        15,
    ),
    (
        "SequentialLR-OneCycle-fits-its-segment",
        {
            "name": "SequentialLR",
            "milestones": [10],
            "schedulers": [
                {"name": "ConstantLR", "factor": 0.5, "total_iters": 10},
                {"name": "OneCycleLR", "max_lr": 0.3},
            ],
        },
        lambda o: L.SequentialLR(
            o,
            schedulers=[
                L.ConstantLR(o, factor=0.5, total_iters=10),
                L.OneCycleLR(o, max_lr=0.3, total_steps=30),
            ],
            milestones=[10],
        ),
        40,
    ),
    (
        "warmup",
        {"name": "CosineAnnealingLR", "T_max": 20, "warmup": {"steps": 5, "start_factor": 0.1}},
        lambda o: L.SequentialLR(
            o,
            schedulers=[
                L.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5),
                L.CosineAnnealingLR(o, T_max=20),
            ],
            milestones=[5],
        ),
        30,
    ),
]


@pytest.mark.parametrize(
    ("spec", "textbook", "n"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_built_scheduler_matches_textbook(spec: dict[str, Any], textbook: Textbook, n: int) -> None:
    built_opt, hand_opt = make_opt(), make_opt()
    built = build_scheduler(SchedulerSpec.model_validate(spec), built_opt, total_steps=n)
    hand = textbook(hand_opt)
    assert type(built) is type(hand)
    got, want = trace(built, built_opt, n), trace(hand, hand_opt, n)
    assert got == want
    assert len({tuple(step) for step in got}) > 1, "the schedule should change the lr"


def test_reduce_on_plateau_fed_a_loss_sequence() -> None:
    spec = {
        "name": "ReduceLROnPlateau",
        "monitor": "loss",
        "factor": 0.5,
        "patience": 2,
        "min_lr": [0.02, 0.0],
    }
    built_opt, hand_opt = make_opt(), make_opt()
    built = build_scheduler(SchedulerSpec.model_validate(spec), built_opt, total_steps=16)
    hand = L.ReduceLROnPlateau(hand_opt, factor=0.5, patience=2, min_lr=[0.02, 0.0])
    assert type(built) is L.ReduceLROnPlateau
    got = trace(built, built_opt, len(LOSSES), LOSSES)
    assert got == trace(hand, hand_opt, len(LOSSES), LOSSES)
    assert [g[0] for g in got[-1]] == [0.02, 0.00625]  # three halvings; group 0 floored by min_lr


def test_lambda_lr_values_are_the_expression() -> None:
    opt = make_opt((0.1,))
    spec = SchedulerSpec.model_validate({"name": "LambdaLR", "lr_lambda": "0.95 ** epoch"})
    lrs = [step[0][0] for step in trace(build_scheduler(spec, opt, total_steps=10), opt, 10)]
    assert lrs == [0.1 * 0.95**t for t in range(10)]


def test_lambda_lr_state_dict_round_trip() -> None:
    spec = SchedulerSpec.model_validate({"name": "LambdaLR", "lr_lambda": "0.95 ** epoch"})
    opt = make_opt()
    sched = build_scheduler(spec, opt, total_steps=20)
    trace(sched, opt, 7)
    buffer = io.BytesIO()
    torch.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, buffer)
    assert sched.state_dict()["lr_lambdas"] == [{"text": "0.95 ** epoch"}] * 2
    rest = trace(sched, opt, 8)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    other = SchedulerSpec.model_validate({"name": "LambdaLR", "lr_lambda": "1.0"})
    opt2 = make_opt()
    resumed = build_scheduler(other, opt2, total_steps=20)
    opt2.load_state_dict(saved["opt"])
    resumed.load_state_dict(saved["sched"])  # restores the expression too
    assert trace(resumed, opt2, 8) == rest


def test_expr_lambda_pickles() -> None:
    fn = schedulers.ExprLambda("0.5 ** epoch")
    copy = pickle.loads(pickle.dumps(fn))
    assert copy(3) == fn(3) == 0.125


def test_catalogue_covers_every_torch_scheduler() -> None:
    expected = set(L.__all__) - {"LRScheduler"}
    cat = schedulers.catalogue()
    assert set(cat) == expected
    deviations = {("SequentialLR", "milestones")}  # required in torch; [] for one child
    for name, info in cat.items():
        assert info.cls is getattr(L, name) and info.description
        assert info.composite == (name in ("SequentialLR", "ChainedScheduler"))
        signature = inspect.signature(info.cls).parameters
        for key, hp in info.params.items():
            assert key in signature, (name, key)
            assert key not in ("optimizer", "last_epoch", "verbose", "schedulers")
            torch_default = signature[key].default
            if hp.required:
                assert torch_default is inspect.Parameter.empty
            elif (name, key) not in deviations:
                assert hp.default == torch_default, (name, key)
        assert set(info.params_model.model_fields) == set(info.params)


def test_formulas_where_there_is_one() -> None:
    cat = schedulers.catalogue()
    assert cat["StepLR"].formula and "gamma" in cat["StepLR"].formula
    assert cat["SequentialLR"].formula == ""


def test_canonical_name_is_case_insensitive_and_suggests() -> None:
    assert schedulers.canonical_name("steplr") == "StepLR"
    assert get_info("onecyclelr").name == "OneCycleLR"
    with pytest.raises(ValueError, match="did you mean CosineAnnealingLR"):
        schedulers.canonical_name("CosineAnealingLR")
    with pytest.raises(ValidationError, match="did you mean StepLR"):
        SchedulerSpec.model_validate({"name": "StepLRR", "step_size": 3})


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        ({"name": "StepLR", "step_size": 3, "gama": 0.5}, "gama", "extra"),
        ({"name": "StepLR", "step_size": 0}, "step_size", "greater than or equal to 1"),
        ({"name": "StepLR"}, "step_size", "required"),
        ({"name": "MultiStepLR", "milestones": [5, 3]}, "milestones", "strictly increasing"),
        (
            {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "mode": "sine"},
            "mode",
            "triangular",
        ),
        ({"name": "LambdaLR", "lr_lambda": "__import__('os')"}, "lr_lambda", ""),
        ({"name": "LambdaLR", "lr_lambda": "1 / epoch"}, "lr_lambda", "epoch 0"),
    ],
)
def test_bad_kwargs_rejected_naming_the_key(spec: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        SchedulerSpec.model_validate(spec)
    errors = info.value.errors()
    assert any(key in err["loc"] for err in errors), errors
    assert words.lower() in str(info.value).lower()


def test_bad_lambda_rejected_by_params_model_with_the_expr_message() -> None:
    from optlab.catalog.safe_expr import ExprError, compile_expr

    bad = "__import__('os')"
    with pytest.raises(ExprError) as expected:
        compile_expr(bad, ["epoch"])
    model = get_info("LambdaLR").params_model
    with pytest.raises(ValidationError) as info:
        model.model_validate({"lr_lambda": bad})
    assert str(expected.value) in str(info.value)
    with pytest.raises(ValidationError):
        get_info("MultiplicativeLR").params_model.model_validate({"lr_lambda": ["0.9", bad]})


def test_structure_errors() -> None:
    nested = SchedulerSpec.model_validate(
        {
            "name": "ChainedScheduler",
            "schedulers": [{"name": "ExponentialLR", "gamma": 0.9}, {"name": "ReduceLROnPlateau"}],
        }
    )
    with pytest.raises(ValueError, match=r"schedulers\[1\].name: ChainedScheduler cannot hold"):
        build_scheduler(nested, make_opt(), total_steps=10)
    inner = SchedulerSpec.model_validate(
        {
            "name": "SequentialLR",
            "milestones": [3],
            "schedulers": [
                {"name": "ConstantLR"},
                {"name": "StepLR", "step_size": 2, "interval": "epoch"},
            ],
        }
    )
    assert schedulers.check_structure(inner) == [
        ("schedulers[1].interval", "set interval on the outer SequentialLR only")
    ]
    warm = SchedulerSpec.model_validate({"name": "ReduceLROnPlateau", "warmup": {"steps": 3}})
    with pytest.raises(ValueError, match="warmup"):
        build_scheduler(warm, make_opt(), total_steps=10)
    short = SchedulerSpec.model_validate({"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 5})
    with pytest.raises(ValueError, match="lasts 5 steps but the run steps it 10 times"):
        build_scheduler(short, make_opt(), total_steps=10)


def test_momentum_cycling_defaults_are_torchs() -> None:
    """cycle_momentum defaults to True as in torch: SGD's momentum cycles like torch's own."""
    cyclic = SchedulerSpec.model_validate({"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1})
    onecycle = SchedulerSpec.model_validate({"name": "OneCycleLR", "max_lr": 0.1})
    opt, hand_opt = make_opt(), make_opt()
    got = trace(build_scheduler(cyclic, opt, total_steps=10), opt, 5)
    want = trace(L.CyclicLR(hand_opt, base_lr=0.01, max_lr=0.1), hand_opt, 5)
    assert got == want and len({s[0][1] for s in got}) > 1
    opt, hand_opt = make_opt(), make_opt()
    got = trace(build_scheduler(onecycle, opt, total_steps=10), opt, 10)
    want = trace(L.OneCycleLR(hand_opt, max_lr=0.1, total_steps=10), hand_opt, 10)
    assert got == want


@pytest.mark.parametrize("name", ["CyclicLR", "OneCycleLR"])
def test_cycle_momentum_without_momentum_is_refused_at_validation(name: str) -> None:
    """torch raises on an optimizer without momentum/betas; the spec says so, naming the field."""
    from optlab.spec import SpecError, parse_spec

    sched = {"name": name, "max_lr": 0.1, **({"base_lr": 0.01} if name == "CyclicLR" else {})}
    data = {
        "problem": {"name": "rosenbrock"},
        "steps": 10,
        "runs": [{"label": "a", "optimizer": {"name": "Adagrad"}, "scheduler": sched}],
    }
    with pytest.raises(SpecError, match=r"runs\[0\]\.scheduler\.cycle_momentum.*false"):
        parse_spec(data)
    data["runs"][0]["scheduler"] = {**sched, "cycle_momentum": False}
    parse_spec(data)


def test_scheduler_steps() -> None:
    assert scheduler_steps("step", 500, None, None) == 500
    assert scheduler_steps("step", None, 3, 100) == 300
    assert scheduler_steps("epoch", None, 3, 100) == 3
    assert scheduler_steps("epoch", 200, None, None) == 200
    with pytest.raises(ValueError):
        scheduler_steps("step", None, 3, None)
    with pytest.raises(ValueError):
        scheduler_steps("batch", 10, None, None)


def test_describe() -> None:
    seq = SchedulerSpec.model_validate(
        {
            "name": "SequentialLR",
            "milestones": [50],
            "schedulers": [
                {"name": "LinearLR", "start_factor": 0.1, "total_iters": 50},
                {"name": "CosineAnnealingLR", "T_max": 70},
            ],
        }
    )
    assert describe(seq) == "SequentialLR(LinearLR → CosineAnnealingLR @50)"
    step = SchedulerSpec.model_validate(
        {"name": "steplr", "step_size": 100, "gamma": 0.5, "interval": "epoch"}
    )
    assert describe(step) == "StepLR(step_size=100, gamma=0.5) per epoch"
    warm = SchedulerSpec.model_validate(
        {"name": "CosineAnnealingLR", "T_max": 9, "warmup": {"steps": 5}}
    )
    assert describe(warm) == "warmup 5 → CosineAnnealingLR(T_max=9)"
    plateau = SchedulerSpec.model_validate({"name": "ReduceLROnPlateau", "monitor": "val_loss"})
    assert describe(plateau) == "ReduceLROnPlateau() on val_loss"
