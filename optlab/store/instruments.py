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


def _rows_of(a: np.ndarray, n: int, width: int) -> list[Any]:
    """Per-step Python values of an (n, width) or (n,) array, converted in one call."""
    arr = np.asarray(a, dtype=np.float64)
    return arr.reshape(n, width).tolist() if width else arr.reshape(n).tolist()


def instrument_rows(pk: int, chunks: list[StepChunk]) -> list[tuple[int, int, int, str]]:
    """One ``(exp, run, step, json)`` row per step of each chunk that carries instruments."""
    rows = []
    for c in chunks:
        n = len(c)
        if not n or not _has_instruments(c):
            continue
        state = {k: _rows_of(v, n, 2) for k, v in (c.state or {}).items()}
        points = {
            k: _rows_of(getattr(c, k), n, 2) for k in _POINT_KEYS if getattr(c, k) is not None
        }
        norms = {
            g: {k: _rows_of(v, n, 0) for k, v in names.items()}
            for g, names in (c.state_norms or {}).items()
        }
        sharp = _rows_of(c.sharpness, n, 0) if c.sharpness is not None else None
        for i in range(n):
            data: dict[str, Any] = {}
            if c.state is not None:
                data["state"] = {k: v[i] for k, v in state.items()}
            for key, values in points.items():
                data[key] = values[i]
            if c.state_norms is not None:
                data["state_norms"] = {
                    g: {k: v[i] for k, v in names.items()} for g, names in norms.items()
                }
            if sharp is not None:
                data["sharpness"] = sharp[i]
            rows.append((pk, c.run, c.start + i, json.dumps(data)))
    return rows


def _series(found: list[tuple[int, Any]], n: int, shape: tuple[int, ...]) -> np.ndarray:
    """An (n, *shape) NaN array with the ``(row, value)`` pairs filled in (one assignment)."""
    out = np.full((n, *shape), math.nan)
    if found:
        rows, values = zip(*found, strict=True)
        out[list(rows)] = np.asarray(values, dtype=np.float64).reshape(len(rows), *shape)
    return out


def chunk_fields(steps: np.ndarray, rows: list[tuple[int, str]]) -> dict[str, Any]:
    """StepChunk keyword fields for the stored ``steps`` from ``(step, json)`` rows.

    Series are aligned to ``steps``; a step without a row, or without a key another step
    has (a state tensor created later), is NaN, as the engine's own records are.
    """
    if not rows:
        return {}
    n = len(steps)
    held = np.asarray(steps, dtype=np.int64)
    stored = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    pos = np.minimum(np.searchsorted(held, stored), n - 1)
    keep = held[pos] == stored  # rows of steps the caller holds (a decimated read skips some)
    parsed = json.loads("[" + ",".join(r[1] for r in rows) + "]")  # one parse, not one per row
    datas = [(int(p), d) for p, d, k in zip(pos, parsed, keep, strict=True) if k]
    out: dict[str, Any] = {}
    states = [(i, d["state"]) for i, d in datas if "state" in d]
    if states:
        names = dict.fromkeys(k for _, s in states for k in s)
        out["state"] = {
            k: _series([(i, s[k]) for i, s in states if k in s], n, (2,)) for k in names
        }
    for key in _POINT_KEYS:
        found = [(i, d[key]) for i, d in datas if key in d]
        if found:
            out[key] = _series(found, n, (2,))
    norms = [(i, d["state_norms"]) for i, d in datas if "state_norms" in d]
    if norms:
        groups = dict.fromkeys(g for _, s in norms for g in s)
        out["state_norms"] = {}
        for g in groups:
            names = dict.fromkeys(k for _, s in norms for k in s.get(g, {}))
            out["state_norms"][g] = {
                k: _series([(i, s[g][k]) for i, s in norms if k in s.get(g, {})], n, ())
                for k in names
            }
    found = [(i, d["sharpness"]) for i, d in datas if "sharpness" in d]
    if found:
        out["sharpness"] = _series(found, n, ())
    return out
