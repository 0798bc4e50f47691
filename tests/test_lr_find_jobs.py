"""The dashboard's LR range-test children (issue 12 §1, review findings), with real child
processes: the per-client and server caps refuse in one line naming the limit, and after
the job manager's shutdown or interpreter exit no child and no temp folder is left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from optlab.engine.lr_find import LRFindSettings
from optlab.jobs import lr_find_job
from optlab.jobs.manager import shutdown_manager

SPEC: dict[str, Any] = {
    "problem": {"name": "mse_regression", "n_samples": 64, "n_features": 2, "hidden": 3},
    "epochs": 1,
    "batch_size": 16,
    "runs": [{"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.05}}],
}
SETTINGS = LRFindSettings(num_iter=2000, end_lr=1e-3)  # no blow-up: children stay running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def clean() -> Any:
    yield
    lr_find_job.shutdown_lr_finds()


def test_caps_refuse_naming_the_limit_and_shutdown_kills_the_children(
    clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLAB_MAX_LR_FINDS", "2")
    first = lr_find_job.start_lr_find(SPEC, SETTINGS, client="a")
    with pytest.raises(lr_find_job.LRFindRefused) as mine:
        lr_find_job.start_lr_find(SPEC, SETTINGS, client="a")
    assert "OPTLAB_MAX_LR_FINDS_PER_CLIENT" in str(mine.value) and "at most 1" in str(mine.value)
    assert "\n" not in str(mine.value)
    second = lr_find_job.start_lr_find(SPEC, SETTINGS, client="b")
    with pytest.raises(lr_find_job.LRFindRefused) as server:
        lr_find_job.start_lr_find(SPEC, SETTINGS, client="c")
    assert "at most 2 (OPTLAB_MAX_LR_FINDS)" in str(server.value)
    jobs = [lr_find_job.get_lr_find(j) for j in (first, second)]
    assert all(j is not None and j.status() == "running" for j in jobs)
    pids = [j.proc.pid for j in jobs if j is not None]
    folders = [j.folder for j in jobs if j is not None]
    assert all(_alive(p) for p in pids) and all(f.is_dir() for f in folders)
    shutdown_manager()  # the server's shutdown path
    assert all(_gone(p) for p in pids)
    assert not any(f.exists() for f in folders)
    assert lr_find_job.get_lr_find(first) is None


def test_a_finished_job_frees_its_slot_and_its_folder_once_read(clean: Any) -> None:
    job_id = lr_find_job.start_lr_find(SPEC, LRFindSettings(num_iter=30), client="a")
    job = lr_find_job.get_lr_find(job_id)
    assert job is not None
    job.proc.wait(timeout=120)
    assert job.status() == "done", job.message()
    result = job.result()
    assert result is not None and len(result["runs"][0]["lrs"]) >= 2
    again = lr_find_job.start_lr_find(SPEC, SETTINGS, client="a")  # the slot is free
    lr_find_job.forget_lr_find(job_id)
    assert not job.folder.exists()
    lr_find_job.forget_lr_find(again)


def test_interpreter_exit_kills_a_running_child(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from optlab.engine.lr_find import LRFindSettings\n"
        "from optlab.jobs import lr_find_job\n"
        f"spec = json.loads({json.dumps(json.dumps(SPEC))})\n"
        "job = lr_find_job.get_lr_find(lr_find_job.start_lr_find(spec, LRFindSettings()))\n"
        "print(job.proc.pid, job.folder, flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    pid, folder = out.stdout.split()
    assert _gone(int(pid))
    assert not Path(folder).exists()
