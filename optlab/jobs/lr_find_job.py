"""The dashboard's LR range tests, each in its own child process (issue 12 §1).

A model's range test trains for up to ``num_iter`` minibatches: the page must not wait
for it, and the UI process never trains (docs/architecture.md §2).  A job runs
``python -m optlab lr-find`` (the CLI's own code path, so the dashboard's curve is the
CLI's) on a one-run spec in a child process; the page polls :meth:`LRFindJob.status`
and reads the result JSON when it is done.  Jobs are kept by id in this process;
finished ones are dropped, and their folders removed, once read (or evicted).  Running
jobs are capped per client and in all (``OPTLAB_MAX_LR_FINDS_PER_CLIENT``,
``OPTLAB_MAX_LR_FINDS``); each child leads its own process group, which is killed when the
job is dropped, when the job manager shuts down and at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from optlab import settings as limits
from optlab.engine.lr_find import LRFindSettings

Status = Literal["running", "done", "failed"]
#: jobs kept at most (oldest finished ones are forgotten first)
MAX_JOBS = 32


class LRFindJob:
    """``optlab lr-find`` of a one-run spec in a child process."""

    def __init__(self, spec: dict[str, Any], settings: LRFindSettings, client: str = "") -> None:
        self.client = client
        self.folder = Path(tempfile.mkdtemp(prefix="optlab-lrfind-"))
        spec_path = self.folder / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        self.out = self.folder / "result.json"
        self.err = self.folder / "stderr.txt"
        args = [
            sys.executable,
            "-m",
            "optlab",
            "lr-find",
            str(spec_path),
            "--out",
            str(self.out),
            "--start-lr",
            repr(settings.start_lr),
            "--end-lr",
            repr(settings.end_lr),
            "--num-iter",
            str(settings.num_iter),
            "--beta",
            repr(settings.beta),
            "--stop-factor",
            repr(settings.stop_factor),
        ]
        with open(self.err, "w", encoding="utf-8") as err:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=os.environ.copy(),
                start_new_session=True,
            )

    def status(self) -> Status:
        code = self.proc.poll()
        if code is None:
            return "running"
        return "done" if code == 0 and self.out.exists() else "failed"

    def result(self) -> dict[str, Any] | None:
        """The lr-find result JSON once done."""
        if self.status() != "done":
            return None
        return dict(json.loads(self.out.read_text(encoding="utf-8")))

    def message(self) -> str:
        """Why it failed: the last line the command wrote on stderr."""
        try:
            lines = [x for x in self.err.read_text(encoding="utf-8").splitlines() if x.strip()]
        except OSError:
            lines = []
        return lines[-1] if lines else f"lr-find exited with code {self.proc.poll()}"

    def cancel(self) -> None:
        """Kill the child's whole process group (torch may have started workers)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: pgid == pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def remove(self) -> None:
        self.cancel()
        shutil.rmtree(self.folder, ignore_errors=True)


_JOBS: dict[str, LRFindJob] = {}
_LOCK = threading.Lock()


_EXIT_HOOK: list[bool] = []


class LRFindRefused(ValueError):
    """Too many range tests running; the message names the limit."""


def _check_caps(client: str) -> None:
    running = [j for j in _JOBS.values() if j.status() == "running"]
    mine = sum(j.client == client for j in running)
    per_client, total = limits.max_lr_finds_per_client(), limits.max_lr_finds()
    if mine >= per_client:
        raise LRFindRefused(
            f"lr finder: {mine} range test(s) of yours already running, at most {per_client} "
            "per session (OPTLAB_MAX_LR_FINDS_PER_CLIENT): wait for it or cancel it"
        )
    if len(running) >= total:
        raise LRFindRefused(
            f"lr finder: {len(running)} range tests already running on this server, at most "
            f"{total} (OPTLAB_MAX_LR_FINDS): try again when one ends"
        )


def start_lr_find(spec: dict[str, Any], settings: LRFindSettings, client: str = "") -> str:
    """Start the range test of ``spec`` (a validated one-run spec dict); its job id.
    :class:`LRFindRefused` when the client's or the server's cap of running tests is met."""
    job_id = secrets.token_hex(6)
    with _LOCK:
        _check_caps(client)
        _JOBS[job_id] = LRFindJob(spec, settings, client)
        if not _EXIT_HOOK:
            atexit.register(shutdown_lr_finds)
            _EXIT_HOOK.append(True)
        finished = [k for k, j in _JOBS.items() if j.status() != "running"]
        for old in finished[: max(0, len(_JOBS) - MAX_JOBS)]:
            _JOBS.pop(old).remove()
    return job_id


def get_lr_find(job_id: str) -> LRFindJob | None:
    with _LOCK:
        return _JOBS.get(job_id)


def forget_lr_find(job_id: str) -> None:
    """Drop a job (killing it if it still runs) and its files."""
    with _LOCK:
        job = _JOBS.pop(job_id, None)
    if job is not None:
        job.remove()


def shutdown_lr_finds() -> None:
    """Kill every running range test (its process group) and remove every job's folder:
    the job manager's shutdown and interpreter exit."""
    with _LOCK:
        jobs = list(_JOBS.values())
        _JOBS.clear()
    for job in jobs:
        job.remove()
