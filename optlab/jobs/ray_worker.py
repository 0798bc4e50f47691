"""A slot's handle on Ray: looks like a local worker process to the executor's slot.

The executor's slot code (:mod:`optlab.jobs.local_executor`, :mod:`optlab.jobs.sweep_jobs`)
sends a job and stores every message that comes back.  :class:`RayWorker` speaks the
same protocol: ``send(("run", …))`` / ``send(("sweep", …))`` start one Ray generator
task (:func:`optlab.jobs.ray_tasks.run_on_ray`) with the resources the job needs,
``recv()`` returns its next message, ``send(("cancel", …))`` posts to the cancel
board, ``kill()`` is ``ray.cancel(force=True)``.  A task whose worker process dies
ends ``recv()`` with ``EOFError`` and ``exit_reason()`` says "the Ray worker died: …",
so the slot fails that job (or that sweep trial) and goes on, as with a local worker.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import ray
from ray.exceptions import RayError, WorkerCrashedError

from optlab import problem as problems
from optlab.jobs.ray_tasks import run_on_ray


def is_surface(spec: dict[str, Any]) -> bool:
    return issubclass(problems.get_problem(spec["problem"]["name"]), problems.Surface)


def task_resources(spec: dict[str, Any], threads: int, cluster_gpus: float) -> dict[str, Any]:
    """Ray options for one task of ``spec`` and the device it runs on (None: as the spec says).

    A model problem on ``cuda`` or ``auto`` asks for one GPU where the cluster has GPUs,
    and Ray's ``max_calls=1`` then retires the worker after the task, freeing its GPU memory
    and any poisoned CUDA context; ``auto`` on a cluster without GPUs runs on the CPU (what
    the local worker would pick), and ``cuda`` there is not asked of Ray (the task would
    wait forever) but run, so the engine fails it with its own message.  Everything else
    asks for CPUs: one for a surface (one torch thread), ``threads`` for a model."""
    surface = is_surface(spec)
    device = spec.get("device", "auto")
    if not surface and cluster_gpus > 0 and device in ("cuda", "auto"):
        return {"options": {"num_cpus": 1, "num_gpus": 1, "max_calls": 1}, "device": None}
    cpus = 1 if surface else max(1, threads)
    return {
        "options": {"num_cpus": cpus, "num_gpus": 0},
        "device": "cpu" if device == "auto" and not surface else None,
        "threads": cpus,
    }


class RayWorker:
    """One executor slot's handle: runs its jobs as Ray tasks, one at a time."""

    def __init__(self, slot: int, board: Any, threads: int, gpus: float) -> None:
        self.slot = slot
        self.gpus = gpus
        self.board = board
        self.threads = threads
        self.info: dict[str, Any] = {}
        self.task: dict[str, Any] = {}  # where the current task runs: job, pid, node
        self._gen: Any = None
        self._reason = ""
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        pid = self.task.get("pid")
        return int(pid) if pid is not None else None

    def wait_ready(self) -> dict[str, Any]:
        """Nothing to warm up here: Ray keeps its worker processes warm."""
        self.info = {"executor": "ray", "cuda": self.gpus > 0, "device": "Ray"}
        return self.info

    def send(self, message: Any) -> None:
        kind = message[0]
        if kind == "cancel":
            self.board.post.remote(message[1], message[2])
        elif kind in ("run", "sweep"):
            self._launch(kind, message[1], message[2], message[3], message[4])
        # "stop": a handle has no process of its own to stop

    def _launch(self, kind: str, job_id: str, spec: dict[str, Any], extra: Any, opts: Any) -> None:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        res = task_resources(spec, self.threads, gpus)
        opts = {**opts, "device": res["device"]}
        with self._lock:
            self._reason = ""
            self.task = {"job": job_id, "pid": None, "node": None}
            self._gen = run_on_ray.options(**res["options"]).remote(
                kind, job_id, (spec, extra, opts), self.board, res.get("threads", 1)
            )

    def recv(self) -> Any:
        """The running task's next message; ``EOFError`` when its worker died or it was
        cancelled (``exit_reason()`` says which)."""
        while True:
            gen = self._gen
            if gen is None:
                raise EOFError("no Ray task is running")
            try:
                msg = ray.get(next(gen))
            except StopIteration:
                self._end("the Ray task ended without a final message")
                raise EOFError(self._reason) from None
            except WorkerCrashedError as exc:
                self._end(f"the Ray worker died: {_first_line(exc)}")
                raise EOFError(self._reason) from exc
            except RayError as exc:  # the node died, the task was cancelled, …
                self._end(f"the Ray task failed: {type(exc).__name__}: {_first_line(exc)}")
                raise EOFError(self._reason) from exc
            if msg[0] == "worker":
                self.task.update(msg[1])
                continue
            if msg[0] in ("done", "error"):
                self._end("")
            return msg

    def _end(self, reason: str) -> None:
        with self._lock:
            job_id = self.task.get("job")
            self._reason = reason
            self._gen = None
            self.task = {}
        if job_id is not None:  # a cancel that came too late for the task: drop it
            with contextlib.suppress(Exception):
                self.board.take.remote(job_id)

    def alive(self) -> bool:
        """Always: each job starts a fresh task, so a dead Ray worker never blocks a slot."""
        return True

    def kill(self) -> None:
        """Force-cancel the running task (kills its worker process; Ray starts another)."""
        with self._lock:
            gen = self._gen
        if gen is not None:
            with contextlib.suppress(Exception):
                ray.cancel(gen, force=True)

    def wait(self) -> None:
        """Nothing to reap: Ray owns its worker processes."""

    def exit_reason(self) -> str:
        return self._reason or "the Ray task ended"

    def stop(self) -> None:
        self.kill()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
