"""The Ray executor (``OPTLAB_EXECUTOR=ray``): experiments and sweep trials as Ray tasks.

It is the local executor's scheduler with Ray handles in its slots
(:class:`optlab.jobs.ray_worker.RayWorker`) instead of worker processes: the same queue,
the same per-client limits, the same code storing every message in the driver's
SQLite store (record batches while a trial runs, checkpoints, the end) and the same
sweep shards.  Ray decides where each task runs (a GPU for a model on CUDA, a CPU
otherwise); a slot is one job in flight.

``ray.init``: with ``RAY_ADDRESS`` it joins that cluster and ships the code (the
``optlab`` and ``problems`` packages, without the bundled sample data; workers read
data from their own ``OPTLAB_DATA_DIR``) as ``py_modules``.  Without it, a local Ray:
``num_cpus`` = ``OPTLAB_WORKERS`` (what the local executor would run at once), a small
object store (``OPTLAB_RAY_OBJECT_STORE_MB``, 128 MB: records are small inline
returns, and Ray's default of 30 % of RAM would pin gigabytes of /dev/shm on a shared
machine), no dashboard (a web server and its processes nobody asked for), and the
project root on the workers' ``PYTHONPATH``, as the local workers get it
(``address="local"``: without it ``ray.init`` would join any cluster a ``ray start``
left running on the machine).  A cluster's workers also get the server's ``OPTLAB_*``
limits.  Slots: the cluster's CPUs.  A Ray that is already initialised in this process
(a test's) is used as it is and left running at shutdown.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

import optlab
from optlab import settings
from optlab.jobs.job import Job, Worker
from optlab.jobs.local_executor import LocalExecutor
from optlab.jobs.ray_tasks import CancelBoard, warm_up
from optlab.jobs.ray_worker import RayWorker
from optlab.store.db import Store

ROOT = Path(optlab.__file__).resolve().parent.parent
#: how long the cluster's size is reused by the overview
CLUSTER_INFO_SECONDS = 2.0
#: what never travels to a cluster: caches and the bundled CIFAR-10 sample (18 MB)
EXCLUDES = ["__pycache__/", "*.pyc", "sample_data/"]


def start_ray(address: str | None, num_cpus: int) -> bool:
    """Connect to Ray (see the module docstring); True when this call started it."""
    if ray.is_initialized():
        return False
    common: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if address:
        _token_auth_if_token()
        # the two packages as folders (optlab reaches problems only through the registry)
        modules = [str(ROOT / "optlab"), str(ROOT / "problems")]
        ray.init(
            address=address,
            runtime_env={
                "py_modules": modules,
                "excludes": EXCLUDES,
                "env_vars": server_settings(),
            },
            **common,
        )
    else:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        ray.init(
            address="local",  # a new Ray of our own, never one a `ray start` left running
            num_cpus=num_cpus,
            object_store_memory=settings.ray_object_store_mb() << 20,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
            **common,
        )
    return True


#: the settings a cluster's workers take from the server: the work limits, nothing else
SERVER_SETTINGS_PREFIX = "OPTLAB_MAX_"


def server_settings() -> dict[str, str]:
    """The server's limits for a cluster's workers: a task validates its spec again, so it
    must see the server's ``OPTLAB_MAX_*`` (``OPTLAB_MAX_EPOCHS`` …), not the node's
    defaults.  An allow-list: paths and data roots (``OPTLAB_DATA_DIR``,
    ``OPTLAB_DATA_ROOTS``, ``OPTLAB_HOME``, ``OPTLAB_PROBLEMS_DIR``) and anything added
    later stay each node's own."""
    return {k: v for k, v in os.environ.items() if k.startswith(SERVER_SETTINGS_PREFIX)}


def _token_auth_if_token() -> None:
    """Join a token-protected cluster as ``ray start`` does: Ray 2.60's ``ray start --head``
    turns token authentication on when a token exists (``~/.ray/auth_token``, which any
    local ``ray.init`` creates, or ``RAY_AUTH_TOKEN``/``RAY_AUTH_TOKEN_PATH``), but
    ``ray.init(address=…)`` sends the token only in token mode.  With ``RAY_AUTH_MODE``
    unset and a token at hand, this calls the function ``ray start`` calls for that
    (private to Ray, hence the pinned ray==2.60.0 and the fallback: the setting alone)."""
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return
    try:
        from ray._private.authentication import authentication_token_setup as auth

        auth.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    except (ImportError, AttributeError):  # another Ray: its own rules apply
        path = os.environ.get("RAY_AUTH_TOKEN_PATH")
        token = Path(path).expanduser() if path else Path.home() / ".ray" / "auth_token"
        if os.environ.get("RAY_AUTH_TOKEN") or token.is_file():
            os.environ["RAY_AUTH_MODE"] = "token"


class RayExecutor(LocalExecutor):
    """Runs jobs as Ray tasks; see the module docstring."""

    kind = "ray"

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
        address: str | None = None,
    ) -> None:
        self.address = address
        self._cluster_cache: tuple[float, dict[str, float]] | None = None
        self.owns_ray = start_ray(address, workers)
        self.board = CancelBoard.remote()  # type: ignore[attr-defined]
        slots = max(1, int(ray.cluster_resources().get("CPU", workers)))
        self.gpus = float(ray.cluster_resources().get("GPU", 0))
        # warm Ray's worker processes now (not awaited), so the first job starts at once
        self._warm = [warm_up.remote() for _ in range(slots)]
        super().__init__(
            store,
            workers=slots,
            threads=threads,
            max_running_per_client=max_running_per_client,
            flush_seconds=flush_seconds,
            checkpoint_seconds=checkpoint_seconds,
            checkpoint_dir=checkpoint_dir,
            on_done=on_done,
        )

    def _new_worker(self, slot: int) -> Worker:
        return RayWorker(slot, self.board, self.threads, self.gpus)

    def _eligible(self, job: Job, slot: int, running_by_client: collections.Counter[str]) -> bool:
        """Only the per-client limit: Ray itself places GPU and CPU tasks."""
        return running_by_client[job.client] < self.max_running_per_client

    def running_tasks(self) -> list[dict[str, Any]]:
        """Where each running job's task is: ``{"job", "pid", "node"}`` (pid and node are
        None until the task has started on a Ray worker)."""
        with self._cond:
            workers = [w for _, w in self._running.values()]
        return [dict(w.task) for w in workers if isinstance(w, RayWorker) and w.task]

    def running_pid(self, exp_id: str) -> int | None:
        """The pid of the Ray worker process running ``exp_id`` (or one of its shards)."""
        for task in self.running_tasks():
            if task.get("job", "").split("#")[0] == exp_id and task.get("pid"):
                return int(task["pid"])
        return None

    def overview(self) -> dict[str, Any]:
        """The local overview plus the cluster: its CPUs, GPUs and live nodes, and how
        many trials run on each node."""
        info = super().overview()
        by_node = collections.Counter(t.get("node") or "starting" for t in self.running_tasks())
        info.update(
            executor="ray",
            address=self.address or "local Ray",
            cluster=self._cluster(),
            running_by_node=dict(by_node),
        )
        return info

    def _cluster(self) -> dict[str, float]:
        """The cluster's CPUs, GPUs and live nodes, asked of Ray at most every 2 s (every
        open dashboard redraws the status box)."""
        now = time.monotonic()
        if self._cluster_cache is None or now - self._cluster_cache[0] > CLUSTER_INFO_SECONDS:
            res = ray.cluster_resources()
            info = {
                "CPU": float(res.get("CPU", 0)),
                "GPU": float(res.get("GPU", 0)),
                "nodes": sum(1 for n in ray.nodes() if n.get("Alive")),
            }
            self._cluster_cache = (now, info)
        return self._cluster_cache[1]

    def shutdown(self) -> None:
        """Stop every task (running experiments become ``interrupted``); disconnect from Ray,
        stopping it if this executor started it."""
        super().shutdown()
        if self.owns_ray:
            ray.shutdown()
