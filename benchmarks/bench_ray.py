"""Ray executor benchmark (issue 11): what running on Ray costs against the local workers.

Both executors run in this one process, each with 2 slots and one torch thread per
trial: the local executor (2 warm worker processes) and the Ray executor on a local
Ray started here (``num_cpus=2``, the executor's own ``ray.init`` settings).

1. Overhead: a sweep of 16 ``mse_regression`` trials (one per learning rate) from
   submit until it is stored ``finished``; Ray / local measured alternately in the
   same run, so the ratio is fair on a loaded machine (aim ≤ 1.3×).
2. Latency: submit → first record rows in the store, for a plain ``mse_regression``
   experiment on each executor (warm workers, nothing else running).

Run: ``python benchmarks/bench_ray.py [--repeats 5] [--epochs 4] [--samples 1000]``.
Prints medians and the same-run ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from optlab.jobs.job import Limits
from optlab.jobs.manager import JobManager
from optlab.jobs.ray_executor import start_ray
from optlab.store.db import Store


def sweep_spec(epochs: int, samples: int, seed: int) -> dict[str, Any]:
    return {
        "problem": {"name": "mse_regression", "n_samples": samples},
        "epochs": epochs,
        "batch_size": 32,
        "seed": seed,
        "device": "cpu",
        "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}}],
        "sweep": {"axes": {"optimizer.lr": [round(0.0005 * (k + 1), 6) for k in range(16)]}},
    }


def plain_spec(epochs: int, samples: int, seed: int) -> dict[str, Any]:
    spec = sweep_spec(epochs, samples, seed)
    del spec["sweep"]
    return spec


def time_sweep(manager: JobManager, spec: dict[str, Any]) -> float:
    start = time.perf_counter()
    exp_id = manager.submit(spec)
    status = manager.wait(exp_id, timeout=900)
    elapsed = time.perf_counter() - start
    assert status == "finished", status
    assert manager.store.trial_count(exp_id) == 16
    return elapsed


def time_first_records(manager: JobManager, spec: dict[str, Any]) -> float:
    store = manager.store
    start = time.perf_counter()
    exp_id = manager.submit(spec)
    while not len(store.steps_since(exp_id, 0, 0, limit=1)):
        time.sleep(0.001)
    first = time.perf_counter() - start
    manager.cancel(exp_id)
    manager.wait(exp_id, timeout=60)
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="optlab-bench-ray-"))
    t0 = time.perf_counter()
    start_ray(None, 2)
    print(f"local Ray started in {time.perf_counter() - t0:.1f} s")
    limits = Limits(running_per_client=2, queued_per_client=50)
    managers = {
        kind: JobManager(
            Store(folder / f"{kind}.db"), workers=2, threads=1, executor_kind=kind, limits=limits
        )
        for kind in ("local", "ray")
    }
    try:
        for m in managers.values():  # warm: worker processes, Ray workers, imports
            time_sweep(m, sweep_spec(1, 100, seed=99))
        sweeps: dict[str, list[float]] = {k: [] for k in managers}
        firsts: dict[str, list[float]] = {k: [] for k in managers}
        for r in range(args.repeats):
            order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
            for kind in order:
                spec = sweep_spec(args.epochs, args.samples, seed=r)
                sweeps[kind].append(time_sweep(managers[kind], spec))
                plain = plain_spec(50, args.samples, seed=r)
                firsts[kind].append(time_first_records(managers[kind], plain))
        med = {k: statistics.median(v) for k, v in sweeps.items()}
        first = {k: statistics.median(v) for k, v in firsts.items()}
        print(f"16 mse_regression trials ({args.epochs} epochs, {args.samples} samples), "
              f"2 slots, median of {args.repeats}:")  # fmt: skip
        for kind in managers:
            runs = ", ".join(f"{t:.2f}" for t in sweeps[kind])
            print(f"  {kind:5s} {med[kind]:6.2f} s   ({runs})")
        print(f"  ratio ray / local: {med['ray'] / med['local']:.2f}x (aim <= 1.3x)")
        print("submit -> first records stored (plain experiment), median:")
        for kind in managers:
            runs = ", ".join(f"{t * 1000:.0f}" for t in firsts[kind])
            print(f"  {kind:5s} {first[kind] * 1000:6.0f} ms  ({runs})")
    finally:
        for m in managers.values():
            m.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
