"""Small value types of the run store: statuses, spec keys, versions, step rows.

Nothing here touches the database; :mod:`optlab.store.db` and its readers and
exporters share these.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from optlab.engine.records import FINAL_STATES, RUN_STATUSES

#: experiment statuses: a run's except ``diverged`` (an experiment whose runs diverge
#: still finishes); ``interrupted`` ones can be resumed
EXPERIMENT_STATUSES = tuple(s for s in RUN_STATUSES if s != "diverged")
#: the statuses that end an experiment (they stamp its ``finished`` time)
EXPERIMENT_FINAL_STATUSES = tuple(s for s in FINAL_STATES if s != "diverged")


def spec_key(spec_dict: dict[str, Any]) -> str:
    """Canonical hash of a validated spec: equal specs, equal keys (reattach)."""
    text = json.dumps(spec_dict, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every experiment."""
    import platform

    out = {"python": platform.python_version()}
    for dist in ("torch", "pytorch_optimizer", "numpy", "optlab"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    if out["optlab"] == "unknown":  # a source checkout: read pyproject.toml
        import tomllib

        with contextlib.suppress(OSError, KeyError, ValueError):
            pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
            out["optlab"] = tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"]
    return out


@dataclass
class StepRows:
    """Per-step records of one run, as numpy arrays (NaN where nothing was stored)."""

    step: np.ndarray
    loss: np.ndarray
    lr: np.ndarray  # (n, groups)
    grad_norm: np.ndarray
    time: np.ndarray
    params: np.ndarray | None  # (n, 2) on 2-D problems
    #: (n, 2): the averaged point of optimizers with train/eval modes, on 2-D problems
    eval_params: np.ndarray | None = None
    #: (n, groups): the lr each group's update applied, for optimizers that scale it
    effective_lr: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.step.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly lists (NaN becomes None)."""

        def clean(a: np.ndarray) -> list[Any]:
            return (
                [None if v != v else v for v in a.tolist()]
                if a.ndim == 1
                else [clean(r) for r in a]
            )

        out = {
            "step": self.step.tolist(),
            "loss": clean(self.loss),
            "lr": clean(self.lr),
            "grad_norm": clean(self.grad_norm),
            "time": clean(self.time),
        }
        for key in ("params", "eval_params", "effective_lr"):
            value = getattr(self, key)
            if value is not None:
                out[key] = clean(value)
        return out


#: the ``steps`` columns :func:`rows_to_steps` reads, in its order
STEP_READ = "step, loss, lr, x, y, grad_norm, time, eval_x, eval_y, effective_lr"


def _points(x: tuple[Any, ...], y: tuple[Any, ...]) -> np.ndarray | None:
    if all(v is None for v in x):
        return None
    return np.array([x, y], dtype=np.float64).T.copy()


def _lr_blobs(blobs: tuple[bytes | None, ...]) -> np.ndarray:
    width = max(len(b) for b in blobs if b is not None) // 8
    nan_row = np.full(width, np.nan).astype("<f8").tobytes()
    joined = b"".join(nan_row if b is None else b for b in blobs)
    return np.frombuffer(joined, dtype="<f8").reshape(len(blobs), -1).astype(np.float64)


def rows_to_steps(rows: list[tuple[Any, ...]]) -> StepRows:
    """Rows of :data:`STEP_READ` as arrays; columns NULL in every row become None."""
    n = len(rows)
    if not n:
        empty = np.zeros(0)
        return StepRows(np.zeros(0, dtype=np.int64), empty, np.zeros((0, 1)), empty, empty, None)
    step, loss, lr, x, y, grad, tm, ex, ey, eff = zip(*rows, strict=True)
    return StepRows(
        step=np.array(step, dtype=np.int64),
        loss=np.array(loss, dtype=np.float64),
        lr=_lr_blobs(lr),
        grad_norm=np.array(grad, dtype=np.float64),
        time=np.array(tm, dtype=np.float64),
        params=_points(x, y),
        eval_params=_points(ex, ey),
        effective_lr=None if all(b is None for b in eff) else _lr_blobs(eff),
    )


class UnknownExperiment(KeyError):
    def __str__(self) -> str:
        return f"no experiment {self.args[0]!r} in the run store"
