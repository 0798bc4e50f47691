"""The Ray executor (issue 11) on a real local Ray with 2 CPUs, started here: results
identical to the local executor, records streamed while a trial runs, cancel, a
SIGKILLed Ray worker.  One Ray for the module; ``ray.shutdown()`` at its end."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import torch

from optlab.engine.experiment import run_experiment
from optlab.engine.sweep import run_sweep
from optlab.jobs.job import LimitError, Limits
from optlab.jobs.manager import JobManager
from optlab.jobs.ray_executor import RayExecutor, start_ray
from optlab.jobs.ray_worker import task_resources
from optlab.spec import parse_spec
from optlab.store.db import Store
from tests.helpers import one_thread, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SURFACE: dict[str, Any] = {
    "problem": {"name": "rosenbrock", "noise": 0.01},
    "steps": 400,
    "runs": [
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.02}},
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.0005, "momentum": 0.9},
            "scheduler": {"name": "StepLR", "step_size": 100, "gamma": 0.5},
        },
    ],
}

MODEL: dict[str, Any] = {
    "problem": {"name": "mse_regression", "n_samples": 300},
    "epochs": 2,
    "batch_size": 32,
    "device": "cpu",
    "runs": [
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9}},
    ],
}


def model_sweep(lrs: list[float], epochs: int = 1, n: int = 200) -> dict[str, Any]:
    return {
        "problem": {"name": "mse_regression", "n_samples": n},
        "epochs": epochs,
        "batch_size": 32,
        "device": "cpu",
        "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}}],
        "sweep": {"axes": {"optimizer.lr": lrs}},
    }


SURFACE_SWEEP: dict[str, Any] = {
    "problem": {"name": "himmelblau"},
    "steps": 60,
    "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}}],
    "sweep": {
        "axes": {"problem.start": {"grid": [[-4.0, 4.0], [-4.0, 4.0]], "num": [4, 3]}},
        "threshold": 1e-3,
    },
}


def no_progress(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "progress"}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray with 2 CPUs, started the way the executor starts one."""
    assert not ray.is_initialized()
    assert start_ray(None, 2)
    assert ray.cluster_resources()["CPU"] == 2
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def rm(local_ray: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobManager]:
    """A job manager on the Ray executor (one per module: Ray's workers stay warm)."""
    store = Store(tmp_path_factory.mktemp("ray") / "optlab.db")
    m = JobManager(
        store,
        workers=2,
        threads=1,
        executor_kind="ray",
        limits=Limits(running_per_client=2, queued_per_client=5),
    )
    assert isinstance(m.executor, RayExecutor)
    yield m
    m.shutdown()


def test_experiments_and_sweeps_match_the_local_executor(rm: JobManager, tmp_path: Path) -> None:
    specs = [SURFACE, MODEL, model_sweep([0.001, 0.01, 0.1]), SURFACE_SWEEP]
    on_ray = [rm.submit(s, client=f"same{k}") for k, s in enumerate(specs)]
    local = JobManager(Store(tmp_path / "local.db"), workers=1, threads=1, executor_kind="local")
    try:
        on_local = [local.submit(s, client=f"same{k}") for k, s in enumerate(specs)]
        assert [local.wait(e, 120) for e in on_local] == ["finished"] * 4
    finally:
        local.shutdown()
    assert [rm.wait(e, 120) for e in on_ray] == ["finished"] * 4
    for k in (0, 1):  # experiments: every stored record, bit for bit
        got = rm.store.result_json(on_ray[k])
        assert got == local.store.result_json(on_local[k])
        assert got == one_thread(lambda k=k: run_experiment(parse_spec(specs[k])))
    for k in (2, 3):  # sweeps: every trial
        got = no_progress(rm.store.sweep_result(on_ray[k]))
        assert got == no_progress(local.store.sweep_result(on_local[k]))
        assert got == one_thread(lambda k=k: run_sweep(parse_spec(specs[k])))
    assert rm.store.get_experiment(on_ray[1])["device"] == "cpu"


def test_records_arrive_in_the_store_while_the_trial_runs(rm: JobManager) -> None:
    spec = {**MODEL, "problem": {"name": "mse_regression", "n_samples": 2000}, "epochs": 6}
    exp_id = rm.submit(spec, client="stream")
    seen: set[int] = set()
    while rm.is_active(exp_id):
        if rm.store.get_experiment(exp_id)["status"] == "running":
            seen.add(sum(rm.store.step_counts(exp_id).values()))
        time.sleep(0.02)
    assert rm.wait(exp_id, 120) == "finished"
    total = sum(rm.store.step_counts(exp_id).values())
    partial = {c for c in seen if 0 < c < total}
    assert len(partial) >= 3, f"stored step counts seen while running: {sorted(seen)}"
    overview = rm.overview()
    assert overview["executor"] == "ray"
    assert overview["cluster"]["CPU"] == 2 and overview["cluster"]["nodes"] == 1


def test_cancel_reaches_the_task_within_a_second(rm: JobManager) -> None:
    long = {**SURFACE, "steps": 100_000}
    exp_id = rm.submit(long, client="cancel")
    wait_for(lambda: sum(rm.store.step_counts(exp_id).values()) > 0, timeout=60)
    assert rm.cancel(exp_id, 1)  # one run: the other goes on
    wait_for(lambda: rm.store.runs(exp_id)[1]["status"] == "cancelled", timeout=1.5)
    assert rm.store.runs(exp_id)[0]["status"] == "running"
    start = time.monotonic()
    assert rm.cancel(exp_id)  # the whole experiment
    assert rm.wait(exp_id, 10) == "cancelled"
    assert time.monotonic() - start < 1.5
    assert 0 < rm.store.step_counts(exp_id)[0] < 100_000

    sweep = model_sweep([0.001 * (k + 1) for k in range(12)], epochs=40, n=2000)
    sweep_id = rm.submit(sweep, client="cancel")
    wait_for(lambda: rm.store.trial_count(sweep_id) >= 1, timeout=120)
    start = time.monotonic()
    assert rm.cancel(sweep_id)
    assert rm.wait(sweep_id, 10) == "cancelled"
    assert time.monotonic() - start < 1.5
    kept = rm.store.trial_count(sweep_id)
    assert 1 <= kept < 12
    assert rm.store.sweep_result(sweep_id)["progress"] == {"done": kept, "total": 12}


def test_a_killed_ray_worker_fails_its_trial_and_the_work_goes_on(rm: JobManager) -> None:
    executor = rm.executor
    assert isinstance(executor, RayExecutor)
    # a sweep: the trial whose worker dies is failed, with the reason; the others run
    spec = model_sweep([0.001, 0.002, 0.003], epochs=12, n=2000)
    sweep_id = rm.submit(spec, client="kill")
    pid = wait_for(lambda: executor.running_pid(sweep_id), timeout=120)
    os.kill(pid, signal.SIGKILL)
    assert rm.wait(sweep_id, 180) == "finished"
    trials = rm.store.sweep_result(sweep_id)["trials"]
    assert len(trials) == 3
    failed = [t for t in trials if t["status"] == "failed"]
    assert len(failed) == 1 and "the Ray worker died" in failed[0]["message"]
    assert sum(t["status"] == "finished" for t in trials) == 2

    # the queue: an experiment whose worker dies fails; the next one still runs
    victim = rm.submit({**SURFACE, "steps": 100_000}, client="kill")
    pid = wait_for(lambda: executor.running_pid(victim), timeout=60)
    os.kill(pid, signal.SIGKILL)
    assert rm.wait(victim, 60) == "failed"
    assert "the Ray worker died" in rm.store.get_experiment(victim)["message"]
    after = rm.submit(SURFACE, client="kill")
    assert rm.wait(after, 120) == "finished"
    assert rm.store.result_json(after) == one_thread(lambda: run_experiment(parse_spec(SURFACE)))


def test_the_dashboard_shows_the_ray_cluster_and_where_trials_run(rm: JobManager) -> None:
    from streamlit.testing.v1 import AppTest

    from optlab.jobs import manager as jobs

    script = "from optlab.ui.frame.workers import workers_status\nworkers_status()\n"
    exp_id = rm.submit({**SURFACE, "steps": 100_000}, client="ui")
    wait_for(lambda: isinstance(rm.executor, RayExecutor) and rm.executor.running_pid(exp_id))
    previous, jobs._MANAGER = jobs._MANAGER, rm
    try:
        at = AppTest.from_string(script, default_timeout=30).run()
    finally:
        jobs._MANAGER = previous
        rm.cancel(exp_id)
    assert not at.exception
    text = "\n".join(str(m.value) for m in at.sidebar.markdown)
    node = ray.util.get_node_ip_address()
    assert "**Ray** — local Ray" in text
    assert "2 CPUs, 0 GPUs, 1 node(s)" in text
    assert f"`{node}`: 1 running" in text
    assert rm.wait(exp_id, 10) == "cancelled"


def test_per_client_and_queue_limits_hold_on_ray(rm: JobManager) -> None:
    long = {**SURFACE, "steps": 100_000}
    ids = [rm.submit({**long, "seed": k}, client="limits") for k in range(3)]
    wait_for(lambda: rm.overview()["running"] == 2, timeout=60)
    time.sleep(0.3)
    assert rm.overview()["running"] == 2  # running_per_client=2: the third waits
    assert rm.store.get_experiment(ids[2])["status"] == "queued"
    ids += [rm.submit({**long, "seed": k}, client="limits") for k in range(3, 7)]
    with pytest.raises(LimitError, match="OPTLAB_MAX_QUEUED_PER_CLIENT"):
        rm.submit({**long, "seed": 7}, client="limits")
    other = rm.submit(SURFACE, client="someone else")
    for exp_id in ids:
        rm.cancel(exp_id)
    assert rm.wait(other, 60) == "finished"
    assert {rm.wait(e, 10) for e in ids} == {"cancelled"}


def test_task_resources_ask_a_gpu_only_for_models_on_cuda() -> None:
    surface = parse_spec(SURFACE).to_dict()
    model = parse_spec({**MODEL, "device": "auto"}).to_dict()
    on_cuda = parse_spec({**MODEL, "device": "cuda"}).to_dict()
    on_cpu = parse_spec(MODEL).to_dict()
    gpu = {"num_cpus": 1, "num_gpus": 1, "max_calls": 1}
    assert task_resources(surface, 4, 8)["options"] == {"num_cpus": 1, "num_gpus": 0}
    assert task_resources(surface, 4, 8)["device"] is None
    assert task_resources(model, 1, 8) == {"options": gpu, "device": None}
    assert task_resources(on_cuda, 1, 8)["options"] == gpu
    # cuda without a GPU in the cluster: not an infeasible request that waits forever, but
    # a CPU task whose engine fails with its own message
    assert task_resources(on_cuda, 1, 0) == {
        "options": {"num_cpus": 1, "num_gpus": 0},
        "device": None,
        "threads": 1,
    }
    # auto on a cluster without GPUs: the CPU, as a local worker would pick
    assert task_resources(model, 3, 0) == {
        "options": {"num_cpus": 3, "num_gpus": 0},
        "device": "cpu",
        "threads": 3,
    }
    assert task_resources(on_cpu, 2, 8)["options"] == {"num_cpus": 2, "num_gpus": 0}


def test_a_task_stuck_in_one_step_is_killed_after_the_grace(
    rm: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLAB_CANCEL_GRACE_SECONDS", "0.5")
    lbfgs = {"name": "LBFGS", "lr": 0.1, "max_iter": 1000, "tolerance_grad": 0.0}
    stuck = {  # one LBFGS step: 1000 inner iterations on a 4096 batch, seconds long
        "problem": {"name": "mse_regression", "n_samples": 20_000, "hidden": 512},
        "epochs": 5,
        "batch_size": 4096,
        "device": "cpu",
        "runs": [{"label": "LBFGS", "optimizer": {**lbfgs, "tolerance_change": 0.0}}],
    }
    executor = rm.executor
    assert isinstance(executor, RayExecutor)
    exp_id = rm.submit(stuck, client="stuck")
    pid = wait_for(lambda: executor.running_pid(exp_id), timeout=60)
    wait_for(lambda: rm.store.get_experiment(exp_id)["status"] == "running", timeout=30)
    time.sleep(0.3)  # inside the first step
    start = time.monotonic()
    assert rm.cancel(exp_id)
    assert rm.wait(exp_id, 15) == "cancelled"
    assert time.monotonic() - start < 3.0  # the 0.5 s grace, then ray.cancel(force=True)
    assert "did not stop within 0.5 s" in rm.store.get_experiment(exp_id)["message"]
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)  # that worker is gone
    after = rm.submit(SURFACE, client="stuck")
    assert rm.wait(after, 60) == "finished"


def test_cuda_on_a_cluster_without_gpus_fails_with_the_engines_reason(rm: JobManager) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the model would run on it")
    exp_id = rm.submit({**MODEL, "device": "cuda"}, client="cuda")
    assert rm.wait(exp_id, 60) == "failed"  # not an infeasible Ray request waiting forever
    assert "no CUDA GPU is available" in rm.store.get_experiment(exp_id)["message"]


def test_an_interrupted_experiment_resumes_on_ray_from_its_checkpoint(
    local_ray: None, tmp_path: Path
) -> None:
    spec = {**MODEL, "problem": {"name": "mse_regression", "n_samples": 1000}, "epochs": 6}
    spec["batch_size"] = 16
    store = Store(tmp_path / "optlab.db")
    first = JobManager(store, workers=2, threads=1, executor_kind="ray", checkpoint_seconds=0.2)
    exp_id = first.submit(spec)
    wait_for(
        lambda: (
            len(store.epochs(exp_id)) >= 2
            and (store.get_experiment(exp_id)["checkpoint_step"] or 0) > 0
        ),
        timeout=90,
    )
    first.shutdown()  # the Ray task is cancelled; the experiment waits, interrupted
    assert store.get_experiment(exp_id)["status"] == "interrupted"
    second = JobManager(store, workers=2, threads=1, executor_kind="ray")
    try:
        second.resume(exp_id)
        assert second.wait(exp_id, 120) == "finished"
    finally:
        second.shutdown()
    assert ray.is_initialized()  # the managers leave the test's Ray running
    assert store.result_json(exp_id) == one_thread(lambda: run_experiment(parse_spec(spec)))
    assert len(store.epochs(exp_id)) == 6 * 2  # both runs, every epoch once
