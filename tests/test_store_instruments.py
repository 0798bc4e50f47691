"""The instruments' records (record_state, record_sharpness) in a real SQLite store file.

Schema 4 keeps ``state``/``update``/``grad`` (surfaces), ``state_norms`` (models) and
``sharpness``; these tests check the stored values against a plain PyTorch loop written
here, that a stored experiment exports what ``run_experiment`` returned, and that a
schema-3 store file upgrades without losing anything.
"""

from __future__ import annotations

import csv
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
from optlab.engine.records import Batch, ResultCollector, StepChunk
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
    # one row per chunk and series (flush=0: one chunk per step), none for the plain run;
    # each row's blob is the chunk's values as float64 bytes
    keys = store.conn.execute(
        "SELECT run, key, SUM(n), SUM(length(data)) FROM instruments GROUP BY run, key"
    ).fetchall()
    expected = {(0, k, STEPS, STEPS * 16) for k in ("state.momentum_buffer", "update", "grad")} | {
        (1, k, STEPS, STEPS * 16) for k in ("state.exp_avg", "state.exp_avg_sq", "update", "grad")
    }
    assert set(keys) == expected


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
    exp_id, direct = _stored(store, SURFACE, flush=600.0)  # one chunk per run: resume cuts it
    chunks = "SELECT run, COUNT(DISTINCT step), MAX(step + n - 1) FROM instruments GROUP BY run"
    assert store.conn.execute(chunks).fetchall() == [(0, 1, STEPS - 1), (1, 1, STEPS - 1)]
    store.prepare_resume(exp_id, {1: 10}, None)
    assert store.conn.execute(chunks).fetchall() == [(0, 1, STEPS - 1), (1, 1, 9)]
    kept = store.instruments(exp_id, 1)
    assert kept["update"].shape == (10, 2)
    np.testing.assert_array_equal(kept["update"], direct["runs"][1]["update"][:10])
    np.testing.assert_array_equal(
        kept["state"]["exp_avg"], direct["runs"][1]["state"]["exp_avg"][:10]
    )
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


def _chunk(run: int, start: int, n: int, **fields) -> StepChunk:
    steps = np.arange(start, start + n, dtype=np.float64)
    return StepChunk(run, start, steps, np.full((n, 1), 0.1), steps, steps, **fields)


def test_nan_and_inf_state_values_round_trip_bit_for_bit(store):
    spec = parse_spec({**SURFACE, "runs": SURFACE["runs"][:1]})
    exp_id = store.create_experiment(spec, status="running", owner="test")
    exp_avg = np.array([[np.nan, 1.5], [np.inf, -np.inf], [-0.0, 5e-324], [1e308, np.nan]])
    update = np.array([[0.1, np.nan], [np.inf, 2.0], [3.0, -np.inf], [np.nan, np.nan]])
    sharp = np.array([np.nan, np.inf, 2.5, -np.inf])
    chunk = _chunk(0, 0, 4, state={"exp_avg": exp_avg}, update=update, sharpness=sharp)
    store.write_batch(exp_id, Batch(chunks=[chunk]))
    got = store.instruments(exp_id, 0)
    for stored, written in ((got["state"]["exp_avg"], exp_avg), (got["update"], update)):
        assert stored.tobytes() == written.tobytes()  # NaN, ±inf, -0.0, subnormals: every bit
    assert got["sharpness"].tobytes() == sharp.tobytes()
    collector = ResultCollector(["SGDM"])
    collector.add(Batch(chunks=[chunk]))
    direct = collector.run_dicts()[0]
    stored_run = store.result_json(exp_id)["runs"][0]
    assert (
        stored_run["state"]
        == direct["state"]
        == {"exp_avg": [[None, 1.5], [None, None], [-0.0, 5e-324], [1e308, None]]}
    )
    assert stored_run["sharpness"] == direct["sharpness"] == [None, None, 2.5, None]


def test_partial_chunks_serve_live_polls_decimated_reads_and_a_resume(store):
    """A poll from the middle of a chunk, a decimated read, and a resume whose checkpoint
    falls inside a chunk: the chunk keeps its first steps and the rerun continues it."""
    spec = parse_spec({**SURFACE, "runs": SURFACE["runs"][:1]})
    exp_id = store.create_experiment(spec, status="running", owner="test")
    values = np.arange(60, dtype=np.float64).reshape(30, 2) / 7
    norms = np.arange(30, dtype=np.float64) ** 0.5
    for start in (0, 12, 25):
        end = {0: 12, 12: 25, 25: 30}[start]
        store.write_batch(
            exp_id,
            Batch(
                chunks=[
                    _chunk(
                        0,
                        start,
                        end - start,
                        update=values[start:end],
                        state_norms={"a.b": {"exp_avg": norms[start:end]}},
                    )
                ]
            ),
        )
    steps = np.arange(30)
    tail = store.instruments(exp_id, 0, steps[17:])
    np.testing.assert_array_equal(tail["update"], values[17:])
    np.testing.assert_array_equal(tail["state_norms"]["a.b"]["exp_avg"], norms[17:])
    picked = np.array([0, 7, 14, 21, 28, 29])
    np.testing.assert_array_equal(store.instruments(exp_id, 0, picked)["update"], values[picked])
    store.prepare_resume(exp_id, {0: 18}, None)
    kept = store.instruments(exp_id, 0, steps)
    np.testing.assert_array_equal(kept["update"][:18], values[:18])
    assert np.isnan(kept["update"][18:]).all()
    assert store.conn.execute("SELECT MAX(step + n) FROM instruments").fetchone()[0] == 18
    again = values[18:] + 100
    store.write_batch(exp_id, Batch(chunks=[_chunk(0, 18, 12, update=again)]))
    np.testing.assert_array_equal(
        store.instruments(exp_id, 0)["update"], np.concatenate([values[:18], again])
    )


def test_a_recorded_but_empty_state_stays_empty_not_absent(store):
    spec = parse_spec({**SURFACE, "runs": SURFACE["runs"][:1]})
    exp_id = store.create_experiment(spec, status="running", owner="test")
    chunk = _chunk(0, 0, 3, state={}, update=np.zeros((3, 2)), state_norms={})
    store.write_batch(exp_id, Batch(chunks=[chunk]))
    got = store.instruments(exp_id, 0)
    assert got["state"] == {} and got["state_norms"] == {}
    assert store.result_json(exp_id)["runs"][0]["state_norms"] == {}
    # the real case: plain SGD keeps no state, so its norms are recorded as {}
    plain_sgd = {**MODEL, "epochs": 1}
    plain_sgd["runs"] = [{"label": "SGD", "optimizer": {"name": "SGD"}, "record_state": True}]
    exp_id, direct = _stored(store, plain_sgd, flush=0.01)
    assert direct["runs"][0]["state_norms"] == {}
    assert store.result_json(exp_id) == direct


def _run_then_show_csv(spec: dict, tmp_path: Path, name: str) -> tuple[dict, Path]:
    """``optlab run`` (stored) then ``optlab show ID --csv DIR``, in process."""
    from optlab.cli.main import main

    spec_file = tmp_path / f"{name}.json"
    spec_file.write_text(json.dumps(spec))
    out = tmp_path / f"{name}-result.json"
    assert main(["run", str(spec_file), "--out", str(out), "--quiet"]) == 0
    direct = json.loads(out.read_text())
    folder = tmp_path / f"{name}-csv"
    assert main(["show", direct["id"], "--csv", str(folder)]) == 0
    return direct, folder


def test_show_csv_has_the_instrument_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))
    direct, folder = _run_then_show_csv(SURFACE, tmp_path, "surface")
    direct_m, folder_m = _run_then_show_csv(MODEL, tmp_path, "model")
    with open(folder / "1_Adam.csv", newline="") as fh:
        adam = list(csv.DictReader(fh))
    names = ("exp_avg", "exp_avg_sq")
    assert list(adam[0])[-8:] == [
        *(f"state.{k}.{c}" for k in names for c in "xy"),
        "update.x",
        "update.y",
        "grad.x",
        "grad.y",
    ]
    ref = direct["runs"][1]
    assert len(adam) == STEPS
    for t, row in enumerate(adam):
        for k in names:
            assert [float(row[f"state.{k}.x"]), float(row[f"state.{k}.y"])] == ref["state"][k][t]
        assert [float(row["update.x"]), float(row["update.y"])] == ref["update"][t]
        assert [float(row["grad.x"]), float(row["grad.y"])] == ref["grad"][t]
    with open(folder / "2_plain.csv", newline="") as fh:
        assert next(csv.reader(fh))[-2:] == ["x", "y"]  # no instruments recorded: no columns
    with open(folder_m / "0_SGDM.csv", newline="") as fh:
        sgdm = list(csv.DictReader(fh))
    ref = direct_m["runs"][0]
    for g in ("layer2.*", "default"):
        column = [float(r[f"state_norms.{g}.momentum_buffer"]) for r in sgdm]
        assert column == ref["state_norms"][g]["momentum_buffer"]
    sharp = [float(r["sharpness"]) if r["sharpness"] else None for r in sgdm]
    assert sharp == ref["sharpness"] and sharp[0] is not None and sharp[1] is None


def test_a_development_store_with_json_instrument_rows_gets_the_chunk_table(tmp_path):
    """The JSON-per-step table was never released; a store that has it still opens and
    records instruments (its old rows are dropped, its steps kept)."""
    path = tmp_path / "dev.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE instruments")
    conn.execute(
        "CREATE TABLE instruments (exp INTEGER NOT NULL, run INTEGER NOT NULL,"
        " step INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (exp, run, step)) WITHOUT ROWID"
    )
    conn.execute("INSERT INTO instruments VALUES (1, 0, 0, '{\"update\": [1, 2]}')")
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        exp_id, direct = _stored(store, SURFACE, flush=0.01)
        assert store.result_json(exp_id) == direct
    finally:
        store.close()
