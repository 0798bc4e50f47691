"""The instruments' records (record_state, record_sharpness) in a real SQLite store file.

Schema 4 keeps ``state``/``update``/``grad`` (surfaces), ``state_norms`` (models) and
``sharpness``; these tests check the stored values against a plain PyTorch loop written
here, that a stored experiment exports what ``run_experiment`` returned, and that a
schema-3 store file upgrades without losing anything.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optlab.engine.experiment import Experiment, run_experiment
from optlab.spec import parse_spec
from optlab.store import schema as store_schema
from optlab.store.db import Store
from optlab.store.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
STEPS = 40
SURFACE = {
    "problem": {"name": "rosenbrock", "start": [-1.5, 2.0], "noise": 0.2},
    "steps": STEPS,
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.001, "momentum": 0.9},
            "record_state": True,
            "clip_grad_norm": 50.0,
        },
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}, "record_state": True},
        {"label": "plain", "optimizer": {"name": "SGD", "lr": 1e-4}},
    ],
}
MODEL = {
    "problem": {"name": "mse_regression", "n_samples": 96, "n_features": 2, "hidden": 3},
    "epochs": 2,
    "batch_size": 16,
    "device": "cpu",
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
            "param_groups": [{"params": "layer2.*", "lr": 0.02}],
            "record_state": True,
            "record_sharpness": {"every": 3, "iters": 20},
        },
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
    ],
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "optlab.db")
    yield s
    s.close()


def _stored(store: Store, spec_dict: dict, flush: float = 0.0) -> tuple[str, dict]:
    """Run ``spec`` writing every batch to the store, as a worker does."""
    spec = parse_spec(spec_dict)
    exp_id = store.create_experiment(spec, status="running", owner="test")
    for batch in Experiment(spec).batches(flush_seconds=flush):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished", device="cpu")
    return exp_id, run_experiment(spec)


def _plain_surface(name: str, kwargs: dict, clip: float | None) -> dict[str, list]:
    """The textbook loop on the noisy Rosenbrock: state, update and gradient after each step."""
    problem = parse_spec(SURFACE).problem.build()
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn((STEPS, 2), generator=gen, dtype=torch.float64) * 0.2
    xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([xy], **kwargs)
    out: dict[str, list] = {"update": [], "grad": []}
    for t in range(STEPS):
        before = xy.detach().clone()
        loss = problem.value(xy[0], xy[1]) + noise[t, 0] * xy[0] + noise[t, 1] * xy[1]
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([xy], clip)
        out["grad"].append(xy.grad.tolist())
        opt.step()
        out["update"].append((xy.detach() - before).tolist())
        for key, value in opt.state[xy].items():
            if value.shape == xy.shape:
                out.setdefault(key, []).append(value.tolist())
    return out


def test_surface_state_update_and_gradient_are_stored_as_the_plain_loop_has_them(store):
    exp_id, direct = _stored(store, SURFACE, flush=0.0)
    stored = store.result_json(exp_id)
    assert stored == direct
    sgdm, adam, plain = stored["runs"]
    for run, (name, kwargs, clip) in (
        (sgdm, ("SGD", {"lr": 0.001, "momentum": 0.9}, 50.0)),
        (adam, ("Adam", {"lr": 0.05}, None)),
    ):
        ref = _plain_surface(name, kwargs, clip)
        np.testing.assert_array_equal(run["update"], ref.pop("update"))
        np.testing.assert_array_equal(run["grad"], ref.pop("grad"))
        assert set(run["state"]) == set(ref)
        for key, values in ref.items():
            np.testing.assert_array_equal(run["state"][key], values, err_msg=key)
    assert not {"state", "update", "grad"} & set(plain)
    # one row per recorded step, none for the run without instruments
    counts = dict(
        store.conn.execute("SELECT run, COUNT(*) FROM instruments GROUP BY run").fetchall()
    )
    assert counts == {0: STEPS, 1: STEPS}


def test_model_state_norms_and_sharpness_round_trip_and_match_the_plain_loop(store):
    exp_id, direct = _stored(store, MODEL, flush=0.0)
    stored = store.result_json(exp_id)
    assert stored == direct
    run, adam = stored["runs"]
    assert "state_norms" not in adam and "sharpness" not in adam
    # the momentum buffers' norms, per group, against the textbook loop
    spec = parse_spec(MODEL)
    problem = spec.problem.build()
    torch.manual_seed(spec.seed)
    model = problem.prepare_model(problem.build_model(), torch.device("cpu"))
    data = problem.load_data(torch.device("cpu"), spec.seed)
    l2 = [p for k, p in model.named_parameters() if k.startswith("layer2")]
    rest = [p for k, p in model.named_parameters() if not k.startswith("layer2")]
    opt = torch.optim.SGD([{"params": l2, "lr": 0.02}, {"params": rest}], lr=0.05, momentum=0.9)
    n, bs = data.n_train, 16
    per_epoch = math.ceil(n / bs)
    expected: dict[str, list[float]] = {"layer2.*": [], "default": []}
    for t in range(2 * per_epoch):
        b = t % per_epoch
        if b == 0:
            gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + t // per_epoch)
            perm = torch.randperm(n, generator=gen)
        x, y = problem.batch(data, perm[b * bs : (b + 1) * bs], train=True)
        loss = problem.loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for group, name in zip(opt.param_groups, expected, strict=True):
            squares = sum(
                float((opt.state[p]["momentum_buffer"] ** 2).sum()) for p in group["params"]
            )
            expected[name].append(math.sqrt(squares))
    for name, values in expected.items():
        np.testing.assert_allclose(run["state_norms"][name]["momentum_buffer"], values, rtol=1e-6)
    measured = [t for t, v in enumerate(run["sharpness"]) if v is not None]
    assert measured == list(range(0, 2 * per_epoch, 3))
    assert all(run["sharpness"][t] > 0 for t in measured)


def test_a_schema_3_store_upgrades_keeps_its_records_and_takes_instruments(tmp_path, monkeypatch):
    path = tmp_path / "v3.db"
    plain = {**SURFACE, "runs": [SURFACE["runs"][2]]}
    with monkeypatch.context() as m:
        m.setattr(store_schema, "MIGRATIONS", store_schema.MIGRATIONS[:3])
        m.setattr(store_schema, "SCHEMA_VERSION", 3)
        old = Store(path)
        old_id, old_direct = _stored(old, plain)
        old.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3
    store = Store(path)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert store.result_json(old_id) == old_direct
        new_id, direct = _stored(store, SURFACE, flush=0.01)
        assert store.result_json(new_id) == direct
        assert "state" in direct["runs"][0]
    finally:
        store.close()


def test_resume_and_delete_forget_the_instruments_rows(store):
    exp_id, _ = _stored(store, SURFACE)
    store.prepare_resume(exp_id, {1: 10}, None)
    rows = store.conn.execute("SELECT run, MAX(step) FROM instruments GROUP BY run").fetchall()
    assert dict(rows) == {0: STEPS - 1, 1: 9}
    assert store.instruments(exp_id, 1)["update"].shape == (10, 2)
    store.reset_records(exp_id)
    assert store.instruments(exp_id, 0) == {}
    exp_id, _ = _stored(store, SURFACE)
    store.delete(exp_id)
    assert store.conn.execute("SELECT COUNT(*) FROM instruments").fetchone()[0] == 0


def test_store_result_keeps_the_instruments_and_show_prints_them(tmp_path):
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(SURFACE))
    env = {"OPTLAB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "optlab", "run", str(spec_path), "--out", str(tmp_path / "r.json")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    exp_id = json.loads(
        subprocess.run(
            [sys.executable, "-m", "optlab", "runs", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]["id"]
    subprocess.run(
        [sys.executable, "-m", "optlab", "show", exp_id, "--out", str(tmp_path / "s.json")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert run.returncode == 0
    assert json.loads((tmp_path / "s.json").read_text())["runs"] == result["runs"]
    assert result["runs"][1]["state"]["exp_avg"][5] is not None
