"""Exported scripts honour ``scheduler_first`` (issue 12 §5): ``scheduler.step()`` before
``optimizer.step()``; the script prints what ``optlab run`` computed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optlab.export.script import export_script
from optlab.spec import parse_spec
from tests.helpers import run_script

ROOT = Path(__file__).resolve().parents[1]


def _runs(scheduler: dict, optimizer: dict) -> list[dict]:
    """The same run in both orders, so a script that ignored the flag would print two
    equal lines where the engine has two different ones."""
    return [
        {"label": "after", "optimizer": optimizer, "scheduler": scheduler},
        {"label": "first", "optimizer": optimizer, "scheduler": scheduler, "scheduler_first": True},
    ]


SURFACE = {
    "problem": {"name": "rosenbrock", "start": [-1.5, 2.0], "noise": 0.1},
    "steps": 60,
    "runs": [
        *_runs({"name": "StepLR", "step_size": 1, "gamma": 0.8}, {"name": "SGD", "lr": 0.002}),
        {
            "label": "cosine first",
            "optimizer": {"name": "Adam", "lr": 0.1},
            "scheduler": {"name": "CosineAnnealingLR", "T_max": 30},
            "scheduler_first": True,
        },
    ],
}
MODEL = {
    "problem": {"name": "mse_regression", "n_samples": 96, "n_features": 2, "hidden": 3},
    "epochs": 3,
    "batch_size": 16,
    "device": "cpu",
    "runs": [
        *_runs(
            {"name": "StepLR", "step_size": 1, "gamma": 0.1, "interval": "epoch"},
            {"name": "SGD", "lr": 0.05, "momentum": 0.9},
        ),
        {
            "label": "per step first",
            "optimizer": {"name": "Adam", "lr": 0.05},
            "scheduler": {"name": "ExponentialLR", "gamma": 0.9},
            "scheduler_first": True,
        },
    ],
}


@pytest.mark.parametrize("spec", [SURFACE, MODEL], ids=["surface", "model"])
def test_exported_scheduler_first_script_prints_what_optlab_run_computed(spec, tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "OPTLAB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "optlab", "run", "spec.json", "--out", "r.json", "--no-store"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    expected = [f"{r['label']}: final loss = {r['final']['loss']:.10g}" for r in result["runs"]]
    assert expected[0] != expected[1].replace("first", "after")  # the order matters here
    script = export_script(parse_spec(spec))
    assert script.count("scheduler_first=True)") == 2
    (tmp_path / "script.py").write_text(script)
    out = run_script(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines() == expected
