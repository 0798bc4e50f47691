"""The experiment spec: strict, round-trips, every error names its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optlab.spec import SpecError, parse_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))

COMPOSITE = {
    "problem": {"name": "cifar10_cnn", "train_limit": 64},
    "epochs": 3,
    "batch_size": 128,
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
            "param_groups": [
                {"params": "fc*", "lr": 0.05},
                {"params": "*.bias", "weight_decay": 0.0},
                {"params": "conv1.*", "frozen": True, "unfreeze_at_step": 100},
            ],
            "scheduler": {
                "name": "SequentialLR",
                "interval": "step",
                "milestones": [50],
                "schedulers": [
                    {"name": "LinearLR", "start_factor": 0.1, "total_iters": 50},
                    {"name": "CosineAnnealingLR", "T_max": 70},
                ],
            },
        },
        {"label": "Adam", "optimizer": {"name": "ADAM", "lr": 0.001, "betas": [0.9, 0.99]}},
        {
            "label": "LA",
            "optimizer": {"name": "lookahead", "k": 6, "optimizer": {"name": "radam"}},
            "scheduler": {"name": "lambdalr", "lr_lambda": "0.95 ** epoch", "warmup": {"steps": 5}},
        },
    ],
}


@pytest.mark.parametrize("data", [COMPOSITE, *(json.loads(p.read_text()) for p in EXAMPLES)])
def test_round_trip_through_json(data):
    spec = parse_spec(data)
    again = parse_spec(spec.to_json())
    assert again == spec and again.to_dict() == spec.to_dict()


def test_names_are_canonical_and_values_typed():
    spec = parse_spec(COMPOSITE)
    assert [r.optimizer.name for r in spec.runs] == ["SGD", "Adam", "Lookahead"]
    assert spec.runs[2].optimizer.inner.name == "RAdam"
    assert spec.runs[2].scheduler.name == "LambdaLR"
    assert spec.to_dict()["runs"][1]["optimizer"]["betas"] == [0.9, 0.99]


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"batch_size": 0}, "batch_size"),
        ({"runs": []}, "runs"),
        ({"problem": {"name": "cifar10_cnn", "activation": "gelu"}}, "problem.activation"),
        ({"steps": 10}, "steps"),
    ],
)
def test_errors_name_the_field(patch, path):
    with pytest.raises(SpecError) as info:
        parse_spec({**COMPOSITE, **patch})
    assert any(p == path for p, _ in info.value.errors), info.value.errors


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPTLAB_MAX_EPOCHS", "2")
    with pytest.raises(SpecError, match="at most 2 epochs"):
        parse_spec(COMPOSITE)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["SGD", "adam", "Lion", "LBFGS", "Lookahead", "nope"]),
    kwargs=st.dictionaries(
        st.sampled_from(["lr", "momentum", "betas", "eps", "nesterov", "optimizer", "k", "x"]),
        JSON,
        max_size=3,
    ),
    sched=st.dictionaries(
        st.sampled_from(["name", "step_size", "gamma", "lr_lambda", "milestones", "schedulers"]),
        JSON,
        max_size=3,
    ),
)
def test_any_input_is_accepted_or_refused_with_a_spec_error(name, kwargs, sched):
    data = {
        "problem": {"name": "rosenbrock"},
        "steps": 10,
        "runs": [{"label": "a", "optimizer": {"name": name, **kwargs}, "scheduler": sched}],
    }
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert exc.errors and all(isinstance(p, str) and m for p, m in exc.errors)
    else:
        assert parse_spec(spec.to_dict()) == spec
