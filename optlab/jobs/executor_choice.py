"""Which executor runs the jobs: ``OPTLAB_EXECUTOR`` = ``local`` (default) or ``ray``.

The Ray executor (and ``ray`` itself) is imported only when it is chosen, so a laptop
without Ray installed never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from optlab import settings
from optlab.jobs.job import Executor, Job
from optlab.store.db import Store


def default_workers() -> int:
    """Experiments at once: 1 on up to 3 CPU cores, else ``min(4, cores // 2)``."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 3 else min(4, cores // 2)


def make_executor(
    kind: str | None,
    store: Store,
    *,
    workers: int | None,
    threads: int | None,
    max_running_per_client: int,
    flush_seconds: float | None,
    checkpoint_seconds: float | None,
    checkpoint_dir: Path,
    on_done: Callable[[Job], None],
) -> Executor:
    """The executor ``kind`` names (None: ``OPTLAB_EXECUTOR``), configured from the
    environment where an argument is None.  An unknown kind: ``ValueError``, one line."""
    kind = kind or settings.executor()
    n = max(1, workers or settings.env_int("OPTLAB_WORKERS", default_workers()))
    cores = os.cpu_count() or 1
    flush = flush_seconds or settings.env_float("OPTLAB_FLUSH_SECONDS", 0.05)
    every = checkpoint_seconds or settings.env_float("OPTLAB_CHECKPOINT_SECONDS", 5.0)
    if kind == "ray":
        try:
            from optlab.jobs.ray_executor import RayExecutor
        except ImportError as exc:  # Ray is installed only where it is used
            raise ValueError(
                f"OPTLAB_EXECUTOR=ray needs Ray ({exc}); install it with "
                "`pip install -r requirements-ray.txt` (or run `OPTLAB_EXECUTOR=ray make run`)"
            ) from None

        # one torch thread per task by default: a task asks Ray for as many CPUs as threads
        return RayExecutor(
            store,
            workers=n,
            threads=threads or max(1, settings.env_int("OPTLAB_WORKER_THREADS", 1)),
            max_running_per_client=max_running_per_client,
            flush_seconds=flush,
            checkpoint_seconds=every,
            checkpoint_dir=checkpoint_dir,
            on_done=on_done,
            address=settings.ray_address(),
        )
    if kind != "local":
        raise ValueError(f"executor {kind!r} is unknown; allowed: {', '.join(settings.EXECUTORS)}")
    from optlab.jobs.local_executor import LocalExecutor

    return LocalExecutor(
        store,
        workers=n,
        threads=threads
        or max(1, settings.env_int("OPTLAB_WORKER_THREADS", max(1, (cores - 1) // n))),
        max_running_per_client=max_running_per_client,
        flush_seconds=flush,
        checkpoint_seconds=every,
        checkpoint_dir=checkpoint_dir,
        on_done=on_done,
    )
