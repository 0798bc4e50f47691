"""Background-execution benchmarks (issue 3): what a worker process and the store cost.

1. Overhead: the six-optimizer Rosenbrock experiment (3000 steps: SGD, SGD momentum,
   Nesterov, Adagrad, RMSprop, Adam) run through the job manager (a warm worker
   process, record batches pickled to the manager, written to SQLite) from submit
   until it is stored as finished, vs ``run_experiment`` in this process (what
   ``python -m optlab run --no-store`` does after its imports).
2. Latency: submit → first record batch with steps in the store, with a warm, idle
   worker (also: submit → the run's ``running`` status, the start batch).

Run: ``python benchmarks/bench_jobs.py [--repeats 7] [--steps 3000]``.  Prints medians
and the ratio worker / direct measured in the same run (lower is better; aim ≤ 1.1).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from optlab.engine.experiment import run_experiment
from optlab.jobs.job import Limits
from optlab.jobs.manager import JobManager
from optlab.spec import ExperimentSpec, parse_spec
from optlab.store.db import Store

SIX = [
    ("SGD", {"name": "SGD", "lr": 1e-3}),
    ("SGDM", {"name": "SGD", "lr": 1e-3, "momentum": 0.9}),
    ("Nesterov", {"name": "SGD", "lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"name": "Adagrad", "lr": 0.1}),
    ("RMSprop", {"name": "RMSprop", "lr": 1e-2}),
    ("Adam", {"name": "Adam", "lr": 0.05}),
]


def six_spec(steps: int, seed: int = 0) -> ExperimentSpec:
    return parse_spec(
        {
            "problem": {"name": "rosenbrock"},
            "steps": steps,
            "seed": seed,
            "runs": [{"label": n, "optimizer": o} for n, o in SIX],
        }
    )


def time_direct(spec: ExperimentSpec) -> float:
    start = time.perf_counter()
    run_experiment(spec)
    return time.perf_counter() - start


def time_worker(manager: JobManager, spec: ExperimentSpec) -> float:
    start = time.perf_counter()
    exp_id = manager.submit(spec)
    status = manager.wait(exp_id, timeout=600)
    elapsed = time.perf_counter() - start
    assert status == "finished", status
    return elapsed


def time_first_batch(manager: JobManager, spec: ExperimentSpec) -> tuple[float, float]:
    """(submit → runs ``running`` in the store, submit → first step rows in the store)."""
    store = manager.store
    start = time.perf_counter()
    exp_id = manager.submit(spec)
    running = None
    while True:
        if running is None and store.runs(exp_id)[0]["status"] == "running":
            running = time.perf_counter() - start
        if len(store.steps_since(exp_id, 0, 0, limit=1)):
            first = time.perf_counter() - start
            break
        time.sleep(0.001)
    manager.cancel(exp_id)
    manager.wait(exp_id, timeout=60)
    return (running if running is not None else first), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads, here and in the worker"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as home:
        manager = JobManager(
            Store(Path(home) / "optlab.db"),
            workers=1,
            limits=Limits(running_per_client=1, queued_per_client=100),
        )
        try:
            warm = manager.submit(six_spec(50))  # waits for the worker's warm-up, then runs
            manager.wait(warm, timeout=600)
            time_direct(six_spec(50))  # the same warm-up in this process
            direct, worker = [], []
            for k in range(args.repeats):  # interleaved, so load drifts hit both alike
                spec = six_spec(args.steps, seed=k)
                direct.append(time_direct(spec))
                worker.append(time_worker(manager, spec))
            starts, firsts = [], []
            for k in range(args.repeats):
                time.sleep(0.3)  # the worker is idle and warm
                running, first = time_first_batch(manager, six_spec(args.steps, seed=100 + k))
                starts.append(running)
                firsts.append(first)
        finally:
            manager.shutdown()

    md, mw = statistics.median(direct), statistics.median(worker)
    print(
        f"six-optimizer Rosenbrock, {args.steps} steps, {args.repeats} repeats (medians), "
        f"{args.threads} torch thread(s) here and in the worker"
    )
    print(f"  run_experiment in-process (optlab run --no-store): {md * 1e3:8.1f} ms")
    print(f"  worker process + SQLite store, submit → stored:    {mw * 1e3:8.1f} ms")
    print(f"  ratio worker / direct: {mw / md:.3f}x")
    print(
        f"  submit → start batch (runs running) in the store:  "
        f"{statistics.median(starts) * 1e3:8.1f} ms"
    )
    print(
        f"  submit → first step records in the store:          "
        f"{statistics.median(firsts) * 1e3:8.1f} ms  "
        f"(min {min(firsts) * 1e3:.1f}, max {max(firsts) * 1e3:.1f})"
    )


if __name__ == "__main__":
    main()
