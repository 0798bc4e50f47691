"""The exported model script runs without optlab and prints the engine's final losses."""

from __future__ import annotations

import re

import pytest

from optlab.engine.experiment import run_experiment
from optlab.export.script import export_script
from optlab.spec import parse_spec
from tests.helpers import run_script

MSE = {
    "name": "per-layer MLP",
    "problem": {"name": "mse_regression", "n_samples": 200},
    "epochs": 2,
    "batch_size": 32,
    "seed": 3,
    "device": "cpu",
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
            "param_groups": [{"params": "layer1.*", "lr": 0.1}, {"params": "layer2.*", "lr": 0.2}],
            "scheduler": {"name": "ExponentialLR", "gamma": 0.97},
        },
        {
            "label": "Adam",
            "optimizer": {"name": "Adam", "lr": 0.01},
            "param_groups": [{"params": "layer1.*", "lr": 0.1}, {"params": "layer2.*", "lr": 0.2}],
            "scheduler": {"name": "ExponentialLR", "gamma": 0.97},
        },
    ],
}

CIFAR = {
    "problem": {"name": "cifar10_cnn", "train_limit": 256, "val_limit": 128},
    "epochs": 1,
    "batch_size": 64,
    "device": "cpu",
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9},
            "scheduler": {"name": "StepLR", "step_size": 1, "gamma": 0.5, "interval": "epoch"},
        },
    ],
}


def _script_lines(spec_dict: dict, tmp_path) -> list[str]:
    script = export_script(parse_spec(spec_dict))
    assert not re.search(r"^\s*(import|from)\s+optlab", script, re.MULTILINE)  # standalone
    (tmp_path / "script.py").write_text(script)
    out = run_script(tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def _engine_lines(spec_dict: dict) -> list[str]:
    result = run_experiment(parse_spec(spec_dict))
    return [f"{r['label']}: final loss = {r['final']['loss']:.10g}" for r in result["runs"]]


@pytest.mark.parametrize("spec", [MSE, CIFAR], ids=["mse_regression", "cifar10_cnn"])
def test_exported_model_script_reproduces_the_engine(spec, tmp_path):
    assert _script_lines(spec, tmp_path) == _engine_lines(spec)


def test_unfreeze_with_a_schedule_is_refused():
    spec = {
        **MSE,
        "runs": [
            {
                **MSE["runs"][0],
                "param_groups": [{"params": "layer1.*", "frozen": True, "unfreeze_at_step": 3}],
            }
        ],
    }
    with pytest.raises(NotImplementedError, match="unfreeze_at_step"):
        export_script(parse_spec(spec))
