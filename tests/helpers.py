"""Small helpers several test modules share (the browser harness is tests/browser.py)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from optlab.engine.experiment import Experiment
from optlab.store.db import Store
from optlab.ui.live.live_data import ExperimentData, refresh

T = TypeVar("T")


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, every: float = 0.01) -> Any:
    """Poll ``cond`` until it returns something true, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {cond}")


def one_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on one torch thread, like a worker process (and fast on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def run_script(folder: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the exported ``script.py`` in ``folder`` standalone: this interpreter, no
    PYTHONPATH (so it cannot import optlab from the checkout)."""
    return subprocess.run(
        [sys.executable, "script.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": ""},
    )


def value_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into nested dicts and lists (each dict key, each list index)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += value_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += value_paths(v, (*prefix, i))
    return out


def finished_experiment(db: Path, spec: Any) -> tuple[str, ExperimentData]:
    """Run ``spec`` (parsed) here, store it in the SQLite file ``db`` as a finished
    experiment and read it back as the live view does: ``(exp_id, its data)``."""
    store = Store(db)
    exp_id = store.create_experiment(spec, status="running")
    for batch in Experiment(spec).batches(flush_seconds=0.0):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished")
    data = refresh(store, exp_id, None)
    store.close()
    return exp_id, data


def with_value(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with ``value`` put at ``path``."""
    out = copy.deepcopy(base)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out
