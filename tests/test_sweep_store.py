"""Sweeps in the run store (issue 10): round trip, streaming CLI, resume, runs/show."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from optlab.cli.main import main
from optlab.engine.sweep import run_sweep
from optlab.engine.sweep_plan import plan
from optlab.engine.sweep_work import run_remaining, total_trials
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.store.schema import SCHEMA_VERSION

BASINS: dict[str, Any] = {
    "problem": {"name": "himmelblau"},
    "steps": 60,
    "runs": [
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
        {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.005, "momentum": 0.9}},
    ],
    "sweep": {
        "axes": {"problem.start": {"grid": [[-4.0, 4.0], [-4.0, 4.0]], "num": [4, 3]}},
        "threshold": 1e-3,
    },
}
TUNED: dict[str, Any] = {
    "problem": {"name": "quadratic", "condition": 10, "noise": 0.1},
    "steps": 40,
    "runs": [{"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.1}}],
    "sweep": {
        "mode": "halton",
        "trials": 4,
        "axes": {"optimizer.lr": {"log": [0.01, 0.5], "num": 4}},
        "tune": {"trials": 4, "metric": "final_loss", "rerun_seeds": 2},
    },
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _without_time(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "progress"}


def test_store_round_trip_equals_the_cli_result(tmp_path: Path) -> None:
    spec = parse_spec(BASINS)
    expected = run_sweep(spec)
    store = Store(tmp_path / "s.db")
    exp_id = store.create_experiment(
        spec, kind="sweep", trials_total=total_trials(spec), status="running"
    )
    _, stopped = run_remaining(spec, [], on_result=lambda r: store.write_trials(exp_id, [r]))
    assert not stopped
    store.close()
    again = Store(tmp_path / "s.db")  # a fresh connection reads it back from the file
    got = again.sweep_result(exp_id)
    assert got["progress"] == {"done": 24, "total": 24}
    assert json.dumps(_without_time(got), sort_keys=True) == json.dumps(expected, sort_keys=True)
    exp = again.get_experiment(exp_id)
    assert exp["kind"] == "sweep" and exp["progress"] == 1.0
    assert [e["id"] for e in again.list_experiments(kind="sweep")] == [exp_id]
    assert again.list_experiments(kind="experiment") == []


def test_schema_version_and_old_stores_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    from optlab.store.schema import MIGRATIONS, _statements

    for script in MIGRATIONS[:2]:
        for st in _statements(script):
            conn.execute(st)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO experiments (id, spec, spec_key, status, created) VALUES"
        " ('old', '{\"runs\": []}', 'k', 'finished', 0)"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert store.get_experiment("old")["kind"] == "experiment"
    columns = [r[1] for r in store.conn.execute("PRAGMA table_info(instruments)")]
    assert columns == ["exp", "run", "step", "key", "n", "data"]


def test_tune_round_trip_keeps_phases(tmp_path: Path) -> None:
    spec = parse_spec(TUNED)
    expected = run_sweep(spec)
    store = Store(tmp_path / "s.db")
    exp_id = store.create_experiment(spec, kind="sweep", trials_total=total_trials(spec))
    run_remaining(spec, [], on_result=lambda r: store.write_trials(exp_id, [r]))
    got = store.sweep_result(exp_id)
    assert got["progress"] == {"done": 6, "total": 6}
    assert _without_time(got) == expected


def test_resume_skips_finished_trials(tmp_path: Path) -> None:
    spec = parse_spec(TUNED)
    store = Store(tmp_path / "s.db")
    exp_id = store.create_experiment(spec, kind="sweep", trials_total=total_trials(spec))
    first = plan(spec)[:3]
    from optlab.engine.sweep import run_trials

    store.write_trials(exp_id, run_trials(spec, first))
    ran: list[int] = []

    def runner(spec: Any, trials: list[Any], **kw: Any) -> Any:
        ran.extend(t.index for t in trials)
        return run_trials(spec, trials, **kw)

    run_remaining(
        spec,
        store.trial_results(exp_id),
        on_result=lambda r: store.write_trials(exp_id, [r]),
        runner=runner,
    )
    assert ran == [3, 4, 5]  # the fourth search trial, then the two re-runs
    assert _without_time(store.sweep_result(exp_id)) == run_sweep(spec)


def test_cli_streams_into_the_store_and_runs_show_list_it(
    home: Path, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(BASINS), encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    exp_id = err.split("stored as sweep ")[1].split()[0]
    store = Store(home / "optlab.db")
    assert store.get_experiment(exp_id)["status"] == "finished"
    assert _without_time(store.sweep_result(exp_id)) == json.loads(out.read_text())
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert exp_id in listing and "sweep (24/24 trials)" in listing
    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["kind"] == "sweep" and rows[0]["trials"] == {"done": 24, "total": 24}
    assert main(["show", exp_id]) == 0
    shown = capsys.readouterr().out
    assert "24/24 trials" in shown and "Adam" in shown and "SGDM" in shown
    shown_json = tmp_path / "shown.json"
    assert main(["show", exp_id, "--out", str(shown_json)]) == 0
    assert _without_time(json.loads(shown_json.read_text())) == json.loads(out.read_text())
    assert main(["show", exp_id, "--csv", str(tmp_path / "csv")]) == 0
    assert len((tmp_path / "csv" / "trials.csv").read_text().splitlines()) == 25


def test_cli_resume_continues_an_interrupted_sweep(home: Path, tmp_path: Path, capsys: Any) -> None:
    spec = parse_spec(TUNED)
    store = Store(home / "optlab.db")
    exp_id = store.create_experiment(
        spec, kind="sweep", trials_total=total_trials(spec), status="interrupted", source="cli"
    )
    from optlab.engine.sweep import run_trials

    store.write_trials(exp_id, run_trials(spec, plan(spec)[:2]))
    out = tmp_path / "r.json"
    assert main(["sweep", "", "--resume", exp_id, "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text()) == run_sweep(spec)
    assert store.get_experiment(exp_id)["status"] == "finished"
    assert main(["sweep", "", "--resume", exp_id, "--quiet"]) == 2  # finished: nothing to resume
    assert "only interrupted" in capsys.readouterr().err


def test_a_refused_sweep_stores_nothing(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    bad = {**BASINS, "sweep": {"axes": {"optimizer.momentum": [0.1]}}}
    path.write_text(json.dumps(bad), encoding="utf-8")
    assert main(["sweep", str(path), "--quiet"]) == 2
    assert Store(home / "optlab.db").list_experiments() == []
