"""The instruments' per-step records in the run store (schema 4, issue 12).

``record_state`` and ``record_sharpness`` add nested, optimizer-dependent values to a
step: the state tensors by name and the update (surfaces), the state norms by group and
name (models), λ_max every k updates.  Their keys are not known in advance, so they go to
one ``instruments`` row per step holding a JSON object (``repr`` floats round-trip
exactly; NaN is written as JSON's ``NaN``), beside the fixed ``steps`` columns:

``{"state": {name: [x, y]}, "update": [x, y], "grad": [x, y],
"state_norms": {group: {name: v}}, "sharpness": v}`` (only the keys the run records).

:func:`instrument_rows` turns a record batch's chunks into rows; :func:`chunk_fields`
turns stored rows back into :class:`~optlab.engine.records.StepChunk` fields, so a stored
experiment exports the result ``run_experiment`` returned.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from optlab.engine.records import StepChunk

#: the columns of the ``instruments`` table, in insert order
INSTRUMENT_COLUMNS = "exp, run, step, data"
#: the StepChunk fields kept here, besides the steps table's columns
_POINT_KEYS = ("update", "grad")


def _has_instruments(c: StepChunk) -> bool:
    return any(v is not None for v in (c.state, c.update, c.grad, c.state_norms, c.sharpness))


def _pair(a: np.ndarray, i: int) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1, 2)[i]]


def instrument_rows(pk: int, chunks: list[StepChunk]) -> list[tuple[int, int, int, str]]:
    """One ``(exp, run, step, json)`` row per step of each chunk that carries instruments."""
    rows = []
    for c in chunks:
        if not len(c) or not _has_instruments(c):
            continue
        for i in range(len(c)):
            data: dict[str, Any] = {}
            if c.state is not None:
                data["state"] = {k: _pair(v, i) for k, v in c.state.items()}
            for key in _POINT_KEYS:
                value = getattr(c, key)
                if value is not None:
                    data[key] = _pair(value, i)
            if c.state_norms is not None:
                data["state_norms"] = {
                    g: {k: float(v[i]) for k, v in names.items()}
                    for g, names in c.state_norms.items()
                }
            if c.sharpness is not None:
                data["sharpness"] = float(c.sharpness[i])
            rows.append((pk, c.run, c.start + i, json.dumps(data)))
    return rows


def chunk_fields(steps: np.ndarray, rows: list[tuple[int, str]]) -> dict[str, Any]:
    """StepChunk keyword fields for the stored ``steps`` from ``(step, json)`` rows.

    Series are aligned to ``steps``; a step without a row, or without a key another step
    has (a state tensor created later), is NaN, as the engine's own records are.
    """
    if not rows:
        return {}
    position = {int(s): i for i, s in enumerate(steps)}
    n = len(steps)
    datas = [(position[s], json.loads(text)) for s, text in rows if s in position]
    out: dict[str, Any] = {}
    states = [d["state"] for _, d in datas if "state" in d]
    if states:
        out["state"] = {k: np.full((n, 2), math.nan) for s in states for k in s}
        for i, d in datas:
            for k, v in d.get("state", {}).items():
                out["state"][k][i] = v
    for key in _POINT_KEYS:
        if any(key in d for _, d in datas):
            out[key] = np.full((n, 2), math.nan)
            for i, d in datas:
                if key in d:
                    out[key][i] = d[key]
    norms = [d["state_norms"] for _, d in datas if "state_norms" in d]
    if norms:
        groups = dict.fromkeys(g for s in norms for g in s)
        out["state_norms"] = {
            g: {k: np.full(n, math.nan) for s in norms for k in s.get(g, {})} for g in groups
        }
        for i, d in datas:
            for g, names in d.get("state_norms", {}).items():
                for k, v in names.items():
                    out["state_norms"][g][k][i] = v
    if any("sharpness" in d for _, d in datas):
        out["sharpness"] = np.full(n, math.nan)
        for i, d in datas:
            if "sharpness" in d:
                out["sharpness"][i] = d["sharpness"]
    return out
