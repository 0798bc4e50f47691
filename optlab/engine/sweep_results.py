"""What one sweep trial reports, and a trial run as the single experiment it stands for.

:class:`TrialResult` holds the numbers of the result JSON's ``trials`` entries; trials
that cannot share a batched path run through :func:`run_single`, which is exactly
``optlab run`` of the trial's experiment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from optlab.engine.experiment import Experiment
from optlab.engine.records import ResultCollector
from optlab.engine.sweep_plan import (
    Trial,
)
from optlab.spec import ExperimentSpec

POLL_SECONDS = 0.1


OnResult = Callable[["TrialResult"], None]


ShouldStop = Callable[[], bool]


def row_list(idx: np.ndarray) -> list[int]:
    return [int(i) for i in idx]


def finite_or_none(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


@dataclass
class TrialResult:
    index: int
    run: int
    label: str
    values: dict[str, Any]
    seed: int
    phase: str
    status: str  # finished | diverged | failed | cancelled
    diverged_at: int | None
    final_loss: float | None  # surfaces: f at the final point; models: last epoch's val loss
    best_loss: float | None
    steps_to_threshold: int | None  # first t with loss[t] <= threshold (t = steps: the final)
    final_params: list[float] | None  # surfaces
    val_acc: float | None = None
    train_loss: float | None = None
    epochs: list[dict[str, Any]] | None = None  # models: per-epoch records as in run results
    message: str = ""

    @classmethod
    def of(cls, trial: Trial, status: str, **numbers: Any) -> TrialResult:
        fields: dict[str, Any] = {
            "diverged_at": None,
            "final_loss": None,
            "best_loss": None,
            "steps_to_threshold": None,
            "final_params": None,
        }
        fields.update(numbers)
        return cls(
            trial.index, trial.run, trial.label, dict(trial.values), trial.seed, trial.phase,
            status, **fields,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """One entry of the result JSON's ``trials`` (non-finite numbers are null)."""
        out: dict[str, Any] = {
            "index": self.index,
            "run": self.label,
            "values": jsonable(self.values),
            "seed": self.seed,
            "phase": self.phase,
            "status": self.status,
            "diverged_at": self.diverged_at,
            "final_loss": finite_or_none(self.final_loss),
            "best_loss": finite_or_none(self.best_loss),
            "steps_to_threshold": self.steps_to_threshold,
        }
        if self.final_params is not None:
            out["final_params"] = [finite_or_none(v) for v in self.final_params]
        if self.epochs is not None:
            out["val_acc"] = finite_or_none(self.val_acc)
            out["train_loss"] = finite_or_none(self.train_loss)
            out["epochs"] = self.epochs
        if self.message:
            out["message"] = self.message
        return out


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Axis values as JSON gives them back (a start point's tuple as a list)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def summarize_run(run: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    """The trial numbers of one run of a result JSON (``run_experiment``'s ``runs[i]``)."""
    losses = [v for v in run.get("loss", []) if v is not None]
    final = run.get("final", {}).get("loss")
    series = [*run.get("loss", []), final if run["status"] == "finished" else None]
    best = [v for v in [*losses, final if run["status"] == "finished" else None] if v is not None]
    hit = None
    if threshold is not None:
        hit = next((t for t, v in enumerate(series) if v is not None and v <= threshold), None)
    return {
        "diverged_at": run.get("diverged_at"),
        "final_loss": final if run["status"] == "finished" else None,
        "best_loss": min(best) if best else None,
        "steps_to_threshold": hit,
        "final_params": run.get("final", {}).get("params"),
    }


def _model_numbers(run: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    epochs = run.get("epochs", [])
    last = epochs[-1] if epochs else {}
    vals = [e["val_loss"] for e in epochs if e.get("val_loss") is not None]
    hit = None
    if threshold is not None:
        hit = next(
            (t for t, v in enumerate(run.get("loss", [])) if v is not None and v <= threshold),
            None,
        )
    return {
        "diverged_at": run.get("diverged_at"),
        "final_loss": run.get("final", {}).get("loss"),
        "best_loss": min(vals) if vals else None,
        "steps_to_threshold": hit,
        "final_params": None,
        "val_acc": last.get("val_acc"),
        "train_loss": last.get("train_loss"),
        "epochs": epochs,
    }


def run_single(
    spec: ExperimentSpec, trial: Trial, should_stop: ShouldStop | None
) -> tuple[dict[str, Any], bool]:
    """``optlab run`` of the trial's experiment, in process; (its run dict, stopped)."""
    exp_spec = trial.experiment(spec)
    exp = Experiment(exp_spec)
    collector = ResultCollector([r.label for r in exp_spec.runs])
    stopped = False
    last = time.perf_counter()
    for batch in exp.batches():
        collector.add(batch)
        now = time.perf_counter()
        if should_stop is not None and now - last >= POLL_SECONDS:
            last = now
            if should_stop():
                exp.cancel()
                stopped = True
    return collector.run_dicts()[0], stopped


def sweep_threshold(spec: ExperimentSpec) -> float | None:
    return spec.sweep.threshold if spec.sweep is not None else None


def single_result(spec: ExperimentSpec, trial: Trial, run: dict[str, Any]) -> TrialResult:
    numbers = (
        summarize_run(run, sweep_threshold(spec))
        if spec.is_surface
        else _model_numbers(run, sweep_threshold(spec))
    )
    return TrialResult.of(trial, run["status"], message=run.get("message", ""), **numbers)
