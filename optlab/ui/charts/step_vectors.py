"""The per-step vectors and the inspector the contour's player draws (issue 12 §2).

For runs with ``record_state``, the player's payload gets, per shown step, the gradient
the update used, the update itself and the momentum-like buffer (``momentum_buffer``, else
Adam's ``exp_avg``), so ``instruments.js`` draws them as arrows at the point of the shown step,
and the step inspector's lines and values (:mod:`optlab.ui.charts.step_inspector`), which
it fills in at that step.  Everything travels once per chart update; playing costs no rerun.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.ui.charts import step_inspector
from optlab.ui.charts.series import RunSeries

#: the state tensor drawn as the third arrow, first found wins
BUFFERS = ("momentum_buffer", "exp_avg")


def _pick(values: np.ndarray, held: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """``values`` (aligned to ``held`` steps) at the ``shown`` steps; NaN where not held."""
    pos = np.searchsorted(held, shown)
    inside = pos < len(held)
    pos = np.where(inside, pos, 0)
    ok = inside & (held[pos] == shown) if len(held) else np.zeros(len(shown), dtype=bool)
    out = (
        np.asarray(values, dtype=np.float64)[pos] if len(held) else np.full((len(shown), 2), np.nan)
    )
    out = out.copy()
    out[~ok] = np.nan
    return out


def _columns(a: np.ndarray) -> list[np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    return [a] if a.ndim == 1 else [a[:, 0].copy(), a[:, 1].copy()]


def step_payload(run: RunSeries, run_spec: Any, shown: np.ndarray) -> dict[str, Any]:
    """``{"arrows": …, "inspect": …}`` for the player's run entry, or {} without state."""
    inst = run.instruments
    if "grad" not in inst or "update" not in inst:
        return {}
    n = min(run.n, len(inst["grad"]))
    held = run.step[:n]
    arrows: dict[str, Any] = {
        "grad": _columns(_pick(inst["grad"][:n], held, shown)),
        "update": _columns(_pick(inst["update"][:n], held, shown)),
    }
    state = inst.get("state") or {}
    buffer = next((b for b in BUFFERS if b in state), None)
    if buffer is not None:
        arrows["buffer"] = _columns(_pick(np.asarray(state[buffer])[:n], held, shown))
        arrows["buffer_name"] = buffer
    out: dict[str, Any] = {"arrows": arrows}
    data = step_inspector.inspector_data(run, run_spec.optimizer) if run_spec else None
    if data is not None:
        values = {k: _columns(_pick(v, held, shown)) for k, v in data["values"].items()}
        out["inspect"] = {"title": data["title"], "lines": data["lines"], "values": values}
    return out
