"""optlab against a separately started Ray cluster (issue 11): ``ray start --head`` in
its own temporary directory and process group, then optlab in another process with
``OPTLAB_EXECUTOR=ray`` and ``RAY_ADDRESS``; the cluster is stopped by killing only
the process group this test started (never ``ray stop``, which would stop every
Ray on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: 55 epochs: above the default limit (50), allowed by the server's OPTLAB_MAX_EPOCHS=60,
#: which must reach the cluster's workers (they validate the spec again)
SPEC = {
    "problem": {"name": "mse_regression", "n_samples": 60},
    "epochs": 55,
    "batch_size": 32,
    "device": "auto",
    "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}}],
}

DRIVER = """
import json, sys
from pathlib import Path
from optlab.jobs.manager import JobManager
from optlab.store.db import Store

m = JobManager(Store(Path(sys.argv[1])), threads=1)
exp = m.submit(json.loads(sys.argv[2]))
status = m.wait(exp, 180)
print(json.dumps({"status": status, "overview": m.overview(),
                  "result": m.store.result_json(exp)}))
m.shutdown()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_bin() -> str:
    path = Path(sys.executable).with_name("ray")
    return str(path) if path.exists() else "ray"


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``, from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def wait_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


#: the cluster's own token (Ray 2.60 protects a cluster with one); optlab gets the token but
#: not ``RAY_AUTH_MODE``, and must turn token authentication on itself, as ``ray start`` does
TOKEN = secrets.token_hex(32)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    return {**env, "RAY_AUTH_TOKEN": TOKEN, **extra}


@pytest.fixture
def cluster() -> Iterator[str]:
    """A one-node cluster with 2 CPUs; its address.  Stopped afterwards: SIGTERM, then
    SIGKILL, to the process group of the ``ray start --block`` this fixture ran."""
    temp = tempfile.mkdtemp(prefix="optray")  # short: Ray's socket paths have a length limit
    port = free_port()
    head = subprocess.Popen(
        [ray_bin(), "start", "--head", "--port", str(port), "--num-cpus", "2",
         "--temp-dir", temp, "--include-dashboard", "false", "--disable-usage-stats",
         "--object-store-memory", str(100 << 20), "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        env=clean_env(RAY_AUTH_MODE="token"),
    )  # fmt: skip
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while not list(Path(temp).glob("session_*/sockets/raylet*")):
            assert head.poll() is None, head.stdout.read().decode() if head.stdout else ""
            assert time.monotonic() < deadline, "the Ray head did not start in 90 s"
            time.sleep(0.2)
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        if not wait_gone(head.pid, 5):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=10)
        left = [] if wait_gone(head.pid, 10) else group_members(head.pid)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"the cluster's processes outlived the test: {left}"


def test_optlab_runs_on_a_separately_started_cluster(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(
        OPTLAB_EXECUTOR="ray",
        RAY_ADDRESS=cluster,
        OPTLAB_HOME=str(tmp_path),
        OPTLAB_MAX_EPOCHS="60",
    )
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path / "optlab.db"), json.dumps(SPEC)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "finished"
    assert got["overview"]["executor"] == "ray"
    assert got["overview"]["address"] == cluster
    assert got["overview"]["cluster"]["CPU"] == 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OPTLAB_MAX_EPOCHS", "60")
    try:
        expected = run_experiment(parse_spec(SPEC))
    finally:
        torch.set_num_threads(threads)
    assert got["result"] == json.loads(json.dumps(expected))


def test_an_unknown_executor_is_refused_naming_the_allowed_values(tmp_path: Path) -> None:
    """The error itself (the dashboard's Workers box shows it in one line: test_ui_workers)."""
    env = {**os.environ, "OPTLAB_EXECUTOR": "slurm", "OPTLAB_HOME": str(tmp_path)}
    code = "from optlab.jobs.manager import get_manager\nget_manager()"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.endswith("OPTLAB_EXECUTOR='slurm' is not an executor; allowed: local, ray")


def test_a_cluster_gets_the_servers_limits_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Paths and data roots belong to each node; only the work limits travel."""
    from optlab.jobs.ray_executor import server_settings

    for name, value in {
        "OPTLAB_MAX_EPOCHS": "60",
        "OPTLAB_MAX_STEPS": "9000",
        "OPTLAB_DATA_ROOTS": "/srv/data",
        "OPTLAB_DATA_DIR": "/srv/data/cifar",
        "OPTLAB_HOME": "/srv/optlab",
        "OPTLAB_PROBLEMS_DIR": "/srv/problems",
        "OPTLAB_EXECUTOR": "ray",
    }.items():
        monkeypatch.setenv(name, value)
    sent = server_settings()
    assert sent["OPTLAB_MAX_EPOCHS"] == "60" and sent["OPTLAB_MAX_STEPS"] == "9000"
    assert not {k for k in sent if not k.startswith("OPTLAB_MAX_")}
