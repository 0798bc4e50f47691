"""What the charts draw: one :class:`RunSeries` per run, filled from the store.

Kept free of Streamlit and of the store's own types so the figure builders and the
summary table are plain functions of numpy arrays (easy to test, easy to reuse for
comparing two stored experiments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optlab.engine.records import ACTIVE_STATUSES


@dataclass
class RunSeries:
    """The records of one run received so far (steps 0 … n-1)."""

    index: int
    label: str
    status: str = "queued"
    message: str = ""
    diverged_at: int | None = None
    groups: list[str] = field(default_factory=list)
    step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lr: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))
    params: np.ndarray | None = None  # (n, 2) for 2-D problems
    #: (n, 2): the averaged point (optimizers with train/eval modes, 2-D problems)
    eval_params: np.ndarray | None = None
    #: (n, groups): the lr each group's update applied (optimizers that scale the group lr)
    effective_lr: np.ndarray | None = None
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    epochs: list[dict[str, Any]] = field(default_factory=list)
    final_loss: float | None = None
    final_params: list[float] | None = None
    total_steps: int | None = None
    color_index: int | None = None
    #: record_state / record_sharpness, aligned to ``step``: ``grad``, ``update`` (n, 2),
    #: ``state`` {name: (n, 2)}, ``state_norms`` {group: {name: (n,)}}, ``sharpness`` (n,)
    instruments: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.loss.shape[0])

    @property
    def last_step(self) -> int:
        """The last step held (-1 when none); steps may be thinned for long runs."""
        return int(self.step[-1]) if self.step.size else -1

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def color_at(self) -> int:
        return self.index if self.color_index is None else self.color_index

    def path(self) -> np.ndarray:
        """The trajectory as (k, 2) points, including the final point once finished."""
        return self._path(self.params)

    def eval_path(self) -> np.ndarray:
        """The averaged points as (k, 2), ending at the final point (the run is evaluated
        there, in eval mode) once finished; empty for optimizers without train/eval modes."""
        return self._path(self.eval_params)

    def _path(self, pts: np.ndarray | None) -> np.ndarray:
        if pts is None or pts.size == 0:
            return np.zeros((0, 2))
        if self.final_params is not None and not self.active:
            return np.vstack([pts, np.asarray(self.final_params, dtype=np.float64)[None, :]])
        return pts

    def append(
        self,
        step: np.ndarray,
        loss: np.ndarray,
        lr: np.ndarray,
        params: np.ndarray | None = None,
        time: np.ndarray | None = None,
        eval_params: np.ndarray | None = None,
        effective_lr: np.ndarray | None = None,
        instruments: dict[str, Any] | None = None,
    ) -> None:
        """Add steps received since the last poll (ignores steps already held)."""
        step = np.asarray(step, dtype=np.int64)
        keep = step > self.last_step
        if not keep.any():
            return
        if instruments or self.instruments:
            self.instruments = _append_fields(self.instruments, instruments or {}, self.n, keep)
        self.step = np.concatenate([self.step, step[keep]])
        self.loss = np.concatenate([self.loss, np.asarray(loss, dtype=np.float64)[keep]])
        lr = np.asarray(lr, dtype=np.float64).reshape(len(step), -1)[keep]
        self.lr = lr if self.lr.shape[0] == 0 else _stack_padded(self.lr, lr)
        if params is not None:
            pts = np.asarray(params, dtype=np.float64).reshape(len(step), 2)[keep]
            self.params = pts if self.params is None else np.concatenate([self.params, pts])
        if eval_params is not None:
            pts = np.asarray(eval_params, dtype=np.float64).reshape(len(step), 2)[keep]
            held = self.eval_params
            self.eval_params = pts if held is None else np.concatenate([held, pts])
        if effective_lr is not None:
            eff = np.asarray(effective_lr, dtype=np.float64).reshape(len(step), -1)[keep]
            held = self.effective_lr
            self.effective_lr = eff if held is None else _stack_padded(held, eff)
        if time is not None:
            t = np.asarray(time, dtype=np.float64)[keep]
            self.time = np.concatenate([self.time, t])


def _append_fields(
    held: dict[str, Any], new: dict[str, Any], n_held: int, keep: np.ndarray
) -> dict[str, Any]:
    """Nested instrument series ``held`` (``n_held`` rows) then the kept rows of ``new``;
    a key only one side has is NaN on the other (a state tensor created later)."""
    out: dict[str, Any] = {}
    n_new = int(keep.sum())
    for key in dict.fromkeys([*held, *new]):
        a, b = held.get(key), new.get(key)
        sample = a if a is not None else b
        if isinstance(sample, dict):
            out[key] = _append_fields(a or {}, b or {}, n_held, keep)
            continue
        shape = np.asarray(sample).shape[1:]
        a = np.full((n_held, *shape), np.nan) if a is None else a
        b = np.full((n_new, *shape), np.nan) if b is None else np.asarray(b)[keep]
        out[key] = np.concatenate([a, b])
    return out


def _stack_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of ``a`` then ``b``; the narrower one is padded with NaN columns."""
    width = max(a.shape[1], b.shape[1])

    def pad(x: np.ndarray) -> np.ndarray:
        extra = np.full((x.shape[0], width - x.shape[1]), np.nan)
        return np.hstack([x, extra]) if extra.shape[1] else x

    return np.vstack([pad(a), pad(b)])


def best_loss(run: RunSeries) -> float | None:
    finite = run.loss[np.isfinite(run.loss)]
    values = list(finite)
    if run.final_loss is not None and np.isfinite(run.final_loss):
        values.append(run.final_loss)
    return float(min(values)) if values else None


def last_loss(run: RunSeries) -> float | None:
    if run.final_loss is not None and np.isfinite(run.final_loss):
        return float(run.final_loss)
    finite = run.loss[np.isfinite(run.loss)]
    return float(finite[-1]) if finite.size else None


def steps_to(run: RunSeries, threshold: float) -> int | None:
    """The first step whose loss is at or below ``threshold`` (None: never reached)."""
    hits = np.nonzero(run.loss <= threshold)[0]
    return int(run.step[hits[0]]) if hits.size else None


def val_acc(run: RunSeries) -> float | None:
    accs = [a for e in run.epochs if (a := e.get("val_acc")) is not None]
    return float(accs[-1]) if accs else None


def wall_time(run: RunSeries) -> float | None:
    return float(run.time[-1]) if run.time.size else None
