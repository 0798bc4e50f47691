"""Sweep benchmarks (issue 10): same-run ratios; absolute times only indicative.

1. Basin map: 10,000 starts × 500 Adam steps on Rosenbrock.  The marginal cost of
   the sweep (a 10,000-start ``python -m optlab sweep`` minus a 1-start one, whole
   commands) against a NumPy-vectorized Adam over the same starts written here
   (aim: at most 2×).
2. (lr, momentum) map: 2,500 cells × 200 SGD steps on the quadratic (``run_sweep`` in
   process, and the whole command) against the textbook loop (one leaf, one
   ``torch.optim.SGD``, ``zero_grad``/``backward``/``step`` per cell), measured on a
   sample of cells and scaled (aim: at least 4× faster, at most 10 s).
3. Model sweep: 8 ``mse_regression`` trials run in process one after another, and
   through the job manager's worker pool with 1 worker and with 2 (warm workers, one
   torch thread each; aim: 2 workers at most 0.6× the time of 1, given two free cores).

Run: ``python benchmarks/bench_sweep.py [--repeats 3] [--skip-models]``.  Prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def basin_spec(n: int) -> dict[str, Any]:
    grid = [[-2.0, 2.0], [-1.0, 3.0]] if n > 1 else [[-1.5, -1.5], [2.0, 2.0]]
    return {
        "problem": {"name": "rosenbrock"},
        "steps": 500,
        "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}}],
        "sweep": {"axes": {"problem.start": {"grid": grid, "num": [n, n]}}, "threshold": 1e-4},
    }


def sgd_map_spec(n: int = 50) -> dict[str, Any]:
    return {
        "problem": {"name": "quadratic", "condition": 50},
        "steps": 200,
        "runs": [{"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9}}],
        "sweep": {
            "axes": {
                "optimizer.lr": {"log": [0.01, 4.0], "num": n},
                "optimizer.momentum": {"linear": [0.0, 0.99], "num": n},
            },
            "threshold": 1e-6,
        },
    }


def command(spec: dict[str, Any], tmp: Path, cpu: list[float] | None = None) -> float:
    """Wall time of ``python -m optlab sweep SPEC --no-store --quiet`` (the whole command);
    its CPU time (user + system, which other load on the machine disturbs far less) is
    appended to ``cpu``."""
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "optlab", "sweep", str(path), "--no-store", "--quiet",
         "--out", str(tmp / "out.json")],
        check=True, env=env, cwd=ROOT,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def spread(values: list[float]) -> list[float]:
    """[min, max] of the repeats (the machine may be shared: report the spread)."""
    return [min(values), max(values)]


def numpy_adam(starts: np.ndarray, steps: int, lr: float = 0.01) -> np.ndarray:
    """Adam (torch's defaults) on Rosenbrock (a=1, b=100), every start at once."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    xy = starts.copy()
    m, v = np.zeros_like(xy), np.zeros_like(xy)
    best = np.full(len(xy), np.inf)
    for t in range(1, steps + 1):
        x, y = xy[:, 0], xy[:, 1]
        r = y - x * x
        f = (1 - x) ** 2 + 100 * r * r
        np.minimum(best, f, out=best)
        g = np.stack([-2 * (1 - x) - 400 * x * r, 200 * r], axis=1)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        xy -= lr * mhat / (np.sqrt(vhat) + eps)
    return xy


def bench_basins(repeats: int, tmp: Path) -> dict[str, float]:
    xs, ys = np.linspace(-2, 2, 100), np.linspace(-1, 3, 100)
    starts = np.array([(x, y) for y in ys for x in xs])
    from optlab.engine.sweep import run_sweep
    from optlab.spec import parse_spec

    big, one, ref, in_big, in_one = [], [], [], [], []
    cpu_big: list[float] = []
    cpu_one: list[float] = []
    cpu_ref: list[float] = []
    cpu_in_big: list[float] = []
    cpu_in_one: list[float] = []
    torch.set_num_threads(1)  # as the command (surfaces run on one thread)
    for _ in range(repeats):
        for n, times, cpu in ((100, in_big, cpu_in_big), (1, in_one, cpu_in_one)):
            t0, c0 = time.perf_counter(), time.process_time()
            json.dumps(run_sweep(parse_spec(basin_spec(n))))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        big.append(command(basin_spec(100), tmp, cpu_big))
        one.append(command(basin_spec(1), tmp, cpu_one))
        t0, c0 = time.perf_counter(), time.process_time()
        numpy_adam(starts, 500)
        ref.append(time.perf_counter() - t0)
        cpu_ref.append(time.process_time() - c0)
    med = statistics.median
    out: dict[str, Any] = {
        "sweep_10000_s": med(big),
        "sweep_1_s": med(one),
        "marginal_s": med(big) - med(one),
        "numpy_adam_s": med(ref),
        "in_process_marginal_s": med(in_big) - med(in_one),
        "cpu_marginal_s": med(cpu_big) - med(cpu_one),
        "cpu_in_process_marginal_s": med(cpu_in_big) - med(cpu_in_one),
        "cpu_numpy_adam_s": med(cpu_ref),
        "spread_sweep_10000_s": spread(big),
        "spread_sweep_1_s": spread(one),
        "spread_cpu_10000_s": spread(cpu_big),
        "spread_cpu_1_s": spread(cpu_one),
    }
    out["ratio"] = out["marginal_s"] / out["numpy_adam_s"]
    out["in_process_ratio"] = out["in_process_marginal_s"] / out["numpy_adam_s"]
    out["cpu_ratio"] = out["cpu_marginal_s"] / out["cpu_numpy_adam_s"]
    out["cpu_in_process_ratio"] = out["cpu_in_process_marginal_s"] / out["cpu_numpy_adam_s"]
    return out


def textbook_cell(problem: Any, start: tuple[float, float], lr: float, momentum: float) -> None:
    xy = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([xy], lr=lr, momentum=momentum)
    for _ in range(200):
        loss = problem.value(xy[0], xy[1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            break


def bench_sgd_map(repeats: int, tmp: Path) -> dict[str, float]:
    from optlab.engine.sweep import run_sweep
    from optlab.spec import parse_spec

    torch.set_num_threads(1)
    spec = parse_spec(sgd_map_spec())
    problem = spec.problem.build()
    cells = [(lr, m) for lr in np.geomspace(0.01, 4.0, 50) for m in np.linspace(0.0, 0.99, 50)]
    sample = cells[::50]  # 50 cells across the whole range (diverging ones included)
    inproc, cmd, loop, cpu_in, cpu_loop = [], [], [], [], []
    diverged = 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_sweep(spec)
        inproc.append(time.perf_counter() - t0)
        cpu_in.append(time.process_time() - c0)
        diverged = sum(t["status"] == "diverged" for t in result["trials"])
        cmd.append(command(sgd_map_spec(), tmp))
        t0, c0 = time.perf_counter(), time.process_time()
        for lr, m in sample:
            textbook_cell(problem, problem.start, float(lr), float(m))
        loop.append((time.perf_counter() - t0) * len(cells) / len(sample))
        cpu_loop.append((time.process_time() - c0) * len(cells) / len(sample))
    med = statistics.median
    out: dict[str, Any] = {
        "sweep_in_process_s": med(inproc),
        "sweep_command_s": med(cmd),
        "textbook_loop_scaled_s": med(loop),
        "cpu_sweep_in_process_s": med(cpu_in),
        "cpu_textbook_loop_scaled_s": med(cpu_loop),
        "spread_in_process_s": spread(inproc),
        "spread_command_s": spread(cmd),
        "diverged_cells": float(diverged),
    }
    out["speedup"] = out["textbook_loop_scaled_s"] / out["sweep_in_process_s"]
    out["cpu_speedup"] = out["cpu_textbook_loop_scaled_s"] / out["cpu_sweep_in_process_s"]
    return out


MODEL_SWEEP: dict[str, Any] = {
    "problem": {"name": "mse_regression"},
    "epochs": 5,
    "device": "cpu",
    "runs": [{"label": "Adam", "optimizer": {"name": "Adam", "lr": 1e-3}}],
    "sweep": {"axes": {"optimizer.lr": {"log": [1e-4, 1e-1], "num": 4}}, "seeds": 2},
}


def pooled(workers: int, repeats: int, tmp: Path) -> float:
    """Median seconds for the 8-trial sweep through a JobManager with ``workers`` workers."""
    from optlab.jobs.job import Limits
    from optlab.jobs.manager import JobManager
    from optlab.store.db import Store

    manager = JobManager(
        Store(tmp / f"pool{workers}.db"),
        workers=workers,
        threads=1,
        limits=Limits(running_per_client=workers, queued_per_client=workers),
    )
    try:
        warm = {**MODEL_SWEEP, "epochs": 1, "sweep": {"axes": {"optimizer.lr": [1e-3]}}}
        warm_id = manager.submit(warm, client="warm")  # every worker warm before timing
        manager.wait(warm_id, 300)
        deadline = time.monotonic() + 300
        while len([w for w in manager.overview()["workers"] if w]) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        times = []
        for k in range(repeats):
            t0 = time.perf_counter()
            exp_id = manager.submit({**MODEL_SWEEP, "name": f"bench {k}"}, client="bench")
            assert manager.wait(exp_id, 600) == "finished"
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        manager.shutdown()


def bench_models(repeats: int, tmp: Path) -> dict[str, float]:
    from optlab.engine.sweep import run_sweep
    from optlab.spec import parse_spec

    spec = parse_spec(MODEL_SWEEP)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_sweep(spec, threads=1)
        times.append(time.perf_counter() - t0)
    one, two = pooled(1, repeats, tmp), pooled(2, repeats, tmp)
    return {
        "trials": 8.0,
        "sequential_in_process_s": statistics.median(times),
        "workers_1_s": one,
        "workers_2_s": two,
        "ratio_2_vs_1": two / one,
        "cores": float(os.cpu_count() or 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--only", choices=["basins", "sgd", "models"])
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "basins"):
            report["basin_map"] = bench_basins(args.repeats, Path(tmp))
            print(json.dumps({"basin_map": report["basin_map"]}), flush=True)
        if args.only in (None, "sgd"):
            report["lr_momentum_map"] = bench_sgd_map(args.repeats, Path(tmp))
            print(json.dumps({"lr_momentum_map": report["lr_momentum_map"]}), flush=True)
        if args.only in (None, "models") and not args.skip_models:
            report["model_sweep"] = bench_models(args.repeats, Path(tmp))
            print(json.dumps({"model_sweep": report["model_sweep"]}), flush=True)


if __name__ == "__main__":
    main()
