"""What ``record_state`` costs (issue 12): the engine, the store and the dashboard's reads.

The six-optimizer Rosenbrock experiment (SGD, SGD momentum, Nesterov, Adagrad, RMSprop,
Adam; 3000 steps), each measured with and without ``record_state`` in the same run:

1. engine + store: every record batch of ``Experiment.batches`` written to a fresh
   SQLite file, as a worker and the manager do;
2. the live view's cold read of the finished experiment (``live_data.refresh``), and
   building the contour player's payload (arrows + step inspector) from it.

Run: ``python benchmarks/bench_instruments.py [--repeats 5] [--steps 3000]``.  Prints
medians and the ratio with / without, measured in the same run (lower is better).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from optlab.engine.experiment import Experiment
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.ui.charts import figures
from optlab.ui.charts.player import build_player
from optlab.ui.live import live_data

SIX = [
    {"name": "SGD", "lr": 1e-3},
    {"name": "SGD", "lr": 1e-3, "momentum": 0.9},
    {"name": "SGD", "lr": 1e-3, "momentum": 0.9, "nesterov": True},
    {"name": "Adagrad", "lr": 0.1},
    {"name": "RMSprop", "lr": 1e-2},
    {"name": "Adam", "lr": 0.05},
]


def spec(steps: int, record: bool) -> Any:
    runs = [
        {"label": f"r{i}", "optimizer": o, **({"record_state": True} if record else {})}
        for i, o in enumerate(SIX)
    ]
    return parse_spec({"problem": {"name": "rosenbrock"}, "steps": steps, "runs": runs})


def store_run(folder: Path, steps: int, record: bool) -> tuple[float, Store, str]:
    s = spec(steps, record)
    store = Store(folder / f"{record}-{time.perf_counter_ns()}.db")
    t0 = time.perf_counter()
    exp_id = store.create_experiment(s, status="running")
    for batch in Experiment(s).batches(flush_seconds=0.05):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished")
    return time.perf_counter() - t0, store, exp_id


def read_and_payload(store: Store, exp_id: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    data = live_data.refresh(store, exp_id, None)
    t1 = time.perf_counter()
    parsed = parse_spec(data.spec)
    problem = parsed.problem.build()
    fig = figures.contour_figure(problem, data.runs, max_points=figures.MAX_POINTS)
    build_player(
        fig,
        data.runs,
        ident=exp_id,
        group="bench",
        live=False,
        max_points=figures.MAX_POINTS,
        run_specs=list(parsed.runs),
    )
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for record in (False, True):  # interleaved: both see the same machine load
                tag = "with" if record else "without"
                total, store, exp_id = store_run(Path(tmp), args.steps, record)
                read, payload = read_and_payload(store, exp_id)
                store.close()
                times.setdefault(f"engine + store {tag}", []).append(total)
                times.setdefault(f"cold read {tag}", []).append(read)
                times.setdefault(f"contour + player payload {tag}", []).append(payload)
    print(f"6 runs x {args.steps} steps, medians of {args.repeats}; ratio = with / without")
    for part in ("engine + store", "cold read", "contour + player payload"):
        off = statistics.median(times[f"{part} without"])
        on = statistics.median(times[f"{part} with"])
        print(f"{part:28s} without {off:7.3f} s   with {on:7.3f} s   ratio {on / off:5.2f}x")


if __name__ == "__main__":
    main()
