"""Background execution: the job manager the dashboard submits to.

:class:`JobManager` validates a spec, applies the per-client limits, records the
experiment in the :class:`~optlab.store.db.Store` and hands a :class:`Job` to an
:class:`Executor`.  The executor runs it somewhere (the local one: in warm worker
processes, see :mod:`optlab.jobs.local_executor`) and writes its records to the store,
which is what every reader (UI, CLI) looks at.

One manager per process: :func:`get_manager` keeps it at module level, so the
UI's ``st.cache_resource`` wrapper (and its "Clear cache" menu) never orphans
running jobs.  Nothing here imports streamlit.

Reattach: submitting a spec that the same client already has queued or running
returns that experiment's id instead of starting a duplicate (a refresh, a second
tab or a double click lands on the same live experiment).

Environment (read when the manager starts):

- ``OPTLAB_EXECUTOR``: ``local`` (worker processes on this machine, the default) or
  ``ray`` (Ray tasks: a local Ray, or the cluster at ``RAY_ADDRESS``; see
  :mod:`optlab.jobs.ray_executor`).  Another value is refused with one line.

- ``OPTLAB_WORKERS``: experiments run at once (worker processes); default 1 on up
  to 3 CPU cores, else ``min(4, cores // 2)``.  Worker 0 owns the GPU if any.
  On Ray: the local Ray's CPUs.
- ``OPTLAB_WORKER_THREADS``: torch threads per worker; default ``(cores - 1) // workers``
  (Ray: 1, and each task asks Ray for as many CPUs as it has threads).
- ``OPTLAB_MAX_RUNNING_PER_CLIENT`` (2) / ``OPTLAB_MAX_QUEUED_PER_CLIENT`` (5): one
  client's experiments running at once / waiting; a submit beyond the waiting limit
  is refused with :class:`LimitError`.  ``OPTLAB_MAX_QUEUED`` (200) caps everyone.
- ``OPTLAB_CHECKPOINT_SECONDS`` (5): how often a running experiment is checkpointed.
- ``OPTLAB_FLUSH_SECONDS`` (0.05): how often a worker sends a record batch.
- ``OPTLAB_CANCEL_GRACE_SECONDS`` (2): how long a cancelled experiment's worker has to
  stop before it is killed and replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from typing import Any

from optlab import paths
from optlab.jobs.executor_choice import make_executor
from optlab.jobs.job import Executor, Job, LimitError, Limits
from optlab.spec import ExperimentSpec, parse_spec
from optlab.store.db import Store, new_owner, release_owner, spec_key


class JobManager:
    """Submit, watch, cancel and resume experiments; one per process (:func:`get_manager`)."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        workers: int | None = None,
        limits: Limits | None = None,
        executor: Executor | None = None,
        threads: int | None = None,
        checkpoint_seconds: float | None = None,
        flush_seconds: float | None = None,
        executor_kind: str | None = None,
    ) -> None:
        self.store = store or Store()
        self.owner = new_owner()
        self.limits = limits or Limits.from_env()
        #: experiments a previous server left queued/running, now resumable
        self.interrupted = self.store.mark_interrupted_on_startup()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        if executor is None:
            executor = make_executor(
                executor_kind,
                self.store,
                workers=workers,
                threads=threads,
                max_running_per_client=self.limits.running_per_client,
                flush_seconds=flush_seconds,
                checkpoint_seconds=checkpoint_seconds,
                checkpoint_dir=paths.checkpoint_dir(self.store.path.parent),
                on_done=self._on_done,
            )
        #: "local" or "ray" (for the dashboard's status)
        self.executor_kind = getattr(executor, "kind", "local")
        self.executor = executor
        self._closed = False

    # ------------------------------------------------------------------ submitting

    def submit(self, spec: ExperimentSpec | dict[str, Any] | str, *, client: str = "") -> str:
        """Queue an experiment; its id.  Raises ``SpecError`` or :class:`LimitError`.

        The same spec from the same client while it is still queued or running
        returns the running experiment's id (reattach) instead of a duplicate.
        """
        if not isinstance(spec, ExperimentSpec):
            spec = parse_spec(spec)
        spec_dict = spec.to_dict()
        key = spec_key(spec_dict)
        with self._lock:
            self._check_open()
            for job in self._jobs.values():
                if job.client == client and job.key == key and not job.cancel_all:
                    return job.id
            self._check_limits(client)
            work = _sweep_work(spec)  # a sweep's bad axes or limits: SpecError, nothing stored
            exp_id = self.store.create_experiment(
                spec,
                client=client,
                owner=self.owner,
                kind="experiment" if work is None else "sweep",
                trials_total=None if work is None else work.total,
            )
            job = Job(exp_id, spec_dict, client, key, needs_gpu=_needs_gpu(spec), sweep=work)
            self._jobs[exp_id] = job
            self.executor.submit(job)
        return exp_id

    def resume(self, exp_id: str) -> str:
        """Queue an ``interrupted`` experiment again, from its last checkpoint.

        A sweep resumes without the trials it already stored."""
        exp = self.store.get_experiment(exp_id)
        if exp["status"] != "interrupted":
            raise ValueError(
                f"experiment {exp_id} is {exp['status']}; only interrupted experiments resume"
            )
        spec = parse_spec(exp["spec"])
        with self._lock:
            self._check_open()
            if exp_id in self._jobs:
                return exp_id
            self._check_limits(exp["client"])
            self.store.claim(exp_id, self.owner)
            work = (
                _sweep_work(spec, self.store.trial_results(exp_id))
                if exp.get("kind") == "sweep"
                else None
            )
            self.store.set_status(
                exp_id,
                "queued",
                "resuming from the last checkpoint" if work is None else "resuming",
                runs_status="queued" if work is not None else None,
            )
            job = Job(
                exp_id,
                spec.to_dict(),
                exp["client"],
                spec_key(spec.to_dict()),
                resume=True,
                needs_gpu=_needs_gpu(spec),
                sweep=work,
            )
            self._jobs[exp_id] = job
            self.executor.submit(job)
        return exp_id

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the job manager is shut down")

    def _check_limits(self, client: str) -> None:
        queued = [j for j in self._jobs.values() if j.state == "queued"]
        mine = sum(1 for j in queued if j.client == client)
        if mine >= self.limits.queued_per_client:
            raise LimitError(
                f"refused: you already have {mine} experiment(s) waiting to run (the limit is "
                f"{self.limits.queued_per_client} per client, OPTLAB_MAX_QUEUED_PER_CLIENT); "
                "wait for one to start or cancel one"
            )
        if len(queued) >= self.limits.queued_total:
            raise LimitError(
                f"refused: the server already has {len(queued)} experiments waiting (the limit "
                "is OPTLAB_MAX_QUEUED); try again in a moment"
            )

    # ------------------------------------------------------------------ controlling

    def cancel(self, exp_id: str, run: int | set[int] | None = None) -> bool:
        """Cancel an experiment (``run=None``) or some of its runs; False if not active.

        A running run stops within about a batch (~50 ms) and is marked ``cancelled``;
        an interrupted experiment cancelled this way is no longer resumable.  A whole
        experiment whose worker is stuck in one long step is stopped anyway: after
        ``OPTLAB_CANCEL_GRACE_SECONDS`` (2 s) the worker is killed and replaced, the
        experiment is ``cancelled`` and keeps its records.
        """
        runs = {run} if isinstance(run, int) else (set(run) if run is not None else None)
        with self._lock:
            job = self._jobs.get(exp_id)
            if job is None:
                return self._cancel_stored(exp_id, runs)
            if runs is None:
                job.cancel_all = True
            else:
                job.cancel_runs |= runs
            if self.executor.cancel(job, runs):  # it was still queued: now dropped
                self._jobs.pop(exp_id, None)
                job.state = "done"
                self._record_queued_cancel(job, runs)
                job.done.set()
            return True

    def _record_queued_cancel(self, job: Job, runs: set[int] | None) -> None:
        if runs is None or len(runs) >= len(job.spec["runs"]):
            self.store.set_status(
                job.id, "cancelled", "cancelled before it started", runs_status="cancelled"
            )

    def _cancel_stored(self, exp_id: str, runs: set[int] | None) -> bool:
        exp = self.store.get_experiment(exp_id)
        if exp["status"] != "interrupted" or runs is not None:
            return False
        self.store.set_status(
            exp_id, "cancelled", "cancelled while interrupted", runs_status="cancelled"
        )
        with contextlib.suppress(OSError):
            paths.checkpoint_path(exp_id, paths.checkpoint_dir(self.store.path.parent)).unlink()
        return True

    def delete(self, exp_id: str, timeout: float = 10.0) -> None:
        """Delete a stored experiment, cancelling it first if it is still active."""
        if self.is_active(exp_id):
            self.cancel(exp_id)
            self.wait(exp_id, timeout)
        self.store.delete(exp_id)

    def _on_done(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        job.done.set()

    # ------------------------------------------------------------------ watching

    def is_active(self, exp_id: str) -> bool:
        with self._lock:
            return exp_id in self._jobs

    def active(self, client: str | None = None) -> list[str]:
        """Ids of the queued and running experiments (of ``client``)."""
        with self._lock:
            return [j.id for j in self._jobs.values() if client is None or j.client == client]

    def overview(self) -> dict[str, Any]:
        """For a status line: experiments queued and running, and the workers' info."""
        describe = getattr(self.executor, "overview", None)
        if describe is not None:
            return {"executor": self.executor_kind, **describe()}
        with self._lock:
            states = [j.state for j in self._jobs.values()]
        return {
            "executor": self.executor_kind,
            "queued": states.count("queued"),
            "running": states.count("running"),
            "workers": [],
        }

    def wait(self, exp_id: str, timeout: float | None = None) -> str:
        """Block until the experiment is no longer active; its stored status."""
        with self._lock:
            job = self._jobs.get(exp_id)
        if job is not None and not job.done.wait(timeout):
            raise TimeoutError(f"experiment {exp_id} still active after {timeout} s")
        return str(self.store.get_experiment(exp_id)["status"])

    def shutdown(self) -> None:
        """Stop the workers; experiments still running become ``interrupted``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.executor.shutdown()
        with self._lock:
            for job in list(self._jobs.values()):
                with contextlib.suppress(Exception):
                    self.store.set_status(
                        job.id,
                        "interrupted",
                        "the server stopped; resume it from its last checkpoint",
                        runs_status="interrupted",
                    )
                job.done.set()
            self._jobs.clear()
        release_owner(self.owner)


def _sweep_work(spec: ExperimentSpec, done: list[Any] | None = None) -> Any:
    """A sweep's work list (planning checks its axes and limits), or None for a plain spec."""
    if spec.sweep is None:
        return None
    from optlab.jobs.sweep_jobs import SweepWork

    return SweepWork(spec, done)


def _needs_gpu(spec: ExperimentSpec) -> bool:
    return not spec.is_surface and spec.device in ("auto", "cuda")


_MANAGER: JobManager | None = None
_MANAGER_LOCK = threading.Lock()
_EXIT_HOOK: list[bool] = []
#: why the last start failed (an unreachable RAY_ADDRESS …), for status displays
_START_ERROR: list[str] = []


def get_manager() -> JobManager:
    """The process-wide manager (started, and its workers warmed up, on first use)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None or _MANAGER.closed:  # a closed one is replaced, not handed out
            try:
                _MANAGER = JobManager(Store(paths.db_path()))
            except Exception as exc:
                _START_ERROR[:] = [f"{type(exc).__name__}: {exc}"]
                raise
            _START_ERROR.clear()
            if not _EXIT_HOOK:
                atexit.register(shutdown_manager)
                _EXIT_HOOK.append(True)
        return _MANAGER


def current_manager() -> JobManager | None:
    """The process-wide manager if it is running; never starts one (status displays)."""
    with _MANAGER_LOCK:
        manager = _MANAGER
    return manager if manager is not None and not manager.closed else None


def start_error() -> str | None:
    """Why the manager could not start, if its last start failed (else None)."""
    with _MANAGER_LOCK:
        return _START_ERROR[0] if _START_ERROR else None


def shutdown_manager() -> None:
    """Stop the process-wide manager (tests, interpreter exit)."""
    global _MANAGER
    with _MANAGER_LOCK:
        manager, _MANAGER = _MANAGER, None
        _START_ERROR.clear()
    if manager is not None:
        manager.shutdown()
    from optlab.jobs.lr_find_job import shutdown_lr_finds  # the finders' children too

    shutdown_lr_finds()
