"""Sweeps in the job manager (issue 10): one job, its trials spread over the worker slots.

A sweep job is split into *shards*, ordinary :class:`Job`s the executor queues and
schedules like any other (so the per-client limits hold: each running shard counts).
Every shard takes work from the sweep's shared :class:`SweepWork`: a surface sweep
has one shard that takes the pending trials in a few big chunks (the engine batches
each chunk in one worker; the views fill in chunk by chunk); a model sweep has a
shard per worker slot, each taking one trial at a time, so several trials run at once
and every trial is stored the moment it ends.  Tune's re-runs are planned when the last
search trial is in.

Protocol with the worker (:mod:`optlab.jobs.worker`)::

    ("sweep", shard_id, spec_dict, [Trial, …], options)     manager → worker
    ("trials", shard_id, [TrialResult, …])                   worker → manager, ~every 50 ms
    ("done", shard_id) | ("error", shard_id, message, fatal)

Cancel sends ``("cancel", shard_id, None)`` to every running shard (the engine polls
about every 0.1 s, so the sweep stops within a second); finished trials stay stored.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
from collections.abc import Callable
from typing import Any, Protocol

from optlab.engine.sweep_plan import Trial
from optlab.engine.sweep_results import TrialResult
from optlab.engine.sweep_work import ENDED, reruns_left, search_left, total_trials
from optlab.jobs.job import Job, Worker
from optlab.spec import ExperimentSpec
from optlab.store.db import Store


class LocalExecutor(Protocol):
    """What a shard uses of :class:`optlab.jobs.local_executor.LocalExecutor` (which
    imports this module, so it is described here, not imported)."""

    store: Store
    flush_seconds: float
    on_done: Callable[[Job], None]
    _stopping: bool
    _running: dict[str, tuple[Job, Any]]
    _queue: list[Job]
    _cond: threading.Condition

    def replace_worker(self, job: Job, worker: Any) -> Any: ...


#: a surface sweep's trials go to its worker in chunks of at least this many (each chunk
#: is batched by the engine); larger sweeps in eighths, so the views fill in as they end
SURFACE_CHUNK = 256


class SweepWork:
    """The trials of one sweep job still to run, shared by its shards."""

    def __init__(self, spec: ExperimentSpec, done: list[Any] | None = None) -> None:
        self.spec = spec
        self.total = total_trials(spec)
        self.results: dict[int, Any] = {r.index: r for r in done or [] if r.status in ENDED}
        self.pending: collections.deque[Trial] = collections.deque(search_left(spec, self.results))
        self.tune = spec.sweep is not None and spec.sweep.tune is not None
        self.phase = "search"
        self.in_flight = 0
        self.shards = 0  # queued or running shards not ended yet
        self.started = False
        self.cancelled = False
        self.interrupted = False
        self.error: str | None = None
        self.cond = threading.Condition()

    @property
    def surface(self) -> bool:
        return self.spec.is_surface

    def take(self) -> list[Trial] | None:
        """The next trials for a shard (all pending for surfaces, one for models); None: done."""
        with self.cond:
            while True:
                if self.cancelled or self.interrupted or self.error is not None:
                    return None
                if self.pending:
                    if self.surface:  # big chunks, so the views fill in as they end
                        n = max(SURFACE_CHUNK, math.ceil(len(self.pending) / 8))
                        batch = [self.pending.popleft() for _ in range(min(n, len(self.pending)))]
                    else:
                        batch = [self.pending.popleft()]
                    self.in_flight += len(batch)
                    return batch
                if self.in_flight:
                    self.cond.wait(0.5)
                    continue
                if self.phase == "search":
                    self.phase = "rerun"
                    if self.tune:
                        self.pending.extend(reruns_left(self.spec, list(self.results.values())))
                    continue
                return None

    def record(self, results: list[Any]) -> None:
        with self.cond:
            for r in results:
                if r.status in ENDED:
                    self.results[r.index] = r

    def release(self, batch: list[Trial]) -> None:
        """A shard is through with ``batch`` (every trial ended, or the sweep stops)."""
        with self.cond:
            self.in_flight -= len(batch)
            self.cond.notify_all()

    def stop(self, *, error: str | None = None, interrupted: bool = False) -> None:
        with self.cond:
            if error is not None and self.error is None:
                self.error = error
            self.interrupted = self.interrupted or interrupted
            self.cond.notify_all()

    def shard_ended(self) -> bool:
        """Count a shard out; True for the last one (it records the sweep's end)."""
        with self.cond:
            self.shards -= 1
            return self.shards == 0

    def final_status(self) -> tuple[str, str]:
        if self.interrupted:
            return "interrupted", "the server stopped; resume it to run the trials left"
        if self.error is not None:
            return "failed", self.error
        if self.cancelled:
            return "cancelled", f"cancelled; {len(self.results)} finished trials kept"
        return "finished", ""


def make_shards(job: Job, slots: int) -> list[Job]:
    """The shard jobs of a sweep job: one for a surface sweep, one per slot for models."""
    work: SweepWork = job.sweep
    n = 1 if work.surface else max(1, min(slots, len(work.pending) or 1))
    shards = [
        Job(
            f"{job.id}#{k}",
            job.spec,
            job.client,
            job.key,
            needs_gpu=job.needs_gpu and k == 0,
            parent=job,
        )
        for k in range(n)
    ]
    work.shards = n
    return shards


def cancel(executor: LocalExecutor, job: Job) -> bool:
    """Cancel a sweep job: drop its queued shards, stop the running ones (their trials
    end ``cancelled`` within about 0.1 s); True if nothing had started."""
    work: SweepWork = job.sweep
    with executor._cond:
        queued = [j for j in executor._queue if j.parent is job]
        for shard in queued:
            executor._queue.remove(shard)
        running = [(s, w) for s, w in executor._running.values() if s.parent is job]
        executor._cond.notify_all()
    with work.cond:
        work.cancelled = True
        work.shards -= len(queued)
        never_started = not work.started and work.shards == 0
        work.cond.notify_all()
    for shard, worker in running:
        with contextlib.suppress(OSError, ValueError):
            worker.send(("cancel", shard.id, None))
    return never_started


def run_shard(executor: LocalExecutor, shard: Job, worker: Worker) -> None:
    """Run a shard in ``worker``: take trials, store every result as it comes back."""
    parent = shard.parent
    assert parent is not None
    work: SweepWork = parent.sweep
    store = executor.store
    with work.cond:
        first = not work.started
        work.started = True
    if first:
        parent.state = "running"
        store.set_status(parent.id, "running", device=worker.info.get("device"))
    try:
        while (batch := work.take()) is not None:
            try:
                worker = _run_batch(executor, shard, worker, batch)
            finally:
                work.release(batch)
    finally:
        if work.shard_ended():
            status, message = work.final_status()
            with contextlib.suppress(Exception):
                store.set_status(parent.id, status, message, runs_status=status)
            parent.state = "done"
            executor.on_done(parent)


def _run_batch(executor: LocalExecutor, shard: Job, worker: Worker, batch: list[Trial]) -> Worker:
    """Run ``batch`` on ``worker``, storing results as they come; the worker for the next batch.

    A worker that dies mid-batch fails only the trials it had not reported (with the
    reason) and is replaced, so the sweep goes on with its next trials."""
    parent = shard.parent
    assert parent is not None
    work: SweepWork = parent.sweep
    reported: set[int] = set()
    try:
        worker.send(
            ("sweep", shard.id, parent.spec, batch, {"flush_seconds": executor.flush_seconds})
        )
        if work.cancelled:  # a cancel that came between take() and the send
            worker.send(("cancel", shard.id, None))
        while True:
            msg = worker.recv()
            if msg[0] == "trials":
                executor.store.write_trials(parent.id, msg[2])
                work.record(msg[2])
                reported.update(r.index for r in msg[2])
            elif msg[0] == "done":
                return worker
            elif msg[0] == "error":
                work.stop(error=msg[2])
                if msg[3]:
                    worker.exit_reason()
                return worker
    except (EOFError, OSError, ValueError):
        if executor._stopping:
            work.stop(interrupted=True)
            return worker
        reason = worker.exit_reason()
        status = "cancelled" if work.cancelled else "failed"
        lost = [TrialResult.of(t, status, message=reason) for t in batch if t.index not in reported]
        executor.store.write_trials(parent.id, lost)
        work.record(lost)
        try:
            return executor.replace_worker(shard, worker)
        except Exception as exc:  # shutting down, or no worker starts: the sweep stops here
            work.stop(error=f"{reason}; no fresh worker: {exc}")
            return worker
