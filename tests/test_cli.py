"""The command line: results, exit codes, one-line errors, the exported script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optlab.cli.main import main
from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec
from tests.helpers import run_script

ROOT = Path(__file__).resolve().parents[1]

SPEC = {
    "name": "SGDM vs Adam on Rosenbrock",
    "problem": {"name": "rosenbrock", "start": [-2.0, 2.0]},
    "steps": 300,
    "seed": 0,
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.001, "momentum": 0.9},
            "scheduler": {"name": "StepLR", "step_size": 100, "gamma": 0.5},
        },
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
    ],
}


def optlab(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPTLAB_HOME": str(cwd / "home"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "optlab", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write(tmp_path: Path, data: object, name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_run_writes_the_result_json(tmp_path):
    proc = optlab("run", write(tmp_path, SPEC), "--out", "r.json", "--no-store", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    expected = run_experiment(parse_spec(SPEC))
    assert [r["loss"] for r in result["runs"]] == [r["loss"] for r in expected["runs"]]
    assert result["spec"]["runs"][0]["optimizer"]["name"] == "SGD"
    assert {"label", "status", "loss", "lr", "params", "final"} <= set(result["runs"][0])


BAD_INPUTS = [
    (
        {
            **SPEC,
            "runs": [{"label": "x", "optimizer": {"name": "SGD", "lr": 0.1, "momentun": 0.9}}],
        },
        "runs[0].optimizer.momentun",
    ),
    (
        {**SPEC, "runs": [{"label": "x", "optimizer": {"name": "Adam", "betas": [1.5, 0.9]}}]},
        "runs[0].optimizer.betas",
    ),
    ({**SPEC, "runs": [{"label": "x", "optimizer": {"name": "sgdd"}}]}, "runs[0].optimizer.name"),
    (
        {**SPEC, "runs": [{"label": "x", "optimizer": {"name": "SGD", "lr": -1}}]},
        "runs[0].optimizer.lr",
    ),
    ({**SPEC, "steps": 10**9}, "steps"),
    ({**SPEC, "problem": {"name": "nope"}}, "problem.name"),
    ({**SPEC, "problem": {"name": "rosenbrock", "start": [1]}}, "problem.start"),
    ({**SPEC, "colour": "red"}, "colour"),
    (
        {
            **SPEC,
            "runs": [
                {
                    "label": "x",
                    "optimizer": {"name": "SGD"},
                    "scheduler": {"name": "LambdaLR", "lr_lambda": "__import__('os').system('id')"},
                }
            ],
        },
        "runs[0].scheduler.lr_lambda",
    ),
    (
        {
            **SPEC,
            "runs": [
                {
                    "label": "x",
                    "optimizer": {"name": "SGD"},
                    "scheduler": {"name": "StepLR", "step_size": 0},
                }
            ],
        },
        "runs[0].scheduler.step_size",
    ),
    (
        {
            "problem": {"name": "mse_regression"},
            "epochs": 1,
            "runs": [
                {
                    "label": "x",
                    "optimizer": {"name": "SGD"},
                    "param_groups": [{"params": "conv9.*", "lr": 0.1}],
                }
            ],
        },
        "runs[0].param_groups[0].params",
    ),
    ({**SPEC, "runs": [SPEC["runs"][0], SPEC["runs"][0]]}, "runs"),
    ("{not json", "not valid JSON"),
]


@pytest.mark.parametrize(("data", "field"), BAD_INPUTS, ids=[b[1] for b in BAD_INPUTS])
def test_bad_input_exits_2_with_one_clear_line(tmp_path, capsys, data, field):
    code = main(["run", write(tmp_path, data), "--no-store", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert field in lines[0] and "Traceback" not in err


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    proc = optlab("run", write(tmp_path, BAD_INPUTS[0][0]), "--no-store", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: runs[0].optimizer.momentun: unknown key "
        "(check the spelling; see `python -m optlab list`)"
    ]


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and "Traceback" not in err


def test_schedule_preview_matches_the_run(tmp_path, capsys):
    assert main(["schedule", write(tmp_path, SPEC)]) == 0
    preview = json.loads(capsys.readouterr().out)
    run = run_experiment(parse_spec(SPEC))
    assert [r["lr"] for r in preview["runs"]] == [r["lr"] for r in run["runs"]]


def test_exported_script_prints_the_engine_final_losses(tmp_path):
    spec = {
        **SPEC,
        "steps": 120,
        "problem": {"name": "rastrigin", "noise": 0.5},
        "runs": [
            *SPEC["runs"],
            {
                "label": "Warm",
                "optimizer": {"name": "AdamW", "lr": 0.02},
                "scheduler": {"name": "CosineAnnealingLR", "T_max": 200, "warmup": {"steps": 20}},
            },
            {
                "label": "Lambda",
                "optimizer": {"name": "Lion", "lr": 0.01},
                "scheduler": {
                    "name": "LambdaLR",
                    "lr_lambda": "0.99 ** epoch * (1 + 0.1 * sin(epoch))",
                },
            },
            {"label": "LBFGS", "optimizer": {"name": "LBFGS", "lr": 0.1}},
        ],
    }
    proc = optlab("export", write(tmp_path, spec), "--out", "script.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    script = (tmp_path / "script.py").read_text()
    assert "optlab" not in script.split('"""', 2)[2].replace("optlab experiment", "")  # standalone
    out = run_script(tmp_path)
    assert out.returncode == 0, out.stderr
    engine = run_experiment(parse_spec(spec))
    expected = [f"{r['label']}: final loss = {r['final']['loss']:.10g}" for r in engine["runs"]]
    assert out.stdout.strip().splitlines() == expected


def test_list_json_has_catalogues(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {o["name"] for o in data["optimizers"]}
    assert {"SGD", "Adam", "AdamW", "LBFGS", "AdaBound", "Lion", "Lookahead"} <= names
    assert len(data["schedulers"]) == 15
    assert {p["name"] for p in data["problems"]} >= {"rosenbrock", "cifar10_cnn"}
