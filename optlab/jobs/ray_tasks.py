"""The Ray side of the Ray executor: the task that runs a job, and the cancel board.

A job runs as one Ray *generator task* (``num_returns="streaming"``): it runs the
same code as a local worker process (:mod:`optlab.jobs.job_runs`) and yields every
message of the worker protocol (:mod:`optlab.jobs.worker`) as it is made, so the
driver stores record batches while the trial runs, not only at its end.  Its first
message is ``("worker", {"pid", "node", "gpus"})``: where it runs (the dashboard's
"running where", and the pid a test kills).

Cancels travel through one small :class:`CancelBoard` actor: the driver posts them,
the task picks them up between record batches with a non-blocking poll (one
request always in flight), so a cancel arrives within a batch or two (~0.1 s).
``ray.cancel(force=True)`` is the safety net for a task stuck in one long step.

Only this module and :mod:`optlab.jobs.ray_worker` import ray, and only the Ray
executor imports them, so a laptop without Ray never needs it.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

import ray

from optlab.jobs import job_runs


@ray.remote(num_cpus=0)
class CancelBoard:
    """Cancels posted by the driver, waiting for their task to pick them up."""

    def __init__(self) -> None:
        self.cancels: dict[str, list[list[int] | None]] = {}

    def post(self, job_id: str, runs: list[int] | None) -> None:
        self.cancels.setdefault(job_id, []).append(runs)

    def take(self, job_id: str) -> list[list[int] | None]:
        return self.cancels.pop(job_id, [])


class _CancelPoll:
    """``cancels()`` for :mod:`optlab.jobs.job_runs`: never blocks the training loop;
    one ``take`` request is in flight, its answer is read when it has arrived."""

    def __init__(self, board: Any, job_id: str) -> None:
        self.board, self.job_id = board, job_id
        self.pending = board.take.remote(job_id)

    def __call__(self) -> list[list[int] | None]:
        ready, _ = ray.wait([self.pending], timeout=0)
        if not ready:
            return []
        found: list[list[int] | None] = ray.get(self.pending)
        self.pending = self.board.take.remote(self.job_id)
        return found


_END = object()


@ray.remote(num_cpus=1, max_retries=0)
def warm_up() -> float:
    """Pay a Ray worker's cold start (torch, the catalogues, a first experiment) before the
    first job needs it, as the local workers do; seconds spent."""
    from optlab.jobs.worker import warm_up as local_warm_up

    return local_warm_up()


@ray.remote(num_returns="streaming", max_retries=0, retry_exceptions=False)
def run_on_ray(
    kind: str, job_id: str, args: tuple[Any, ...], board: Any, threads: int
) -> Iterator[Any]:
    """Run a job (``kind`` "run": spec, checkpoint, options) or some sweep trials ("sweep":
    spec, trials, options), yielding the worker protocol's messages as they are made.

    ``max_retries=0``: a worker that dies is reported as a failure, never silently rerun.
    The engine runs in a thread (it reports through callbacks) and this generator
    yields what it sends; ``threads`` torch threads, set in that thread, as many as the
    CPUs the task asked Ray for, so tasks sharing a node do not oversubscribe it.
    """
    yield (
        "worker",
        {
            "pid": os.getpid(),
            "node": ray.util.get_node_ip_address(),
            "gpus": [str(g) for g in ray.get_gpu_ids()],
        },
    )
    out: queue.Queue[Any] = queue.Queue()
    cancels = _CancelPoll(board, job_id)

    def work() -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        try:
            if kind == "run":
                spec, checkpoint, opts = args
                job_runs.run_job(job_id, spec, checkpoint, opts, out.put, cancels)
            else:
                spec, trials, opts = args
                job_runs.run_sweep_trials(job_id, spec, trials, opts, out.put, cancels)
        except BaseException as exc:  # run_* report their own errors; this is a last resort
            out.put(("error", job_id, f"{type(exc).__name__}: {exc}", False))
        finally:
            out.put(_END)

    thread = threading.Thread(target=work, name=f"optlab-ray-{job_id}", daemon=True)
    thread.start()
    while (msg := out.get()) is not _END:
        yield msg
    thread.join()
