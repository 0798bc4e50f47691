"""What a job is, and the seam between the job manager and whoever runs jobs.

:class:`Job` is one experiment on its way through an :class:`Executor`; the
manager (:mod:`optlab.jobs.manager`) creates jobs, executors (the local worker pool
in :mod:`optlab.jobs.local_executor`) run them.  Both import this module, never
each other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from optlab.settings import env_int


class LimitError(RuntimeError):
    """A submission refused by a server limit; ``str(exc)`` says which and what to do."""


@dataclass
class Job:
    """One experiment on its way through an executor."""

    id: str
    spec: dict[str, Any]
    client: str = ""
    key: str = ""
    resume: bool = False
    needs_gpu: bool = False
    state: str = "queued"  # queued | running | done
    cancel_runs: set[int] = field(default_factory=set)
    cancel_all: bool = False
    submitted: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    #: a sweep job: its ``SweepWork`` (optlab.jobs.sweep_jobs); the executor runs its shards
    sweep: Any = None
    #: a sweep's shard: the sweep job it works for
    parent: Job | None = None


class Worker(Protocol):
    """One place jobs run, as an executor's slot sees it: a local worker process
    (:class:`optlab.jobs.worker_process.WorkerProcess`) or a handle on Ray tasks
    (:class:`optlab.jobs.ray_worker.RayWorker`).  Both speak the worker protocol of
    :mod:`optlab.jobs.worker`, so the slot code that stores their messages is shared."""

    slot: int
    info: dict[str, Any]

    @property
    def pid(self) -> int | None: ...

    def wait_ready(self) -> dict[str, Any]: ...

    def send(self, message: Any) -> None: ...

    def recv(self) -> Any: ...

    def alive(self) -> bool: ...

    def kill(self) -> None: ...

    def wait(self) -> None: ...

    def exit_reason(self) -> str: ...

    def stop(self) -> None: ...


class Executor(Protocol):
    """Runs jobs and writes their records to the store.

    ``submit`` queues a job; ``cancel`` stops some runs (None: all) of a queued or
    running job and returns True when the job was still queued and is now dropped
    (the manager then records it cancelled); ``shutdown`` stops everything, leaving
    running experiments ``interrupted``.  An executor calls the ``on_done`` callback
    it was given when a job ends, however it ends.
    """

    def submit(self, job: Job) -> None: ...

    def cancel(self, job: Job, runs: set[int] | None) -> bool: ...

    def shutdown(self) -> None: ...


@dataclass
class Limits:
    running_per_client: int = 2
    queued_per_client: int = 5
    queued_total: int = 200

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            running_per_client=max(1, env_int("OPTLAB_MAX_RUNNING_PER_CLIENT", 2)),
            queued_per_client=max(0, env_int("OPTLAB_MAX_QUEUED_PER_CLIENT", 5)),
            queued_total=max(0, env_int("OPTLAB_MAX_QUEUED", 200)),
        )
