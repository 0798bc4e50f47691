"""CIFAR-10 acceptance: 3 epochs on the bundled real sample learn clearly above chance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cifar10_sgdm_vs_adam.json"


@pytest.mark.slow
def test_sgdm_and_adam_beat_chance_on_the_sample():
    spec = parse_spec({**json.loads(EXAMPLE.read_text()), "device": "cpu"})
    result = run_experiment(spec)
    for run in result["runs"]:
        assert run["status"] == "finished", run.get("message")
        epochs = run["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2, 3]
        assert epochs[-1]["val_acc"] > 0.25, (run["label"], epochs)  # chance is 0.10
        assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert result["runs"][0]["groups"] == ["*.bias", "default"]
