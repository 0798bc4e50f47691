"""Issue 14 item 1: user text reaches an exported script only as string literals.

The experiment's name, the run labels and string problem fields (a data folder) are
drawn from text full of quotes, backslashes and every kind of line break; the script
must parse, carry those strings exactly as constants, and running it must create no file.
"""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from optlab.export.script import export_script
from optlab.spec import SpecError, parse_spec
from problems.cifar10_cnn.export_code import data_root
from tests.helpers import run_script

LINE_BREAKS = [
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
]
NASTY = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "#",
    "{",
    "}",
    "\x00",
    " ",
    "    ",
    "import os",
    *LINE_BREAKS,
]
PAYLOAD = "__import__('os').system('touch PWNED')"

nasty_text = st.lists(
    st.sampled_from(NASTY) | st.text(min_size=1, max_size=3) | st.just(PAYLOAD), max_size=12
).map("".join)


def _constants(script: str) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(script))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _spec(name: str, labels: list[str], problem: dict[str, Any] | None = None) -> Any:
    data: dict[str, Any] = {
        "name": name,
        "problem": problem or {"name": "quadratic"},
        "runs": [{"label": label, "optimizer": {"name": "SGD", "lr": 0.05}} for label in labels],
    }
    if problem is None:
        data["steps"] = 3
    else:
        data.update(epochs=1, batch_size=64)
    try:
        return parse_spec(data)
    except SpecError:
        assume(False)  # refused up front (a label too long, say) is safe too


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    before = set(os.listdir(tmp_path))
    proc = run_script(tmp_path)
    assert set(os.listdir(tmp_path)) == before, "running the exported script created a file"
    return proc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(name=nasty_text, labels=st.lists(nasty_text.filter(bool), min_size=1, max_size=3))
@example(name='x"""\nimport os; os.system("touch PWNED")\n"""', labels=["a"])
@example(name="n", labels=["x\n    __import__('os').system('touch PL')"])
def test_surface_script_carries_name_and_labels_as_literals(name: str, labels: list[str]) -> None:
    assume(len(set(labels)) == len(labels))
    spec = _spec(name, labels)
    constants = _constants(export_script(spec))  # parses
    assert spec.name in constants or not spec.name
    for run in spec.runs:
        assert run.label in constants


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(name=nasty_text, label=nasty_text.filter(bool), folder=nasty_text.filter(bool))
def test_model_script_carries_strings_as_literals(name: str, label: str, folder: str) -> None:
    assume("\x00" not in folder and not folder.startswith("~"))
    spec = _spec(name, [label], {"name": "cifar10_cnn", "data_dir": folder, "train_limit": 10})
    constants = _constants(export_script(spec))
    assert spec.runs[0].label in constants
    assert str(data_root(spec.problem.build().params) / "cifar-10-batches-py") in constants


HOSTILE_NAMES = [
    'x"""\nimport os; os.system("touch PWNED")\n"""',
    "a\r__import__('os').system('touch PWNED')\r",
    "b\u2028__import__('os').system('touch PWNED')\\",
    "'''\x0c\x85\x1c''' + __import__('os').system('touch PWNED') #",
]
HOSTILE_LABELS = [
    "x\n    __import__('os').system('touch PL')",
    "y\r\n    __import__('os').system('touch PL2')",
    "z\\\u2029'\"#",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_surface_script_runs_and_creates_nothing(name: str, tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": name,
            "problem": {"name": "rosenbrock"},
            "steps": 5,
            "runs": [
                {"label": label, "optimizer": {"name": "Adam", "lr": 0.01}}
                for label in HOSTILE_LABELS
            ],
        }
    )
    proc = _run(export_script(spec), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("final loss") == len(HOSTILE_LABELS)


def test_hostile_model_script_runs_and_creates_nothing(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": HOSTILE_NAMES[0],
            "problem": {"name": "mse_regression", "n_samples": 40},
            "epochs": 1,
            "device": "cpu",
            "runs": [
                {
                    "label": HOSTILE_LABELS[0],
                    "optimizer": {"name": "SGD", "lr": 0.01},
                    "scheduler": {"name": "StepLR", "step_size": 1},
                }
            ],
        }
    )
    work = tmp_path / "work"
    work.mkdir()
    proc = _run(export_script(spec), work)
    assert proc.returncode == 0, proc.stderr
    assert "final loss" in proc.stdout


def test_cifar_data_dir_goes_in_as_a_literal(tmp_path: Path) -> None:
    folder = tmp_path / "d')\nimport os; os.system('touch PWNED')  # \u2028\\"
    spec = parse_spec(
        {
            "problem": {"name": "cifar10_cnn", "data_dir": str(folder)},
            "epochs": 1,
            "runs": [{"label": "a", "optimizer": {"name": "SGD", "lr": 0.01}}],
        }
    )
    constants = _constants(export_script(spec))
    assert str(folder.resolve() / "cifar-10-batches-py") in constants
