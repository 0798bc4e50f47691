"""The local executor: a queue and N warm worker processes on this machine.

Each slot is a thread that owns one ``python -m optlab.jobs.worker`` process: it takes
the next eligible job, sends it over, and writes every message that comes back to
the store (record batches, checkpoints, the end).  A worker that dies fails only
the job it was running, with the reason; the slot starts a fresh worker and goes
on with the queue.  Slot 0's worker owns the GPU; the others are started with
``CUDA_VISIBLE_DEVICES=""`` so they never touch it.

Cancel has a safety net: a worker checks for a cancel between record batches, so
one step that takes a minute (a huge inner loop, a stalled problem) would hold the
cancel and the queue behind it for that minute.  When a cancelled job has not ended
within ``OPTLAB_CANCEL_GRACE_SECONDS`` (2 s), its worker is killed; the experiment
is recorded ``cancelled`` with the records it had sent, and the slot starts a fresh
worker for the next job.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optlab import settings
from optlab.jobs import sweep_jobs
from optlab.jobs.job import Job, Worker
from optlab.jobs.worker_process import WorkerProcess
from optlab.paths import checkpoint_path, write_atomic
from optlab.store.db import Store


class LocalExecutor:
    """Runs jobs in ``workers`` worker processes; see the module docstring."""

    kind = "local"

    def __init__(
        self,
        store: Store,
        *,
        workers: int,
        threads: int,
        max_running_per_client: int,
        flush_seconds: float,
        checkpoint_seconds: float,
        checkpoint_dir: Path,
        on_done: Callable[[Job], None],
    ) -> None:
        self.store = store
        self.threads = threads
        self.max_running_per_client = max_running_per_client
        self.flush_seconds = flush_seconds
        self.checkpoint_seconds = checkpoint_seconds
        self.checkpoint_dir = checkpoint_dir
        self.on_done = on_done
        self._queue: list[Job] = []
        self._running: dict[str, tuple[Job, Worker]] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._gpu: bool | None = None  # does slot 0's worker see a GPU? (None: not known yet)
        self._idle: set[int] = set()  # slots waiting for a job
        self._ended: set[str] = set()  # running jobs whose end the worker has sent
        self._killed: set[str] = set()  # running jobs whose worker was killed for a cancel
        self.workers: list[Worker | None] = [None] * workers
        self._threads = [
            threading.Thread(
                target=self._slot_loop, args=(i,), daemon=True, name=f"optlab-slot-{i}"
            )
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ Executor API

    def submit(self, job: Job) -> None:
        with self._cond:  # a sweep: its shards (optlab.jobs.sweep_jobs)
            self._queue.extend(
                sweep_jobs.make_shards(job, len(self.workers)) if job.sweep else [job]
            )
            self._cond.notify_all()

    def cancel(self, job: Job, runs: set[int] | None) -> bool:
        if job.sweep is not None:
            return sweep_jobs.cancel(self, job)
        with self._cond:
            if job in self._queue:
                if runs is None:
                    self._queue.remove(job)
                    self._cond.notify_all()
                    return True
                return False  # applied when it starts (job.cancel_runs)
            entry = self._running.get(job.id)
        if entry is not None:
            with contextlib.suppress(OSError, ValueError):
                entry[1].send(("cancel", job.id, None if runs is None else sorted(runs)))
        if runs is None:  # the safety net: a worker stuck in a step is killed after the grace
            grace = settings.cancel_grace_seconds()
            timer = threading.Timer(grace, self._cancel_overdue, args=(job, grace))
            timer.daemon = True
            timer.name = f"optlab-cancel-{job.id}"
            timer.start()
        return False

    def _cancel_overdue(self, job: Job, grace: float) -> None:
        """The grace after a cancel is over: kill the worker if the job is still on it.

        The kill happens under the lock: a slot hands its worker the next job only after
        taking the lock to drop this one from ``_running``, so the kill cannot land on the
        next job (a Ray slot reuses its handle; a local slot, its process)."""
        with self._cond:
            entry = self._running.get(job.id)
            if entry is None or entry[0] is not job or job.id in self._ended or self._stopping:
                return
            self._killed.add(job.id)
            worker = entry[1]
            print(
                f"optlab: worker {worker.slot} did not stop {job.id} within {grace:g} s of a"
                " cancel; killing it and starting a fresh one",
                file=sys.stderr,
            )
            worker.kill()

    def shutdown(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
            workers = [w for w in self.workers if w is not None]
        for w in workers:
            w.stop()
        for t in self._threads:
            t.join(timeout=10)

    def overview(self) -> dict[str, Any]:
        """Queue length, running jobs and each worker's info (device, warm-up time)."""
        with self._cond:
            return {
                "queued": len(self._queue),
                "running": len(self._running),
                "workers": [dict(w.info) if w is not None else {} for w in self.workers],
            }

    def worker_pids(self) -> list[int | None]:
        """Pids of the current worker processes, by slot (tests, diagnostics)."""
        return [w.pid if w is not None else None for w in self.workers]

    def running_pid(self, exp_id: str) -> int | None:
        with self._cond:
            entry = self._running.get(exp_id)
        return entry[1].pid if entry else None

    # ------------------------------------------------------------------ scheduling

    def _eligible(self, job: Job, slot: int, running_by_client: collections.Counter[str]) -> bool:
        if running_by_client[job.client] >= self.max_running_per_client:
            return False
        if job.needs_gpu:  # waits for the GPU worker (slot 0) unless there is no GPU
            return slot == 0 or self._gpu is False
        # keep the GPU worker for GPU jobs while a CPU-only worker is free
        return not (slot == 0 and self._gpu and self._idle - {0})

    def _next_job(self, slot: int) -> Job | None:
        with self._cond:
            self._idle.add(slot)
            try:
                while not self._stopping:
                    by_client = collections.Counter(j.client for j, _ in self._running.values())
                    for job in self._queue:
                        if self._eligible(job, slot, by_client):
                            self._queue.remove(job)
                            job.state = "running"
                            return job
                    self._cond.wait()
                return None
            finally:
                self._idle.discard(slot)

    # ------------------------------------------------------------------ slots

    def _new_worker(self, slot: int) -> Worker:
        """A fresh worker for ``slot`` (the Ray executor hands out Ray handles instead)."""
        return WorkerProcess(slot, self.threads, gpu=slot == 0)

    def _start_worker(self, slot: int) -> Worker:
        with self._cond:  # so that shutdown() sees every worker it must stop
            if self._stopping:
                raise RuntimeError("shutting down")
            worker = self._new_worker(slot)
            self.workers[slot] = worker
        info = worker.wait_ready()
        if slot == 0:
            with self._cond:
                self._gpu = bool(info.get("cuda"))
                self._cond.notify_all()
        return worker

    def replace_worker(self, job: Job, worker: Worker) -> Worker:
        """A fresh worker in ``worker``'s slot for the rest of ``job`` (a sweep shard whose
        worker died); raises when none starts."""
        worker.stop()
        fresh = self._start_worker(worker.slot)
        with self._cond:
            self._running[job.id] = (job, fresh)
        return fresh

    def _slot_loop(self, slot: int) -> None:
        failures = 0
        while not self._stopping:
            worker = self.workers[slot]
            if worker is None or not worker.alive():
                try:
                    worker = self._start_worker(slot)
                    failures = 0
                except Exception as exc:
                    if self._stopping:
                        return
                    failures += 1
                    self._worker_start_failed(slot, exc, failures)
                    continue
            job = self._next_job(slot)
            if job is None:
                return
            with self._cond:
                self._running[job.id] = (job, worker)
            try:
                self._run(job, worker)
            except Exception as exc:  # the store failed: keep the slot alive
                with contextlib.suppress(Exception):
                    self.store.set_status(
                        job.id, "failed", f"job manager error: {exc}", runs_status="failed"
                    )
                print(f"optlab: job {job.id} failed in the manager: {exc!r}", file=sys.stderr)
                worker.stop()
            finally:
                with self._cond:
                    self._running.pop(job.id, None)
                    self._ended.discard(job.id)
                    self._killed.discard(job.id)
                    self._cond.notify_all()
                job.state = "done"
                self.on_done(job)

    def _mark_ended(self, job: Job) -> None:
        with self._cond:
            self._ended.add(job.id)

    def _worker_start_failed(self, slot: int, exc: Exception, failures: int) -> None:
        worker = self.workers[slot]
        reason = worker.exit_reason() if worker is not None else str(exc)
        print(f"optlab: worker {slot} could not start: {reason}", file=sys.stderr)
        self.workers[slot] = None
        if failures >= 3:  # a broken environment: fail the next job instead of looping
            with self._cond:
                job = self._queue.pop(0) if self._queue else None
            if job is not None:
                with contextlib.suppress(Exception):
                    self.store.set_status(
                        job.id,
                        "failed",
                        f"could not start a worker: {reason}",
                        runs_status="failed",
                    )
                job.state = "done"
                self.on_done(job)
        time.sleep(min(10.0, 0.5 * 2**failures))

    def _run(self, job: Job, worker: Worker) -> None:
        """Send ``job`` to ``worker`` and write everything it sends back to the store."""
        if job.parent is not None:  # a sweep's shard
            return sweep_jobs.run_shard(self, job, worker)
        store, ckpt = self.store, checkpoint_path(job.id, self.checkpoint_dir)
        checkpoint = None
        if job.resume:
            if ckpt.exists():
                checkpoint = ckpt.read_bytes()
            else:
                store.reset_records(job.id)
        cancel = None if job.cancel_all else sorted(job.cancel_runs)
        store.set_status(job.id, "running")
        try:
            worker.send(
                (
                    "run",
                    job.id,
                    job.spec,
                    checkpoint,
                    {
                        "flush_seconds": self.flush_seconds,
                        "checkpoint_seconds": self.checkpoint_seconds,
                        "cancel": cancel,
                    },
                )
            )
            while True:
                msg = worker.recv()
                kind = msg[0]
                if kind == "batch":
                    store.write_batch(job.id, msg[2])
                elif kind == "checkpoint":
                    self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
                    write_atomic(ckpt, msg[3])
                    store.set_checkpoint_step(job.id, msg[2])
                elif kind == "started":
                    info = msg[2]
                    store.set_status(job.id, "running", device=info["device"])
                    if info["resumed"] is not None:
                        store.prepare_resume(
                            job.id, info["resumed"]["running"], info["resumed"]["epochs_done"]
                        )
                elif kind == "done":
                    self._mark_ended(job)
                    status = "cancelled" if job.cancel_all else "finished"
                    store.set_status(
                        job.id,
                        status,
                        runs_status="failed",
                        runs_message="the run ended without a final status",
                    )
                    break
                elif kind == "error":
                    self._mark_ended(job)
                    store.set_status(job.id, "failed", msg[2], runs_status="failed")
                    if msg[3]:  # fatal: the worker exits; the slot starts a fresh one
                        worker.exit_reason()
                    break
        except (EOFError, OSError, ValueError):
            with self._cond:
                killed = job.id in self._killed
            if killed:  # the cancel's safety net: cancelled, with the records sent so far
                worker.wait()
                grace = settings.cancel_grace_seconds()
                store.set_status(
                    job.id,
                    "cancelled",
                    f"cancelled; its worker did not stop within {grace:g} s, so it was "
                    "killed and replaced",
                    runs_status="cancelled",
                    runs_message="cancelled (the worker was stopped in the middle of a step)",
                )
            elif self._stopping:
                store.set_status(
                    job.id,
                    "interrupted",
                    "the server stopped; resume it from its last checkpoint",
                    runs_status="interrupted",
                )
                return
            else:
                reason = worker.exit_reason()
                store.set_status(job.id, "failed", reason, runs_status="failed")
                return
        with contextlib.suppress(OSError):
            if store.get_experiment(job.id)["status"] in ("finished", "cancelled"):
                ckpt.unlink()
