"""Sweeps through the real job manager and worker processes (issue 10), no mocks."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from optlab.engine.sweep import run_sweep
from optlab.jobs.job import Limits
from optlab.jobs.manager import JobManager
from optlab.spec import SpecError, parse_spec
from optlab.store.db import Store
from tests.helpers import one_thread, wait_for

pytestmark = pytest.mark.slow

BASINS: dict[str, Any] = {
    "problem": {"name": "himmelblau"},
    "steps": 80,
    "runs": [
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
        {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.005, "momentum": 0.9}},
    ],
    "sweep": {
        "axes": {"problem.start": {"grid": [[-4.0, 4.0], [-4.0, 4.0]], "num": [5, 4]}},
        "threshold": 1e-3,
    },
}


def models(lrs: list[float], epochs: int = 1, n: int = 200) -> dict[str, Any]:
    return {
        "problem": {"name": "mse_regression", "n_samples": n},
        "epochs": epochs,
        "batch_size": 32,
        "device": "cpu",
        "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}}],
        "sweep": {"axes": {"optimizer.lr": lrs}},
    }


def in_process(spec: dict[str, Any]) -> dict[str, Any]:
    return one_thread(lambda: run_sweep(parse_spec(spec)))


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[JobManager]:
    m = JobManager(
        Store(tmp_path / "optlab.db"),
        workers=2,
        threads=1,
        limits=Limits(running_per_client=2, queued_per_client=2),
    )
    yield m
    m.shutdown()


def _no_progress(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "progress"}


def test_a_surface_sweep_runs_in_one_worker_and_equals_the_cli(manager: JobManager) -> None:
    exp_id = manager.submit(BASINS, client="a")
    assert manager.store.get_experiment(exp_id)["kind"] == "sweep"
    assert manager.wait(exp_id, 120) == "finished"
    got = manager.store.sweep_result(exp_id)
    assert got["progress"] == {"done": 40, "total": 40}
    assert _no_progress(got) == in_process(BASINS)


def test_model_trials_spread_over_the_workers(manager: JobManager) -> None:
    spec = models([0.001, 0.003, 0.01, 0.03, 0.1, 0.3], epochs=3, n=2000)
    exp_id = manager.submit(spec, client="b")
    wait_for(lambda: manager.overview()["running"] == 2, timeout=120)  # two trials at once
    counts = []
    while manager.is_active(exp_id):
        counts.append(manager.store.trial_count(exp_id))
        time.sleep(0.05)
    assert manager.wait(exp_id, 120) == "finished"
    assert any(0 < c < 6 for c in counts)  # streamed trial by trial
    assert _no_progress(manager.store.sweep_result(exp_id)) == in_process(spec)


def test_cancel_stops_within_a_second_and_keeps_finished_trials(manager: JobManager) -> None:
    spec = models([0.001 * (k + 1) for k in range(16)], epochs=40, n=2000)
    exp_id = manager.submit(spec, client="c")
    store = manager.store
    wait_for(lambda: store.trial_count(exp_id) >= 1, timeout=120)
    start = time.monotonic()
    assert manager.cancel(exp_id)
    assert manager.wait(exp_id, 10) == "cancelled"
    assert time.monotonic() - start < 1.5
    kept = store.trial_count(exp_id)
    assert 1 <= kept < 16
    result = store.sweep_result(exp_id)
    assert {t["status"] for t in result["trials"]} <= {"finished", "diverged"}
    assert result["progress"] == {"done": kept, "total": 16}


def test_an_interrupted_sweep_resumes_without_redoing_trials(tmp_path: Path) -> None:
    spec = models([0.001 * (k + 1) for k in range(6)], epochs=6, n=2000)
    first = JobManager(Store(tmp_path / "optlab.db"), workers=1, threads=1)
    exp_id = first.submit(spec, client="d")
    wait_for(lambda: first.store.trial_count(exp_id) >= 2, timeout=120)
    first.shutdown()
    store = Store(tmp_path / "optlab.db")
    kept = {t["index"]: t["time"] for t in store.trial_rows(exp_id)}
    assert store.get_experiment(exp_id)["status"] == "interrupted"
    second = JobManager(Store(tmp_path / "optlab.db"), workers=2, threads=1)
    try:
        second.resume(exp_id)
        assert second.wait(exp_id, 120) == "finished"
        rows = second.store.trial_rows(exp_id)
        assert len(rows) == 6
        assert all(rows[i]["time"] == t for i, t in kept.items())  # not run again
        assert _no_progress(second.store.sweep_result(exp_id)) == in_process(spec)
    finally:
        second.shutdown()


def test_a_refused_sweep_stores_nothing(manager: JobManager, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPTLAB_MAX_MODEL_TRIALS", "3")
    with pytest.raises(SpecError, match="OPTLAB_MAX_MODEL_TRIALS"):
        manager.submit(models([0.1, 0.2, 0.3, 0.4]), client="e")
    assert manager.store.list_experiments() == []


def test_a_killed_worker_fails_only_its_trial_and_the_sweep_goes_on(manager: JobManager) -> None:
    from optlab.jobs.local_executor import LocalExecutor

    executor = manager.executor
    assert isinstance(executor, LocalExecutor)
    spec = models([0.001, 0.002, 0.003], epochs=12, n=2000)
    exp_id = manager.submit(spec, client="f")
    wait_for(lambda: manager.overview()["running"] == 2, timeout=120)
    assert manager.store.trial_count(exp_id) == 0
    pid = executor.worker_pids()[0]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert manager.wait(exp_id, 180) == "finished"
    trials = manager.store.sweep_result(exp_id)["trials"]
    assert sorted(t["status"] for t in trials) == ["failed", "finished", "finished"]
    failed = next(t for t in trials if t["status"] == "failed")
    assert "signal 9" in failed["message"]
    assert executor.worker_pids()[0] != pid  # the slot runs a fresh worker
