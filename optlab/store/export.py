"""Export a stored experiment (result JSON, CSV) and import one from a result JSON.

The result JSON is rebuilt by feeding the stored records through the engine's own
:class:`~optlab.engine.records.ResultCollector`, so a stored experiment exports exactly
what ``run_experiment`` returned for it (docs/architecture.md §5).

The functions take the store as a :class:`StoredExperiments` reader or an
:class:`ExperimentWriter`; this module never imports :mod:`optlab.store.db`, whose
``Store`` offers them as methods (``store.result_json(exp_id)``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from optlab.engine.records import Batch, EpochMetrics, ResultCollector, RunStatus, StepChunk
from optlab.store.owner import new_owner, release_owner
from optlab.store.values import StepRows


class StoredExperiments(Protocol):
    """What exporting reads from a store."""

    def get_experiment(self, exp_id: str) -> dict[str, Any]: ...

    def runs(self, exp_id: str) -> list[dict[str, Any]]: ...

    def steps_since(
        self, exp_id: str, run: int, since: int = 0, limit: int | None = None
    ) -> StepRows: ...

    def epochs(self, exp_id: str, run: int | None = None) -> list[dict[str, Any]]: ...

    def instruments(
        self, exp_id: str, run: int, steps: np.ndarray | None = None
    ) -> dict[str, Any]: ...


class ExperimentWriter(Protocol):
    """What storing a result JSON writes to a store."""

    def create_experiment(
        self,
        spec: Any,
        *,
        client: str = "",
        status: str = "queued",
        source: str = "ui",
        owner: str = "",
        device: str | None = None,
    ) -> str: ...

    def write_batch(self, exp_id: str, batch: Batch) -> None: ...

    def set_status(
        self,
        exp_id: str,
        status: str,
        message: str = "",
        *,
        runs_status: str | None = None,
        runs_message: str | None = None,
        device: str | None = None,
    ) -> None: ...


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def stored_batch(store: StoredExperiments, exp_id: str) -> Batch:
    """Everything stored about an experiment as one :class:`Batch` (statuses last)."""
    batch = Batch()
    runs = store.runs(exp_id)
    for run in runs:
        rows = store.steps_since(exp_id, run["index"])
        if len(rows):
            batch.chunks.append(
                StepChunk(
                    run["index"],
                    int(rows.step[0]),
                    rows.loss,
                    rows.lr,
                    rows.grad_norm,
                    rows.time,
                    rows.params,
                    eval_params=rows.eval_params,
                    effective_lr=rows.effective_lr,
                    **store.instruments(exp_id, run["index"], rows.step),
                )
            )
    for m in store.epochs(exp_id):
        batch.epochs.append(
            EpochMetrics(
                m["run"],
                m["epoch"],
                _nan(m["train_loss"]),
                _nan(m["val_loss"]),
                m["val_acc"],
                _nan(m["time"]),
            )
        )
    for run in runs:
        batch.statuses.append(
            RunStatus(
                run["index"],
                run["status"],
                run["message"],
                run["diverged_at"],
                run["final_loss"],
                run["final_params"],
                run["groups"],
                run["steps_done"],
            )
        )
    return batch


def result_json(store: StoredExperiments, exp_id: str) -> dict[str, Any]:
    exp = store.get_experiment(exp_id)
    collector = ResultCollector([r["label"] for r in exp["runs"]])
    collector.add(stored_batch(store, exp_id))
    out: dict[str, Any] = {"spec": exp["spec"]}
    if exp["device"] is not None:
        out["device"] = exp["device"]
    out["runs"] = collector.run_dicts()
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def export_csv(store: StoredExperiments, exp_id: str, folder: Path) -> list[Path]:
    """``spec.json``, ``runs.csv``, ``<i>_<label>.csv`` per run and ``epochs.csv`` if any."""
    folder.mkdir(parents=True, exist_ok=True)
    exp = store.get_experiment(exp_id)
    written = [folder / "spec.json"]
    written[0].write_text(json.dumps(exp["spec"], indent=2) + "\n", encoding="utf-8")
    summary = folder / "runs.csv"
    with open(summary, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["run", "label", "status", "steps", "final_loss", "diverged_at", "message"])
        for r in exp["runs"]:
            out.writerow(
                [
                    r["index"],
                    r["label"],
                    r["status"],
                    r["steps_done"],
                    _cell(r["final_loss"]),
                    _cell(r["diverged_at"]),
                    r["message"],
                ]
            )
    written.append(summary)
    for r in exp["runs"]:
        rows = store.steps_since(exp_id, r["index"])
        path = folder / f"{r['index']}_{_slug(r['label'])}.csv"
        groups = r["groups"] or [f"group{g}" for g in range(rows.lr.shape[1])]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            head = ["step", "loss", *[f"lr[{g}]" for g in groups], "grad_norm", "time"]
            if rows.params is not None:
                head += ["x", "y"]
            if rows.eval_params is not None:
                head += ["eval_x", "eval_y"]
            if rows.effective_lr is not None:
                head += [f"effective_lr[{g}]" for g in groups]
            names, columns = _instrument_columns(
                store.instruments(exp_id, r["index"], rows.step) if len(rows) else {}
            )
            out.writerow(head + names)
            for i in range(len(rows)):
                line = [
                    int(rows.step[i]),
                    _cell(rows.loss[i]),
                    *map(_cell, rows.lr[i]),
                    _cell(rows.grad_norm[i]),
                    _cell(rows.time[i]),
                ]
                for extra in (rows.params, rows.eval_params, rows.effective_lr):
                    if extra is not None:
                        line += map(_cell, extra[i])
                out.writerow(line + [_cell(c[i]) for c in columns])
        written.append(path)
    epochs = store.epochs(exp_id)
    if epochs:
        path = folder / "epochs.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["run", "label", "epoch", "train_loss", "val_loss", "val_acc", "time"])
            labels = {r["index"]: r["label"] for r in exp["runs"]}
            for m in epochs:
                out.writerow(
                    [
                        m["run"],
                        labels[m["run"]],
                        m["epoch"],
                        _cell(m["train_loss"]),
                        _cell(m["val_loss"]),
                        _cell(m["val_acc"]),
                        _cell(m["time"]),
                    ]
                )
        written.append(path)
    return written


def _instrument_columns(fields: dict[str, Any]) -> tuple[list[str], list[np.ndarray]]:
    """A run's instrument series as CSV columns: ``state.<name>.x``/``.y``, ``update.x``/``.y``,
    ``grad.x``/``.y``, ``state_norms.<group>.<name>``, ``sharpness``; none if not recorded."""
    names: list[str] = []
    columns: list[np.ndarray] = []

    def point(name: str, values: np.ndarray) -> None:
        names.extend((f"{name}.x", f"{name}.y"))
        columns.extend((values[:, 0], values[:, 1]))

    for k, v in (fields.get("state") or {}).items():
        point(f"state.{k}", v)
    for key in ("update", "grad"):
        if fields.get(key) is not None:
            point(key, fields[key])
    for g, series in (fields.get("state_norms") or {}).items():
        for k, v in series.items():
            names.append(f"state_norms.{g}.{k}")
            columns.append(v)
    if fields.get("sharpness") is not None:
        names.append("sharpness")
        columns.append(fields["sharpness"])
    return names, columns


def _cell(x: Any) -> str:
    """CSV cell: empty for missing/NaN, ``repr`` for floats (round-trips exactly)."""
    if x is None:
        return ""
    if isinstance(x, float | np.floating):
        return "" if math.isnan(x) else repr(float(x))
    return str(x)


def _arr(values: list[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _rows(values: list[list[Any]], n: int) -> np.ndarray:
    """Per-step lists (lr per group, a point) as an (n, k) array; None becomes NaN."""
    return np.array(
        [[math.nan if v is None else v for v in row] for row in values], dtype=np.float64
    ).reshape(n, -1)


def _instrument_fields(run: dict[str, Any], n: int) -> dict[str, Any]:
    """A result run's ``state``/``update``/``grad``/``state_norms``/``sharpness`` as
    StepChunk fields (None becomes NaN)."""
    out: dict[str, Any] = {}
    if run.get("state") is not None:
        out["state"] = {k: _rows(v, n) for k, v in run["state"].items()}
    for key in ("update", "grad"):
        if run.get(key) is not None:
            out[key] = _rows(run[key], n)
    if run.get("state_norms") is not None:
        out["state_norms"] = {
            g: {k: _arr(v) for k, v in names.items()} for g, names in run["state_norms"].items()
        }
    if run.get("sharpness") is not None:
        out["sharpness"] = _arr(run["sharpness"])
    return out


def result_batch(result: dict[str, Any]) -> Batch:
    """A result JSON back as one :class:`Batch`; None values become NaN."""
    batch = Batch(progress=1.0)
    for i, run in enumerate(result["runs"]):
        loss = _arr(run.get("loss", []))
        n = len(loss)
        if n:
            lr = _rows(run.get("lr", []), n)
            params = run.get("params")
            eval_params = run.get("eval_params")
            batch.chunks.append(
                StepChunk(
                    i,
                    0,
                    loss,
                    lr,
                    _arr(run.get("grad_norm", [None] * n)),
                    np.full(n, math.nan),
                    _rows(params, n) if params else None,
                    eval_params=_rows(eval_params, n) if eval_params else None,
                    effective_lr=(
                        _rows(run["effective_lr"], n) if run.get("effective_lr") else None
                    ),
                    **_instrument_fields(run, n),
                )
            )
        for m in run.get("epochs", []):
            batch.epochs.append(
                EpochMetrics(
                    i,
                    m["epoch"],
                    _nan(m["train_loss"]),
                    _nan(m["val_loss"]),
                    m.get("val_acc"),
                    math.nan,
                )
            )
        final = run.get("final") or {}
        batch.statuses.append(
            RunStatus(
                i,
                run["status"],
                run.get("message", ""),
                run.get("diverged_at"),
                final.get("loss"),
                final.get("params"),
                run.get("groups", []),
                n,
            )
        )
    return batch


def store_result(
    store: ExperimentWriter, spec: Any, result: dict[str, Any], *, source: str = "cli"
) -> str:
    """Store a finished experiment given as its result JSON; returns its id."""
    statuses = [r["status"] for r in result["runs"]]
    status = "cancelled" if statuses and all(s == "cancelled" for s in statuses) else "finished"
    owner = new_owner()  # a manager starting meanwhile must not call it interrupted
    try:
        exp_id = store.create_experiment(
            spec, status="running", source=source, owner=owner, device=result.get("device")
        )
        store.write_batch(exp_id, result_batch(result))
        store.set_status(exp_id, status)
    finally:
        release_owner(owner)
    return exp_id
