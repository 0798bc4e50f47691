"""Incremental reads of a stored experiment for the live view.

Each poll asks the store only for the steps a run gained since the last poll (one
range scan on the clustered ``steps`` table); a long finished run opened cold is
read as a decimated series instead.  A run with instruments (record_state,
record_sharpness) also reads the instrument chunks that cover those steps, one float64
blob per chunk and series.  Nothing here imports Streamlit: the caller
keeps the :class:`ExperimentData` between polls (in the session).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optlab.engine.records import ACTIVE_STATUSES
from optlab.ui.charts.series import RunSeries

#: runs longer than this are read cold as a decimated series, not step by step
FULL_READ_LIMIT = 20_000
DECIMATED_POINTS = 4_000


@dataclass
class ExperimentData:
    id: str
    spec: dict[str, Any]
    name: str = ""
    status: str = "queued"
    message: str = ""
    progress: float = 0.0
    device: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    client: str = ""
    source: str = ""
    runs: list[RunSeries] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES or any(r.active for r in self.runs)

    @property
    def is_surface(self) -> bool:
        return "steps" in self.spec and "epochs" not in self.spec

    def elapsed(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else time.time()
        return max(0.0, end - self.started)

    def eta(self) -> float | None:
        """Seconds left, from the progress so far (None before there is any)."""
        elapsed = self.elapsed()
        if elapsed is None or not self.active or self.progress <= 0.01:
            return None
        return elapsed * (1.0 - self.progress) / self.progress

    def samples_per_second(self) -> float | None:
        """Training examples processed per second, all runs together (models)."""
        elapsed = self.elapsed()
        batch = self.spec.get("batch_size")
        if not elapsed or not batch:
            return None
        steps = sum(r.last_step + 1 for r in self.runs)
        return steps * int(batch) / elapsed if steps else None


def total_steps(spec: dict[str, Any], steps_per_epoch: int | None = None) -> int | None:
    if spec.get("steps"):
        return int(spec["steps"])
    if spec.get("epochs") and steps_per_epoch:
        return int(spec["epochs"]) * steps_per_epoch
    return None


def refresh(store: Any, exp_id: str, held: ExperimentData | None) -> ExperimentData:
    """The experiment with every record stored so far (``held`` is updated in place)."""
    exp = store.get_experiment(exp_id)
    data = held if held is not None and held.id == exp_id else ExperimentData(exp_id, exp["spec"])
    for key in ("name", "status", "message", "device", "client", "source"):
        setattr(data, key, exp.get(key) or getattr(data, key))
    data.status = exp["status"]
    data.progress = float(exp.get("progress") or 0.0)
    data.created = float(exp.get("created") or 0.0)
    data.started, data.finished = exp.get("started"), exp.get("finished")
    while len(data.runs) < len(exp["runs"]):
        i = len(data.runs)
        data.runs.append(RunSeries(index=i, label=exp["runs"][i]["label"]))
    model = not data.is_surface
    specs = data.spec.get("runs") or []
    for meta, run in zip(exp["runs"], data.runs, strict=False):
        _update_meta(run, meta)
        spec = specs[run.index] if run.index < len(specs) else {}
        recorded = bool(spec.get("record_state") or spec.get("record_sharpness"))
        _read_steps(store, exp_id, run, int(meta.get("steps_done") or 0), recorded)
    if model:
        by_run: dict[int, list[dict[str, Any]]] = {}
        for row in store.epochs(exp_id):
            by_run.setdefault(int(row["run"]), []).append(row)
        for run in data.runs:
            run.epochs = by_run.get(run.index, [])
    return data


def _update_meta(run: RunSeries, meta: dict[str, Any]) -> None:
    run.label = meta["label"]
    run.status = meta["status"]
    run.message = meta.get("message") or ""
    run.diverged_at = meta.get("diverged_at")
    run.groups = list(meta.get("groups") or run.groups)
    run.final_loss = meta.get("final_loss")
    run.final_params = meta.get("final_params")


def _read_steps(
    store: Any, exp_id: str, run: RunSeries, steps_done: int, instruments: bool = False
) -> None:
    if run.last_step + 1 >= steps_done:
        return
    if run.n == 0 and steps_done > FULL_READ_LIMIT:
        rows = store.series(exp_id, run.index, max_points=DECIMATED_POINTS)
    else:
        rows = store.steps_since(exp_id, run.index, since=run.last_step + 1)
    if len(rows):
        run.append(
            rows.step,
            rows.loss,
            rows.lr,
            rows.params,
            rows.time,
            eval_params=rows.eval_params,
            effective_lr=rows.effective_lr,
            instruments=store.instruments(exp_id, run.index, rows.step) if instruments else None,
        )


def summary_rows(data: ExperimentData, threshold: float | None) -> list[dict[str, Any]]:
    """One row per run: the numbers a lecturer reads out after a comparison."""
    from optlab.ui.charts.series import best_loss, last_loss, steps_to, val_acc, wall_time

    rows = []
    classification = any(e.get("val_acc") is not None for r in data.runs for e in r.epochs)
    for run in data.runs:
        row: dict[str, Any] = {
            "run": run.label,
            "status": status_text(run, data.spec),
            "final loss": last_loss(run),
            "best loss": best_loss(run),
        }
        if threshold is not None:
            row[f"steps to ≤ {threshold:g}"] = steps_to(run, threshold)
        if not data.is_surface:
            losses = [e.get("val_loss") for e in run.epochs if e.get("val_loss") is not None]
            row["val loss"] = losses[-1] if losses else None
            if classification:
                acc = val_acc(run)
                row["val acc"] = None if acc is None else round(100 * acc, 2)
        row["wall time (s)"] = None if wall_time(run) is None else round(wall_time(run) or 0, 2)
        rows.append(row)
    return rows


def status_text(run: RunSeries, spec: dict[str, Any]) -> str:
    """``running · step 340/1000``, ``diverged at step 57``, ``failed: <reason>`` …"""
    total = spec.get("steps")
    if run.status == "running":
        done = run.last_step + 1
        text = f"running · step {done}/{total}" if total else f"running · step {done}"
        acc = [a for e in run.epochs if (a := e.get("val_acc")) is not None]
        return text + (f" · val acc {100 * acc[-1]:.1f} %" if acc else "")
    if run.status == "diverged":
        at = run.diverged_at if run.diverged_at is not None else run.last_step
        return f"diverged at step {at}"
    if run.status in ("failed", "interrupted") and run.message:
        return f"{run.status}: {run.message}"
    acc = [a for e in run.epochs if (a := e.get("val_acc")) is not None]
    if acc:
        return f"{run.status} · val acc {100 * acc[-1]:.1f} %"
    return run.status


def default_threshold(data: ExperimentData) -> float | None:
    """A threshold most runs cross: 1 % of the starting loss (rounded to a power of ten)."""
    starts = [r.loss[0] for r in data.runs if r.n and np.isfinite(r.loss[0])]
    if not starts:
        return None
    start = float(np.median(starts))
    if start <= 0:
        return None
    return 10.0 ** math.floor(math.log10(start * 0.01))
