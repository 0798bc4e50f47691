"""Cancel always works (issue 14, item 2): a worker stuck in one step is killed and replaced;
a killed command-line run is not "running" forever (item 8).

Real worker processes and a real SQLite store.  The stuck step comes from a surface
dropped into ``OPTLAB_PROBLEMS_DIR`` whose value stalls for a minute once the run is
half a second old: records arrive first, then one step that never ends in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from optlab import problem as problems
from optlab.jobs.job import Limits
from optlab.jobs.local_executor import LocalExecutor
from optlab.jobs.manager import JobManager
from optlab.store.db import Store
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parent.parent
STALL = textwrap.dedent(
    """
    import time

    from optlab.problem import Surface

    _STARTED = []


    class Stall(Surface):
        name = "stall"
        title = "A bowl whose steps stall after half a second"
        default_start = (1.0, 1.0)

        def value(self, x, y):
            if not _STARTED:
                _STARTED.append(time.monotonic())
            if time.monotonic() - _STARTED[0] > 0.5:
                time.sleep(60)  # one step of a minute: the worker cannot look at its inbox
            return x**2 + y**2
    """
)


def bowl(seed: int) -> dict[str, Any]:
    return {
        "problem": {"name": "quadratic"},
        "steps": 50,
        "seed": seed,
        "runs": [{"label": "sgd", "optimizer": {"name": "SGD", "lr": 0.01}}],
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_cancel_kills_a_worker_stuck_in_a_step_and_the_queue_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "problems"
    extra.mkdir()
    (extra / "stall.py").write_text(STALL)
    monkeypatch.setenv("OPTLAB_PROBLEMS_DIR", str(extra))  # the worker inherits it
    monkeypatch.setattr(problems, "_REGISTRY", None)
    store = Store(tmp_path / "optlab.db")
    manager = JobManager(
        store, workers=1, limits=Limits(running_per_client=1, queued_per_client=10)
    )
    try:
        stuck = manager.submit(
            {
                "problem": {"name": "stall"},
                "steps": 100_000,
                "runs": [{"label": "slow", "optimizer": {"name": "SGD", "lr": 0.01}}],
            },
            client="a",
        )
        waiting = [manager.submit(bowl(seed), client="b") for seed in range(6)]
        wait_for(lambda: store.step_counts(stuck).get(0, 0) > 0)
        time.sleep(1.0)  # now inside the stalled step
        assert isinstance(manager.executor, LocalExecutor)
        pid = manager.executor.running_pid(stuck)
        assert pid is not None
        stored_before = store.step_counts(stuck)[0]

        t0 = time.monotonic()
        assert manager.cancel(stuck)
        assert manager.wait(stuck, 15) == "cancelled"
        assert time.monotonic() - t0 < 5.0  # the 2 s grace, then a kill

        exp = store.get_experiment(stuck)
        assert exp["status"] == "cancelled"  # not interrupted, not failed
        assert "did not stop within 2 s" in exp["message"]
        (run,) = exp["runs"]
        assert run["status"] == "cancelled"
        assert store.step_counts(stuck)[0] == stored_before == run["steps_done"] > 0  # kept
        wait_for(lambda: not alive(pid), timeout=5)

        for exp_id in waiting:  # a fresh worker takes the queue
            assert manager.wait(exp_id, 120) == "finished"
            assert store.step_counts(exp_id) == {0: 50}
        assert pid not in manager.executor.worker_pids()
    finally:
        manager.shutdown()


def test_a_cancel_that_the_worker_answers_kills_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLAB_CANCEL_GRACE_SECONDS", "0.5")
    store = Store(tmp_path / "optlab.db")
    manager = JobManager(store, workers=1)
    try:
        long = dict(bowl(0), steps=100_000)
        exp_id = manager.submit(long)
        wait_for(lambda: store.step_counts(exp_id).get(0, 0) > 0)
        assert isinstance(manager.executor, LocalExecutor)
        pid = manager.executor.running_pid(exp_id)
        manager.cancel(exp_id)
        assert manager.wait(exp_id, 10) == "cancelled"
        assert store.runs(exp_id)[0]["message"].startswith("cancelled at step")
        time.sleep(1.0)  # past the grace: the worker that stopped in time is kept
        assert manager.executor.worker_pids() == [pid]
        assert manager.wait(manager.submit(bowl(1)), 60) == "finished"
    finally:
        manager.shutdown()


# ---------------------------------------------------------------- item 8: a killed CLI run


def optlab_cli(home: Path, *args: str, **kwargs: Any) -> Any:
    env = {**os.environ, "OPTLAB_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "optlab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        **kwargs,
    )


def test_a_killed_cli_run_is_interrupted_not_running_forever(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(dict(bowl(0), steps=100_000)))
    env = {**os.environ, "OPTLAB_HOME": str(home), "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [sys.executable, "-m", "optlab", "run", str(spec), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def stored() -> list[dict[str, Any]]:
            listed = json.loads(optlab_cli(home, "runs", "--json").stdout)
            return listed if listed and listed[0]["status"] == "running" else []

        (row,) = wait_for(stored, timeout=90)
        store = Store(home / "optlab.db")
        wait_for(lambda: store.step_counts(row["id"]).get(0, 0) > 0)
        assert json.loads(optlab_cli(home, "runs", "--json").stdout)[0]["status"] == "running"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()

    (row,) = json.loads(optlab_cli(home, "runs", "--json").stdout)  # no job manager started
    assert row["status"] == "interrupted"
    assert "`optlab run` process ended" in row["message"]
    shown = optlab_cli(home, "show", row["id"]).stdout
    assert "[interrupted]" in shown and "interrupted" in shown.splitlines()[-1]
    assert store.step_counts(row["id"])[0] > 0  # the records it wrote are kept
    store.close()


def test_a_live_cli_run_stays_running(tmp_path: Path) -> None:
    """The check judges by the writer's process: one still alive is left alone."""
    from optlab.cli.store_commands import Recorder
    from optlab.spec import parse_spec

    store = Store(tmp_path / "home" / "optlab.db")
    with Recorder(parse_spec(bowl(0)), store=store) as rec:
        (row,) = json.loads(optlab_cli(tmp_path / "home", "runs", "--json").stdout)
        assert row["id"] == rec.id and row["status"] == "running"
    assert store.get_experiment(rec.id)["status"] == "finished"
    store.close()
