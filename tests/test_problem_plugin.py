"""A model problem dropped in from outside the project: validated, trained, resumed, exported.

The plugin below lives only in this test: it is written into a temporary
``OPTLAB_PROBLEMS_DIR`` and implements nothing but the problem interface
(``build_model``, ``load_data``, ``loss`` and ``export_code``).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import optlab.problem as problems
from optlab.engine.experiment import Experiment, run_experiment
from optlab.engine.records import ResultCollector
from optlab.export.script import export_script
from optlab.problem import ModelProblem, Surface, get_problem
from optlab.spec import SpecError, parse_spec

NAME = "plugin_blob_mlp"
ROOT = Path(__file__).resolve().parent.parent

PLUGIN = textwrap.dedent(
    '''
    """A tiny MLP classifying three seeded Gaussian blobs in the plane."""

    from __future__ import annotations

    import torch
    from torch import nn

    from optlab.problem import ExportCode, Field, ModelData, ModelParams, ModelProblem, source


    class BlobParams(ModelParams):
        n_samples: int = Field(96, ge=8, le=10_000, description="points in all (train + val)")
        hidden: int = Field(8, ge=1, le=256, description="hidden units")


    class BlobNet(nn.Module):
        def __init__(self, hidden: int) -> None:
            super().__init__()
            self.encoder = nn.Linear(2, hidden)
            self.head = nn.Linear(hidden, 3)

        def forward(self, x):
            return self.head(torch.tanh(self.encoder(x)))


    def make_blobs(n, seed):
        """n points around three centres; the first quarter is the validation set."""
        gen = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 3, (n,), generator=gen)
        centres = torch.tensor([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
        x = centres[y] + torch.randn(n, 2, generator=gen)
        n_val = n // 4
        return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


    class BlobMlp(ModelProblem):
        name = "NAME"
        title = "Blob MLP (plugin)"
        description = "A two-layer MLP (encoder, head) classifying three Gaussian blobs."
        Params = BlobParams
        task = "classification"
        default_epochs = 3
        default_batch_size = 16

        def build_model(self):
            return BlobNet(self.params.hidden)

        def load_data(self, device, seed):
            parts = make_blobs(self.params.n_samples, seed)
            return ModelData(*(t.to(device) for t in parts))

        def loss(self, output, target):
            return nn.functional.cross_entropy(output, target)

        def export_code(self):
            code = f"""
    N_SAMPLES = {self.params.n_samples!r}
    HIDDEN = {self.params.hidden!r}


    {source(BlobNet)}


    {source(make_blobs)}


    def load_data():
        return tuple(t.to(DEVICE) for t in make_blobs(N_SAMPLES, SEED))


    def build_model():
        return BlobNet(HIDDEN)


    def prepare(model):
        return model.to(DEVICE)


    def train_batch(train_x, train_y, index, aug):
        return train_x[index], train_y[index]


    def val_batch(val_x, val_y, index):
        return val_x[index], val_y[index]


    def loss_fn(output, target):
        return nn.functional.cross_entropy(output, target)
    """
            return ExportCode(code=code, imports=("from torch import nn",))
    '''
).replace('"NAME"', repr(NAME))

GROUPS = [{"params": "encoder.*", "lr": 0.1}, {"params": "head.*", "lr": 0.02}]
SPEC = {
    "name": "plugin demo",
    "problem": {"name": NAME, "n_samples": 100},
    "epochs": 3,
    "batch_size": 16,
    "seed": 5,
    "device": "cpu",
    "runs": [
        {
            "label": "SGD groups",
            "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
            "param_groups": GROUPS,
            "scheduler": {"name": "ExponentialLR", "gamma": 0.9},
        },
        {
            "label": "Adam",
            "optimizer": {"name": "Adam", "lr": 0.01},
            "scheduler": {"name": "StepLR", "step_size": 1, "gamma": 0.5, "interval": "epoch"},
        },
    ],
}


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin file in a fresh OPTLAB_PROBLEMS_DIR, with the registry rediscovered."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "blob_mlp.py").write_text(PLUGIN)
    monkeypatch.setenv("OPTLAB_PROBLEMS_DIR", str(folder))
    monkeypatch.setattr(problems, "_REGISTRY", None)  # monkeypatch restores the cache
    yield get_problem(NAME)
    for mod in [m for m in sys.modules if m.startswith("optlab_user_problems.")]:
        del sys.modules[mod]


def textbook(spec):
    """The plain PyTorch loop for run 0 (two groups, ExponentialLR per step): its losses."""
    problem = spec.problem.build()
    data = problem.load_data(torch.device("cpu"), spec.seed)
    torch.manual_seed(spec.seed)
    model = problem.build_model()
    opt = torch.optim.SGD(
        [
            {"params": model.encoder.parameters(), "lr": 0.1},
            {"params": model.head.parameters(), "lr": 0.02},
        ],
        lr=0.05,
        momentum=0.9,
    )
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)
    n, bs, losses = data.n_train, spec.batch_size, []
    for epoch in range(spec.epochs):
        perm = torch.randperm(
            n, generator=torch.Generator().manual_seed(spec.seed * 1_000_003 + epoch)
        )
        for b in range(math.ceil(n / bs)):
            idx = perm[b * bs : (b + 1) * bs]
            loss = torch.nn.functional.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        val = torch.nn.functional.cross_entropy(model(data.val_x), data.val_y).item()
    return losses, val


def test_the_plugin_is_discovered_and_its_spec_validates(plugin):
    assert issubclass(plugin, ModelProblem) and plugin.name == NAME
    assert plugin.data_source() is None  # its data is generated: no data choice in the UI
    spec = parse_spec(SPEC)
    assert spec.problem.name == NAME and spec.epochs == 3 and spec.batch_size == 16
    assert spec.problem.build().parameter_names() == [
        "encoder.weight",
        "encoder.bias",
        "head.weight",
        "head.bias",
    ]
    bad = {**SPEC, "runs": [{**SPEC["runs"][0], "param_groups": [{"params": "conv*"}]}]}
    with pytest.raises(SpecError, match="'conv\\*' matches no parameter"):
        parse_spec(bad)
    with pytest.raises(SpecError, match="give epochs and batch_size, not steps"):
        parse_spec({**SPEC, "steps": 10})


def test_the_plugin_trains_with_two_param_groups_like_the_textbook_loop(plugin):
    spec = parse_spec(SPEC)
    groups, adam = run_experiment(spec)["runs"]
    losses, val = textbook(spec)
    steps = 3 * math.ceil(75 / 16)  # 100 points, a quarter held out
    assert groups["status"] == adam["status"] == "finished"
    assert len(groups["loss"]) == len(adam["loss"]) == len(losses) == steps
    assert groups["loss"] == pytest.approx(losses, rel=1e-6)
    assert groups["final"]["loss"] == pytest.approx(val, rel=1e-6)
    assert groups["groups"] == ["encoder.*", "head.*"]
    lr = np.array(groups["lr"])
    assert lr.shape == (steps, 2)
    assert lr[0].tolist() == [0.1, 0.02] and lr[1].tolist() == [0.1 * 0.9, 0.02 * 0.9]
    assert [e["epoch"] for e in adam["epochs"]] == [1, 2, 3]
    assert all(0.0 <= e["val_acc"] <= 1.0 for e in adam["epochs"])  # classification
    assert np.array(adam["lr"])[:, 0].tolist() == [0.01] * 5 + [0.005] * 5 + [0.0025] * 5


def test_a_resumed_plugin_run_equals_the_uninterrupted_one(plugin):
    spec = parse_spec(SPEC)
    whole = run_experiment(spec)["runs"]
    exp = Experiment(spec)
    collector = ResultCollector([r.label for r in spec.runs])
    for batch in exp.batches(flush_seconds=0.0):
        collector.add(batch)
        if exp.steps_done >= 7:  # mid-epoch, mid-schedule
            break
    resumed = Experiment.resume(spec, exp.checkpoint_bytes())
    assert resumed.steps_done == 7 and resumed.steps_per_epoch == 5
    for batch in resumed.batches(flush_seconds=0.0):
        collector.add(batch)
    assert collector.run_dicts() == whole


def test_the_exported_plugin_script_prints_the_engine_final_losses(plugin, tmp_path):
    spec = parse_spec(SPEC)
    script = export_script(spec)
    assert "optlab" not in script.split('"""', 2)[2]  # standalone: no optlab below the title
    run_dir, block = tmp_path / "run", tmp_path / "block"
    run_dir.mkdir()
    block.mkdir()
    (run_dir / "script.py").write_text(script)
    for name in ("optlab", "problems", "optlab_user_problems"):  # shadow the editable install
        (block / f"{name}.py").write_text(f"raise ImportError('{name} is not available here')\n")
    env = {**os.environ, "PYTHONPATH": str(block)}
    env.pop("OPTLAB_PROBLEMS_DIR")

    def python(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, *args]
        return subprocess.run(
            cmd, cwd=run_dir, capture_output=True, text=True, timeout=120, env=env
        )

    assert python("-c", "import optlab").returncode != 0  # the script really runs without it
    out = python("script.py")
    assert out.returncode == 0, out.stderr
    engine = [
        f"{r['label']}: final loss = {r['final']['loss']:.10g}"
        for r in run_experiment(spec)["runs"]
    ]
    assert out.stdout.strip().splitlines() == engine


def test_a_model_problem_without_export_code_is_not_exportable(plugin, monkeypatch):
    monkeypatch.setattr(plugin, "export_code", ModelProblem.export_code)
    with pytest.raises(NotImplementedError, match=f"{NAME}.*not supported"):
        export_script(parse_spec(SPEC))


def test_no_file_in_optlab_names_the_plugin():
    hits = [
        p
        for p in (ROOT / "optlab").rglob("*")
        if p.is_file() and NAME in p.read_bytes().decode("utf-8", "replace")
    ]
    assert hits == []


def test_a_problem_package_is_discovered(tmp_path, monkeypatch):
    """A folder with ``__init__.py`` in OPTLAB_PROBLEMS_DIR loads, relative imports included."""
    package = tmp_path / "my_bowls"
    package.mkdir()
    (package / "formula.py").write_text("def bowl(x, y):\n    return x**2 + 4 * y**2\n")
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from optlab.problem import Surface

            from .formula import bowl


            class PackagedBowl(Surface):
                name = "packaged_bowl"
                title = "A bowl from a package"

                def value(self, x, y):
                    return bowl(x, y)
            """
        )
    )
    (tmp_path / "_private").mkdir()  # skipped, as _files are
    (tmp_path / "_private" / "__init__.py").write_text("raise RuntimeError('loaded')\n")
    monkeypatch.setenv("OPTLAB_PROBLEMS_DIR", str(tmp_path))
    monkeypatch.setattr(problems, "_REGISTRY", None)
    try:
        cls = get_problem("packaged_bowl")
        assert issubclass(cls, Surface) and cls().value(1.0, 2.0) == 17.0
        assert "mse_regression" in problems.registry()
    finally:
        for mod in [m for m in sys.modules if m.startswith("optlab_user_problems.")]:
            del sys.modules[mod]
