"""What a running experiment emits: record batches, epoch metrics and run statuses.

The engine yields :class:`Batch` objects; workers pickle them to the job manager,
the store writes them, the CLI collects them into the result JSON (docs/architecture.md §5)
with :class:`ResultCollector`.  Arrays are numpy so a batch pickles small and fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

#: the status of a run; an experiment has the same ones except ``diverged``
RunStatusName = Literal[
    "queued", "running", "finished", "diverged", "failed", "cancelled", "interrupted"
]
RUN_STATUSES: tuple[RunStatusName, ...] = get_args(RunStatusName)
#: not ended yet: waiting for a worker, or running (runs and experiments alike)
ACTIVE_STATUSES: tuple[RunStatusName, ...] = ("queued", "running")
FINAL_STATES = ("finished", "diverged", "failed", "cancelled")


@dataclass
class StepChunk:
    """Consecutive steps ``start … start+n-1`` of one run.

    ``lr[i, g]`` is the learning rate of parameter group ``g`` used by update
    ``start+i`` (NaN while a frozen group has not joined the optimizer yet);
    ``params`` is the point where that update's gradient was taken (2-D only);
    ``eval_params`` the point ``optimizer.eval()`` gives at that moment, for optimizers
    with train/eval modes (Schedule-Free, SPlus), else None; ``effective_lr[i, g]`` the lr
    group ``g``'s update ``start+i`` really applied, for optimizers that scale the group lr
    internally (D-Adaptation, Prodigy, Schedule-Free warm-up, Ranger21), else None.
    """

    run: int
    start: int
    loss: np.ndarray
    lr: np.ndarray
    grad_norm: np.ndarray
    time: np.ndarray
    params: np.ndarray | None = None
    eval_params: np.ndarray | None = None
    effective_lr: np.ndarray | None = None
    #: ``record_state`` on a surface: each state tensor's value after the update, (n, 2),
    #: and the update itself (params after − params before), (n, 2)
    state: dict[str, np.ndarray] | None = None
    update: np.ndarray | None = None
    #: ``record_state`` on a surface: the gradient update t used (after clipping), (n, 2)
    grad: np.ndarray | None = None
    #: ``record_state`` on a model: {group: {state name: L2 norm after the update, (n,)}}
    state_norms: dict[str, dict[str, np.ndarray]] | None = None
    #: ``record_sharpness``: λ_max at the point of the update, NaN between measurements
    sharpness: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.loss.shape[0])


@dataclass
class EpochMetrics:
    run: int
    epoch: int
    train_loss: float
    val_loss: float
    val_acc: float | None
    time: float


@dataclass
class RunStatus:
    """A run changed state.  ``groups`` names its parameter groups in optimizer order."""

    run: int
    status: RunStatusName
    message: str = ""
    diverged_at: int | None = None
    final_loss: float | None = None
    final_params: list[float] | None = None
    groups: list[str] | None = None
    steps_done: int = 0


@dataclass
class Batch:
    chunks: list[StepChunk] = field(default_factory=list)
    epochs: list[EpochMetrics] = field(default_factory=list)
    statuses: list[RunStatus] = field(default_factory=list)
    #: fraction of the whole experiment done, 0…1
    progress: float = 0.0

    def empty(self) -> bool:
        return not (self.chunks or self.epochs or self.statuses)


def _num(x: float) -> float | None:
    """JSON-safe float: NaN/inf become None."""
    x = float(x)
    return x if math.isfinite(x) else None


def _lr_rows(lr: np.ndarray) -> list[list[float | None]]:
    """Per-step lists of per-group values, JSON-safe."""
    return [[_num(v) for v in step] for step in lr.reshape(len(lr), -1)] if len(lr) else []


@dataclass
class _RunAccumulator:
    label: str
    status: RunStatusName = "queued"
    message: str = ""
    diverged_at: int | None = None
    final_loss: float | None = None
    final_params: list[float] | None = None
    groups: list[str] = field(default_factory=list)
    chunks: list[StepChunk] = field(default_factory=list)
    epochs: list[EpochMetrics] = field(default_factory=list)

    def concat(self, name: str) -> np.ndarray:
        parts = [getattr(c, name) for c in sorted(self.chunks, key=lambda c: c.start)]
        parts = [p for p in parts if p is not None]
        return np.concatenate(parts) if parts else np.zeros((0,))

    def concat_keyed(self, get: Any, shape: tuple[int, ...] = ()) -> dict[Any, np.ndarray]:
        """Per-key series from dicts ``get(chunk)`` (None: not recorded), NaN where a chunk
        lacks a key (a state tensor the optimizer creates later)."""
        chunks = sorted(self.chunks, key=lambda c: c.start)
        keys = list(dict.fromkeys(k for c in chunks for k in (get(c) or {})))
        return {
            key: np.concatenate(
                [(get(c) or {}).get(key, np.full((len(c), *shape), np.nan)) for c in chunks]
            )
            for key in keys
        }


class ResultCollector:
    """Collects batches into the result JSON shape (docs/architecture.md §5)."""

    def __init__(self, labels: list[str]) -> None:
        self.runs = [_RunAccumulator(label) for label in labels]

    def add(self, batch: Batch) -> None:
        for chunk in batch.chunks:
            self.runs[chunk.run].chunks.append(chunk)
        for metrics in batch.epochs:
            self.runs[metrics.run].epochs.append(metrics)
        for st in batch.statuses:
            acc = self.runs[st.run]
            acc.status, acc.message = st.status, st.message
            acc.diverged_at = st.diverged_at if st.diverged_at is not None else acc.diverged_at
            if st.final_loss is not None:
                acc.final_loss = st.final_loss
            if st.final_params is not None:
                acc.final_params = st.final_params
            if st.groups is not None:
                acc.groups = st.groups

    def run_dicts(self, lr_only: bool = False) -> list[dict[str, Any]]:
        out = []
        for acc in self.runs:
            lr = acc.concat("lr")
            row: dict[str, Any] = {"label": acc.label, "status": acc.status, "groups": acc.groups}
            row["lr"] = _lr_rows(lr)
            effective = acc.concat("effective_lr")
            if effective.size and not lr_only:
                row["effective_lr"] = _lr_rows(effective)
            if not lr_only:
                loss = acc.concat("loss")
                row["loss"] = [_num(v) for v in loss]
                params = acc.concat("params")
                if params.size:
                    row["params"] = params.reshape(-1, 2).tolist()
                eval_params = acc.concat("eval_params")
                if eval_params.size:
                    row["eval_params"] = eval_params.reshape(-1, 2).tolist()
                row["grad_norm"] = [_num(v) for v in acc.concat("grad_norm")]
                row["final"] = {
                    "loss": _num(acc.final_loss) if acc.final_loss is not None else None
                }
                if acc.final_params is not None:
                    row["final"]["params"] = acc.final_params
                row.update(_instrument_rows(acc))
                if acc.epochs:
                    row["epochs"] = [
                        {
                            "epoch": m.epoch,
                            "train_loss": _num(m.train_loss),
                            "val_loss": _num(m.val_loss),
                            **({"val_acc": _num(m.val_acc)} if m.val_acc is not None else {}),
                        }
                        for m in acc.epochs
                    ]
                if acc.diverged_at is not None:
                    row["diverged_at"] = acc.diverged_at
                if acc.message:
                    row["message"] = acc.message
            out.append(row)
        return out


def _instrument_rows(acc: _RunAccumulator) -> dict[str, Any]:
    """``state``, ``update`` and ``grad`` (surfaces), ``state_norms`` (models), ``sharpness``."""
    out: dict[str, Any] = {}
    if any(c.update is not None for c in acc.chunks):
        state = acc.concat_keyed(lambda c: c.state, (2,))
        out["state"] = {k: _lr_rows(v) for k, v in state.items()}
        out["update"] = _lr_rows(acc.concat("update"))
        if any(c.grad is not None for c in acc.chunks):
            out["grad"] = _lr_rows(acc.concat("grad"))
    if any(c.state_norms is not None for c in acc.chunks):
        groups = list(dict.fromkeys(g for c in acc.chunks for g in (c.state_norms or {})))
        out["state_norms"] = {
            g: {
                k: [_num(x) for x in v]
                for k, v in acc.concat_keyed(lambda c, g=g: (c.state_norms or {}).get(g)).items()
            }
            for g in groups
        }
    if any(c.sharpness is not None for c in acc.chunks):
        out["sharpness"] = [_num(v) for v in acc.concat("sharpness")]
    return out
