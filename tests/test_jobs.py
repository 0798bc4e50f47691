"""The job manager with real worker processes and a real SQLite store (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from optlab.engine.experiment import run_experiment
from optlab.jobs.job import LimitError, Limits
from optlab.jobs.local_executor import LocalExecutor
from optlab.jobs.manager import JobManager
from optlab.spec import parse_spec
from optlab.store.db import Store
from tests.helpers import one_thread, wait_for

ROOT = Path(__file__).resolve().parent.parent


def surface(steps: int, seed: int = 0, runs: int = 2, **problem: Any) -> dict[str, Any]:
    labels = [
        {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.0005, "momentum": 0.9}},
        {
            "label": "Adam",
            "optimizer": {"name": "Adam", "lr": 0.01},
            "scheduler": {"name": "StepLR", "step_size": 500, "gamma": 0.7},
        },
    ]
    return {
        "problem": {"name": "rosenbrock", **problem},
        "steps": steps,
        "seed": seed,
        "runs": labels[:runs],
    }


LONG = surface(100_000)


def direct(spec: dict[str, Any]) -> dict[str, Any]:
    """``run_experiment`` here, on one thread like a worker (and fast on a busy machine)."""
    return one_thread(lambda: run_experiment(parse_spec(spec)))


def status(store: Store, exp_id: str) -> str:
    return str(store.get_experiment(exp_id)["status"])


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobManager]:
    home = tmp_path_factory.mktemp("home")
    m = JobManager(
        Store(home / "optlab.db"),
        workers=2,
        limits=Limits(running_per_client=1, queued_per_client=1),
    )
    yield m
    m.shutdown()


def executor(m: JobManager) -> LocalExecutor:
    assert isinstance(m.executor, LocalExecutor)
    return m.executor


# ---------------------------------------------------------------------------- the happy path


def test_submit_streams_in_order_and_stores_the_cli_result(manager: JobManager) -> None:
    spec = parse_spec(surface(2000))
    exp_id = manager.submit(spec, client="stream")
    assert manager.submit(spec, client="stream") == exp_id  # reattach, no duplicate
    store, seen, nxt = manager.store, [], 0
    wait_for(lambda: status(store, exp_id) == "running")
    while manager.is_active(exp_id):
        tail = store.steps_since(exp_id, 0, nxt)
        if len(tail):
            assert tail.step.tolist() == list(range(nxt, nxt + len(tail)))  # in order, no gaps
            nxt += len(tail)
            seen.append(nxt)
        time.sleep(0.02)
    assert manager.wait(exp_id, 60) == "finished"
    nxt += len(store.steps_since(exp_id, 0, nxt))
    assert nxt == 2000
    assert len([n for n in seen if n < 2000]) >= 2  # it streamed while running
    assert store.result_json(exp_id) == direct(spec.to_dict())
    exp = store.get_experiment(exp_id)
    assert exp["device"] == "cpu" and exp["started"] and exp["finished"]
    assert exp["progress"] == 1.0


def test_twenty_clients_submitting_at_once(manager: JobManager) -> None:
    accepted: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for seed in range(2):
            try:
                exp_id = manager.submit(surface(100, seed=seed, runs=1), client=f"c{k}")
            except LimitError as exc:
                with lock:
                    refused.append(str(exc))
            else:
                with lock:
                    accepted.append(exp_id)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) + len(refused) == 40 and len(set(accepted)) == len(accepted)
    assert accepted and refused
    assert all("OPTLAB_MAX_QUEUED_PER_CLIENT" in r and "refused" in r for r in refused)
    for exp_id in accepted:
        assert manager.wait(exp_id, 120) == "finished"
        assert manager.store.step_counts(exp_id) == {0: 100}
        assert [r["steps_done"] for r in manager.store.runs(exp_id)] == [100]


def test_cancel_one_run_then_the_experiment_within_a_second(manager: JobManager) -> None:
    store = manager.store
    exp_id = manager.submit(LONG, client="cancel")
    wait_for(lambda: len(store.steps_since(exp_id, 1)) > 0)
    t0 = time.monotonic()
    assert manager.cancel(exp_id, run=1)
    wait_for(lambda: store.runs(exp_id)[1]["status"] == "cancelled", timeout=5)
    assert time.monotonic() - t0 < 1.0
    before = store.runs(exp_id)[0]["steps_done"]
    wait_for(lambda: store.runs(exp_id)[0]["steps_done"] > before)  # the other run goes on
    assert store.runs(exp_id)[0]["status"] == "running"
    t0 = time.monotonic()
    assert manager.cancel(exp_id)
    wait_for(lambda: status(store, exp_id) == "cancelled", timeout=5)
    assert time.monotonic() - t0 < 1.0
    runs = store.runs(exp_id)
    assert [r["status"] for r in runs] == ["cancelled", "cancelled"]
    assert runs[1]["message"].startswith("cancelled at step")
    assert store.step_counts(exp_id)[0] == runs[0]["steps_done"]


def test_cancel_a_queued_experiment(manager: JobManager) -> None:
    first = manager.submit(LONG, client="q")
    wait_for(lambda: status(manager.store, first) == "running")
    second = manager.submit(surface(200), client="q")  # waits: one running per client
    assert status(manager.store, second) == "queued"
    assert manager.cancel(second)
    assert status(manager.store, second) == "cancelled"
    assert {r["status"] for r in manager.store.runs(second)} == {"cancelled"}
    manager.cancel(first)
    assert manager.wait(first, 10) == "cancelled"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_experiment_that_raises_fails_only_its_runs(manager: JobManager) -> None:
    bad = manager.submit(
        {
            "problem": {"name": "mse_regression"},
            "epochs": 1,
            "device": "cuda",
            "runs": [{"label": "a", "optimizer": {"name": "SGD", "lr": 0.1}}],
        },
        client="raise",
    )
    good = manager.submit(surface(200), client="fine")
    assert manager.wait(bad, 60) == "failed"
    assert manager.wait(good, 60) == "finished"
    exp = manager.store.get_experiment(bad)
    assert "cuda" in exp["message"] and "DeviceUnavailable" in exp["message"]
    assert manager.store.runs(bad)[0]["status"] == "failed"
    assert "cuda" in manager.store.runs(bad)[0]["message"]


# ---------------------------------------------------------------------------- faults


@pytest.mark.slow
def test_sigkill_of_a_worker_fails_its_runs_and_the_queue_goes_on(manager: JobManager) -> None:
    store, ex = manager.store, executor(manager)
    victim = manager.submit(LONG, client="victim")
    wait_for(lambda: status(store, victim) == "running")
    after = manager.submit(surface(300), client="victim")  # queued behind it (same client)
    wait_for(lambda: len(store.steps_since(victim, 0)) > 200)
    pid = ex.running_pid(victim)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert manager.wait(victim, 30) == "failed"
    exp = store.get_experiment(victim)
    assert "worker process died (signal 9: SIGKILL)" in exp["message"]
    runs = store.runs(victim)
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert "signal 9" in runs[0]["message"]
    counts = store.step_counts(victim)
    assert counts[0] > 200 and counts[0] == runs[0]["steps_done"]  # records kept
    assert manager.wait(after, 60) == "finished"  # a fresh worker took the next job
    assert store.step_counts(after) == {0: 300, 1: 300}
    assert pid not in ex.worker_pids()


MANAGER_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from optlab.jobs.manager import JobManager
    from optlab.store.db import Store
    manager = JobManager(Store(sys.argv[1]), workers=1, checkpoint_seconds=0.3)
    print(manager.submit(json.loads(sys.argv[2]), client="k"), flush=True)
    print(manager.submit(json.loads(sys.argv[3]), client="other"), flush=True)
    time.sleep(600)
""")


@pytest.mark.slow
def test_killed_manager_leaves_interrupted_and_resume_is_bit_identical(tmp_path: Path) -> None:
    db = tmp_path / "optlab.db"
    spec = surface(3000, noise=0.5)
    spec["runs"][1]["record_state"] = True  # its instrument chunks are cut at the checkpoint
    queued = surface(50, seed=7)
    proc = subprocess.Popen(
        [sys.executable, "-c", MANAGER_SCRIPT, str(db), json.dumps(spec), json.dumps(queued)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        exp_id = proc.stdout.readline().strip()
        waiting = proc.stdout.readline().strip()
        store = Store(db)
        wait_for(lambda: (store.get_experiment(exp_id)["checkpoint_step"] or 0) >= 400, 90)
        assert status(store, exp_id) == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = store.step_counts(exp_id)[0]
    assert 400 <= killed_at < 3000
    manager = JobManager(store, workers=1, checkpoint_seconds=0.3)
    try:
        assert set(manager.interrupted) == {exp_id, waiting}
        exp = store.get_experiment(exp_id)
        assert exp["status"] == "interrupted" and "resume" in exp["message"]
        assert {r["status"] for r in exp["runs"]} == {"interrupted"}
        assert (tmp_path / "checkpoints" / f"{exp_id}.pt").exists()
        manager.resume(exp_id)
        manager.resume(waiting)  # never started: no checkpoint, starts from scratch
        assert manager.wait(exp_id, 90) == "finished"
        assert manager.wait(waiting, 60) == "finished"
    finally:
        manager.shutdown()
    assert store.step_counts(exp_id) == {0: 3000, 1: 3000}
    assert store.result_json(exp_id) == direct(spec)
    assert len(store.result_json(exp_id)["runs"][1]["state"]["exp_avg"]) == 3000
    assert store.result_json(waiting) == direct(queued)
    assert not (tmp_path / "checkpoints" / f"{exp_id}.pt").exists()


@pytest.mark.slow
def test_shutdown_interrupts_and_a_model_resumes_bit_identical(tmp_path: Path) -> None:
    spec = {
        "problem": {"name": "mse_regression", "n_samples": 1000},
        "epochs": 6,
        "batch_size": 16,
        "seed": 5,
        "runs": [
            {
                "label": "SGDM",
                "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
                "scheduler": {"name": "StepLR", "step_size": 40, "gamma": 0.8},
                "record_state": True,
                "record_sharpness": {"every": 25, "iters": 5},
            },
            {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
        ],
    }
    store = Store(tmp_path / "optlab.db")
    first = JobManager(store, workers=1, checkpoint_seconds=0.2)
    exp_id = first.submit(spec)
    wait_for(
        lambda: (
            len(store.epochs(exp_id)) >= 2
            and (store.get_experiment(exp_id)["checkpoint_step"] or 0) >= 60
        ),
        90,
    )
    first.shutdown()
    assert status(store, exp_id) == "interrupted"
    second = JobManager(store, workers=1)
    try:
        second.resume(exp_id)
        assert second.wait(exp_id, 120) == "finished"
    finally:
        second.shutdown()
    stored = store.result_json(exp_id)
    assert stored == direct(spec)
    assert len(store.epochs(exp_id)) == 12
    assert stored["runs"][0]["sharpness"][25] is not None
    assert "momentum_buffer" in stored["runs"][0]["state_norms"]["default"]


def test_resume_refuses_what_is_not_interrupted(manager: JobManager) -> None:
    exp_id = manager.submit(surface(50, seed=99), client="r")
    manager.wait(exp_id, 60)
    with pytest.raises(ValueError, match="only interrupted"):
        manager.resume(exp_id)


def test_manager_delete_cancels_an_active_experiment(manager: JobManager) -> None:
    exp_id = manager.submit(LONG, client="del")
    wait_for(lambda: status(manager.store, exp_id) == "running")
    manager.delete(exp_id)
    assert not manager.is_active(exp_id)
    assert exp_id not in [e["id"] for e in manager.store.list_experiments()]


def test_gpu_jobs_go_to_the_gpu_worker_and_surfaces_to_the_others(tmp_path: Path) -> None:
    from collections import Counter

    from optlab.jobs.job import Job

    ex = LocalExecutor(
        Store(tmp_path / "x.db"),
        workers=0,
        threads=1,
        max_running_per_client=1,
        flush_seconds=0.05,
        checkpoint_seconds=5,
        checkpoint_dir=tmp_path,
        on_done=lambda job: None,
    )
    model, plane, none = Job("m", {}, needs_gpu=True), Job("s", {}), Counter()
    assert ex._eligible(model, 0, none) and not ex._eligible(model, 1, none)  # GPU not known yet
    ex._gpu, ex._idle = True, {0, 1}
    assert ex._eligible(model, 0, none) and not ex._eligible(model, 1, none)
    assert not ex._eligible(plane, 0, none) and ex._eligible(plane, 1, none)  # slot 1 is free
    ex._idle = {0}
    assert ex._eligible(plane, 0, none)
    ex._gpu = False  # no GPU after all: any worker runs anything
    assert ex._eligible(model, 1, none)
    assert not ex._eligible(plane, 1, Counter({"": 1}))  # the client's running limit


def test_get_manager_is_one_process_wide_manager_in_optlab_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optlab.jobs.manager import get_manager, shutdown_manager

    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPTLAB_WORKERS", "1")
    try:
        m = get_manager()
        assert get_manager() is m
        assert m.store.path == tmp_path / "home" / "optlab.db"
        assert len(executor(m).workers) == 1
        wait_for(
            lambda: m.overview()["workers"][0].get("device") == "cpu" or torch.cuda.is_available()
        )
        assert m.overview()["queued"] == 0
    finally:
        shutdown_manager()
    with pytest.raises(RuntimeError, match="shut down"):
        m.submit(surface(10))
    assert m.closed
