"""The SQLite run store against a real database file (no mocks)."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from optlab.engine.experiment import Experiment, run_experiment
from optlab.engine.records import Batch, EpochMetrics, RunStatus, StepChunk
from optlab.spec import parse_spec
from optlab.store import schema as store_schema
from optlab.store.db import Store, UnknownExperiment, new_owner, release_owner
from optlab.store.schema import SCHEMA_VERSION, StoreVersionError

ROOT = Path(__file__).resolve().parent.parent

SURFACE = {
    "problem": {"name": "rosenbrock"},
    "steps": 300,
    "runs": [
        {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.001, "momentum": 0.9}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
        {"label": "Boom", "optimizer": {"name": "SGD", "lr": 1.0}},
    ],
}
MODEL = {
    "problem": {"name": "mse_regression", "n_samples": 200},
    "epochs": 2,
    "batch_size": 32,
    "seed": 3,
    "runs": [
        {
            "label": "SGD",
            "optimizer": {"name": "SGD", "lr": 0.05},
            "param_groups": [{"params": "layer1.*", "frozen": True, "unfreeze_at_step": 4}],
        },
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
    ],
}


@pytest.fixture(autouse=True)
def one_thread() -> None:
    """Run the engine here on one thread, as a worker does (and fast on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "optlab.db")
    yield s
    s.close()


def synthetic_spec(runs: int = 2, steps: int = 1000) -> dict:
    return {
        "problem": {"name": "rosenbrock"},
        "steps": steps,
        "runs": [
            {"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.001}} for i in range(runs)
        ],
    }


def chunk(run: int, start: int, n: int, groups: int = 1, xy: bool = True) -> StepChunk:
    steps = np.arange(start, start + n, dtype=np.float64)
    return StepChunk(
        run=run,
        start=start,
        loss=steps * 10 + run,
        lr=np.tile(steps[:, None], (1, groups)) / 1e3,
        grad_norm=steps + 0.5,
        time=steps / 100,
        params=np.stack([steps, -steps], 1) if xy else None,
    )


def stored_via_engine(store: Store, spec_dict: dict) -> tuple[str, dict]:
    """Run ``spec`` in-process, writing every batch to the store like the manager does."""
    spec = parse_spec(spec_dict)
    exp_id = store.create_experiment(spec, status="running", owner="test")
    exp = Experiment(spec)
    for batch in exp.batches(flush_seconds=0.0):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished", device="cpu")
    return exp_id, run_experiment(spec)


# ---------------------------------------------------------------------------- schema


def test_new_store_is_wal_and_current_version(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_migration_path_upgrades_an_old_store_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    old = Store(path)
    exp_id = old.create_experiment(synthetic_spec(), status="finished")
    old.close()
    monkeypatch.setattr(
        store_schema,
        "MIGRATIONS",
        [*store_schema.MIGRATIONS, "ALTER TABLE experiments ADD COLUMN note TEXT DEFAULT 'n/a'"],
    )
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = sqlite3.connect(path, isolation_level=None)
    assert store_schema.migrate(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT id, note FROM experiments").fetchall() == [(exp_id, "n/a")]


def test_a_store_from_a_newer_optlab_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreVersionError, match="upgrade optlab"):
        Store(path)


# ---------------------------------------------------------------------------- writing / reading


def test_write_batches_and_read_tail_series_epochs(store: Store) -> None:
    exp_id = store.create_experiment(synthetic_spec(), client="c1", owner="test")
    for start in range(0, 1000, 100):
        store.write_batch(
            exp_id,
            Batch(
                chunks=[chunk(0, start, 100), chunk(1, start, 100, 2)],
                progress=(start + 100) / 1000,
            ),
        )
    store.write_batch(
        exp_id,
        Batch(
            epochs=[EpochMetrics(1, 1, 0.5, 0.6, 0.7, 1.0)],
            statuses=[
                RunStatus(0, "diverged", "boom", diverged_at=1000, groups=["default"]),
                RunStatus(
                    1, "finished", final_loss=0.25, final_params=[1.0, 2.0], groups=["a", "b"]
                ),
            ],
            progress=1.0,
        ),
    )
    assert store.step_counts(exp_id) == {0: 1000, 1: 1000}
    tail = store.steps_since(exp_id, 1, 990)
    assert tail.step.tolist() == list(range(990, 1000))
    assert tail.loss.tolist() == [s * 10 + 1 for s in range(990, 1000)]
    assert tail.lr.shape == (10, 2) and tail.lr[0, 1] == 990 / 1e3
    assert tail.params is not None and tail.params[-1].tolist() == [999.0, -999.0]
    series = store.series(exp_id, 0, max_points=100)
    assert series.step[0] == 0 and series.step[-1] == 999 and 100 <= len(series) <= 101
    assert np.all(np.diff(series.step) > 0)
    assert store.series(exp_id, 0, max_points=5000).step.tolist() == list(range(1000))
    assert len(store.series(exp_id, 0, max_points=10, since=900)) in (10, 11)
    runs = store.runs(exp_id)
    assert [r["status"] for r in runs] == ["diverged", "finished"]
    assert runs[0]["diverged_at"] == 1000 and runs[0]["message"] == "boom"
    assert runs[1]["final_params"] == [1.0, 2.0] and runs[1]["groups"] == ["a", "b"]
    assert runs[1]["steps_done"] == 1000
    assert store.epochs(exp_id) == [
        {"run": 1, "epoch": 1, "train_loss": 0.5, "val_loss": 0.6, "val_acc": 0.7, "time": 1.0}
    ]
    exp = store.get_experiment(exp_id)
    assert exp["progress"] == 1.0 and exp["client"] == "c1" and exp["versions"]["torch"]
    assert store.steps_since(exp_id, 0, 5000).to_dict()["step"] == []


def test_nan_loss_and_nan_lr_survive(store: Store) -> None:
    exp_id = store.create_experiment(synthetic_spec(runs=1), owner="test")
    c = chunk(0, 0, 3, groups=2)
    c.loss[1] = math.nan
    c.lr[0, 1] = math.nan
    store.write_batch(exp_id, Batch(chunks=[c]))
    rows = store.steps_since(exp_id, 0)
    assert math.isnan(rows.loss[1]) and math.isnan(rows.lr[0, 1]) and rows.lr[0, 0] == 0.0
    assert rows.to_dict()["loss"][1] is None


def test_list_rename_delete(store: Store) -> None:
    a = store.create_experiment(synthetic_spec(), client="alice", owner="test")
    b = store.create_experiment(synthetic_spec(), client="bob", owner="test")
    store.write_batch(b, Batch(chunks=[chunk(0, 0, 10)]))
    assert [e["id"] for e in store.list_experiments()] == [b, a]
    assert [e["id"] for e in store.list_experiments(client="alice")] == [a]
    store.rename(a, "my sweep")
    assert store.get_experiment(a)["name"] == "my sweep"
    store.delete(b)
    with pytest.raises(UnknownExperiment):
        store.get_experiment(b)
    assert store.conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 0
    assert [e["id"] for e in store.list_experiments()] == [a]


def test_result_json_equals_run_experiment_for_a_surface(store: Store) -> None:
    exp_id, direct = stored_via_engine(store, SURFACE)
    stored = store.result_json(exp_id)
    assert stored == direct
    assert stored["runs"][2]["status"] == "diverged"  # a diverged run round-trips too


def test_result_json_equals_run_experiment_for_a_model_with_frozen_group(store: Store) -> None:
    exp_id, direct = stored_via_engine(store, MODEL)
    assert store.result_json(exp_id) == direct
    assert direct["runs"][0]["lr"][0][1] is None  # the frozen group's NaN lr round-trips
    assert len(store.epochs(exp_id)) == 4


def test_store_result_round_trips_the_cli_result(store: Store) -> None:
    spec = parse_spec(MODEL)
    result = run_experiment(spec)
    exp_id = store.store_result(spec, result)
    assert store.result_json(exp_id) == result
    exp = store.get_experiment(exp_id)
    assert exp["status"] == "finished" and exp["source"] == "cli" and exp["device"] == "cpu"


def test_export_csv(store: Store, tmp_path: Path) -> None:
    exp_id, direct = stored_via_engine(store, SURFACE)
    files = store.export_csv(exp_id, tmp_path / "csv")
    names = sorted(p.name for p in files)
    assert names == ["0_SGDM.csv", "1_Adam.csv", "2_Boom.csv", "runs.csv", "spec.json"]
    lines = (tmp_path / "csv" / "1_Adam.csv").read_text().splitlines()
    assert lines[0] == "step,loss,lr[default],grad_norm,time,x,y"
    assert len(lines) == 1 + 300
    assert float(lines[300].split(",")[1]) == direct["runs"][1]["loss"][299]  # exact floats
    assert json.loads((tmp_path / "csv" / "spec.json").read_text()) == direct["spec"]


# ---------------------------------------------------------------------------- ownership


def test_mark_interrupted_on_startup(store: Store) -> None:
    spec = synthetic_spec()
    live = new_owner()
    gone = new_owner()
    release_owner(gone)
    mine = store.create_experiment(spec, status="running", owner=live)
    dead_here = store.create_experiment(spec, status="running", owner=gone)
    queued_dead = store.create_experiment(spec, status="queued", owner=gone)
    done = store.create_experiment(spec, status="finished", owner=gone)
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    other = store.create_experiment(spec, status="running", owner="x")
    store.conn.execute("UPDATE experiments SET owner_pid = ? WHERE id = ?", (int(dead_pid), other))
    store.write_batch(dead_here, Batch(statuses=[RunStatus(0, "finished")]))
    marked = store.mark_interrupted_on_startup()
    assert sorted(marked) == sorted([dead_here, queued_dead, other])
    assert store.get_experiment(mine)["status"] == "running"
    assert store.get_experiment(done)["status"] == "finished"
    runs = store.runs(dead_here)
    assert [r["status"] for r in runs] == ["finished", "interrupted"]  # ended runs keep theirs
    assert "resume" in store.get_experiment(dead_here)["message"]
    release_owner(live)


# ---------------------------------------------------------------------------- concurrency / crashes


def test_threads_write_to_one_store(store: Store) -> None:
    ids = [store.create_experiment(synthetic_spec(runs=2), owner="test") for _ in range(6)]

    def writer(exp_id: str) -> None:
        for start in range(0, 500, 50):
            store.write_batch(exp_id, Batch(chunks=[chunk(0, start, 50), chunk(1, start, 50)]))

    threads = [threading.Thread(target=writer, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(store.step_counts(i) == {0: 500, 1: 500} for i in ids)


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from optlab.store.db import Store
    from optlab.engine.records import Batch, StepChunk
    store = Store(sys.argv[1])
    spec = {"problem": {"name": "rosenbrock"}, "steps": 10**6,
            "runs": [{"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.1}} for i in range(3)]}
    exp = store.create_experiment(spec, owner="writer")
    print(exp, flush=True)
    start, n = 0, 997
    while True:
        batch = Batch(chunks=[StepChunk(r, start, np.random.rand(n), np.random.rand(n, 1),
                                        np.random.rand(n), np.random.rand(n), np.random.rand(n, 2))
                              for r in range(3)])
        store.write_batch(exp, batch)
        start += n
""")


def test_kill_mid_write_leaves_a_consistent_store_without_half_batches(tmp_path: Path) -> None:
    path = tmp_path / "optlab.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    exp_id = proc.stdout.readline().strip()
    reader = Store(path)
    deadline = time.monotonic() + 30
    while sum(reader.step_counts(exp_id).values()) < 30 * 997 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.137)  # land somewhere inside a write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.close()
    store = Store(path)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = store.step_counts(exp_id)
    assert len(set(counts.values())) == 1, counts  # every batch wrote all three runs, or none
    assert counts[0] % 997 == 0 and counts[0] >= 10 * 997
    store.close()


# ---------------------------------------------------------------------------- CLI


def test_cli_run_stores_and_runs_show_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from optlab.cli.main import main

    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SURFACE))
    assert main(["run", str(spec_file), "--out", str(tmp_path / "direct.json"), "--quiet"]) == 0
    assert main(["run", str(spec_file), "--no-store", "--quiet", "--out", str(tmp_path / "x")]) == 0
    direct = json.loads((tmp_path / "direct.json").read_text())
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in listed] == [direct["id"]]  # --no-store kept nothing
    assert listed[0]["status"] == "finished" and listed[0]["source"] == "cli"
    assert main(["runs"]) == 0
    assert direct["id"] in capsys.readouterr().out
    out = tmp_path / "shown.json"
    assert main(["show", direct["id"], "--out", str(out), "--csv", str(tmp_path / "csv")]) == 0
    assert json.loads(out.read_text()) == {k: v for k, v in direct.items() if k != "id"}
    assert (tmp_path / "csv" / "0_SGDM.csv").exists()
    assert main(["show", direct["id"]]) == 0
    assert "Adam" in capsys.readouterr().out
    assert main(["show", "nope"]) == 2
    assert "no experiment 'nope'" in capsys.readouterr().err


def test_connections_of_finished_threads_are_closed(store: Store) -> None:
    exp_id = store.create_experiment(synthetic_spec(), owner="test")

    def read() -> None:
        store.get_experiment(exp_id)

    for _ in range(30):  # like Streamlit reruns, each in a new thread
        t = threading.Thread(target=read)
        t.start()
        t.join()
    store.get_experiment(exp_id)
    assert len(store._all) <= 2


def test_store_modules_import_one_way() -> None:
    """Only ``db`` builds the Store; its parts (export included) never import it back."""
    import ast

    for path in sorted((ROOT / "optlab" / "store").glob("*.py")):
        if path.stem == "db":
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        assert "optlab.store.db" not in imported, path.name


# ------------------------------------------------- issue 9: averaged points, effective lr

SCALED = {
    "problem": {"name": "rosenbrock"},
    "steps": 120,
    "runs": [
        {"label": "SF", "optimizer": {"name": "ScheduleFreeAdamW", "lr": 0.01, "warmup_steps": 30}},
        {"label": "Prodigy", "optimizer": {"name": "Prodigy"}},
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.001}},
    ],
}
SCALED_MODEL = {
    **MODEL,
    "runs": [
        {
            "label": "DAdapt",
            "optimizer": {"name": "DAdaptAdam"},
            "param_groups": [{"params": "layer1.*", "frozen": True, "unfreeze_at_step": 4}],
        },
        {"label": "SF", "optimizer": {"name": "ScheduleFreeSGD", "lr": 0.01, "warmup_steps": 5}},
    ],
}


def test_eval_params_and_effective_lr_round_trip_through_the_store(store: Store) -> None:
    exp_id, direct = stored_via_engine(store, SCALED)
    sf, prodigy, sgd = direct["runs"]
    assert "eval_params" in sf and "effective_lr" in sf and "effective_lr" in prodigy
    assert "eval_params" not in sgd and "effective_lr" not in sgd
    assert store.result_json(exp_id) == direct
    rows = store.steps_since(exp_id, 0, 10, limit=3)
    assert rows.eval_params is not None and rows.eval_params.tolist() == sf["eval_params"][10:13]
    assert rows.effective_lr is not None and rows.effective_lr[:, 0].tolist() == [
        row[0] for row in sf["effective_lr"][10:13]
    ]
    decimated = store.series(exp_id, 1, max_points=10)
    assert decimated.effective_lr is not None and len(decimated.effective_lr) == len(decimated)
    plain = store.steps_since(exp_id, 2)
    assert plain.eval_params is None and plain.effective_lr is None
    assert "effective_lr" in rows.to_dict() and "eval_params" not in plain.to_dict()


def test_effective_lr_round_trips_for_a_model_with_a_late_group(store: Store) -> None:
    exp_id, direct = stored_via_engine(store, SCALED_MODEL)
    assert store.result_json(exp_id) == direct
    first = direct["runs"][0]["effective_lr"]
    assert first[0][1] is None and first[4][1] == first[4][0]  # joins at step 4


def test_store_result_keeps_eval_params_and_effective_lr(store: Store) -> None:
    spec = parse_spec(SCALED)
    result = run_experiment(spec)
    exp_id = store.store_result(spec, result)
    assert store.result_json(exp_id) == result


def test_export_csv_has_the_averaged_point_and_the_effective_lr(
    store: Store, tmp_path: Path
) -> None:
    exp_id, direct = stored_via_engine(store, SCALED)
    store.export_csv(exp_id, tmp_path / "csv")
    lines = (tmp_path / "csv" / "0_SF.csv").read_text().splitlines()
    assert (
        lines[0] == "step,loss,lr[default],grad_norm,time,x,y,eval_x,eval_y,effective_lr[default]"
    )
    cells = lines[1 + 7].split(",")
    assert [float(v) for v in cells[7:9]] == direct["runs"][0]["eval_params"][7]
    assert float(cells[9]) == direct["runs"][0]["effective_lr"][7][0] == 0.01 * 8 / 30
    sgd = (tmp_path / "csv" / "2_SGD.csv").read_text().splitlines()
    assert sgd[0] == "step,loss,lr[default],grad_norm,time,x,y"


def test_a_version_1_store_file_migrates_and_takes_the_new_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written by the optlab before schema 2: its rows read as before, new runs
    store their averaged points and effective lrs in the same file."""
    path = tmp_path / "v1.db"
    with monkeypatch.context() as m:
        m.setattr(store_schema, "MIGRATIONS", store_schema.MIGRATIONS[:1])
        m.setattr(store_schema, "SCHEMA_VERSION", 1)
        old = Store(path)
        exp_id = old.create_experiment(synthetic_spec(runs=1, steps=3), status="finished")
        pk = old.pk(exp_id)
        lr = np.array([1e-3]).astype("<f8").tobytes()
        with old._tx() as conn:  # what schema 1's write_batch wrote: 9 columns
            conn.executemany(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?)",
                [(pk, 0, s, 10.0 - s, lr, -1.0 + s, 1.0, 2.0, s / 10) for s in range(3)],
            )
            conn.execute("UPDATE runs SET status = 'finished', steps_done = 3")
        old.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    store = Store(path)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        rows = store.steps_since(exp_id, 0)
        assert rows.loss.tolist() == [10.0, 9.0, 8.0] and rows.lr.tolist() == [[1e-3]] * 3
        assert rows.params is not None and rows.params[:, 0].tolist() == [-1.0, 0.0, 1.0]
        assert rows.eval_params is None and rows.effective_lr is None
        run = store.result_json(exp_id)["runs"][0]
        assert run["loss"] == [10.0, 9.0, 8.0] and "eval_params" not in run
        new_id, direct = stored_via_engine(store, SCALED)
        assert store.result_json(new_id) == direct
    finally:
        store.close()
