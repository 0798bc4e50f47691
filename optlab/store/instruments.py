"""The instruments' records in the run store (schema 4, issue 12): one BLOB per chunk and key.

``record_state`` and ``record_sharpness`` add nested, optimizer-dependent series to a run:
the state tensors by name and the update and gradient (surfaces), the state norms by
group and name (models), λ_max every k updates.  Their names are not known in advance, so
each record chunk of a run stores one ``instruments`` row per series, keyed by
``(exp, run, step, key)`` where ``step`` is the chunk's first step and ``key`` names the
series:

``state.<name>``, ``update``, ``grad`` (``n × 2`` values), ``state_norms.<group>.<name>``,
``sharpness`` (``n`` values); ``data`` holds the chunk's values as little-endian float64
bytes (``ndarray.tobytes``: exact, NaN and inf kept) and ``n`` its step count.  A
``state`` or ``state_norms`` recorded with no tensor at all gets an empty marker row
under that bare key, so ``{}`` round-trips as ``{}``.

A chunk's values are one ``np.frombuffer`` on read, instead of one JSON object per step
(a cold read of a 6-run × 3000-step record_state experiment was ~10× slower that way).
:func:`instrument_rows` turns a record batch's chunks into rows; :func:`chunk_fields` turns
stored rows back into :class:`~optlab.engine.records.StepChunk` fields aligned to the
steps held, so a stored experiment exports the result ``run_experiment`` returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.engine.records import StepChunk

#: the columns of the ``instruments`` table, in insert order
INSTRUMENT_COLUMNS = "exp, run, step, key, n, data"
#: an ``instruments`` row as :func:`instrument_rows` makes it
InstrumentRow = tuple[int, int, int, str, int, bytes]
#: the StepChunk fields of one (n, 2) point series per chunk
_POINT_KEYS = ("update", "grad")
_NORMS = "state_norms."
_STATE = "state."


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(np.asarray(a, dtype="<f8")).tobytes()


def _chunk_rows(c: StepChunk) -> list[tuple[str, bytes]]:
    """``(key, data)`` for each series one chunk carries, in the engine's key order."""
    out: list[tuple[str, bytes]] = []
    if c.state is not None:
        out += [(_STATE + k, _blob(v)) for k, v in c.state.items()] or [("state", b"")]
    out += [(k, _blob(getattr(c, k))) for k in _POINT_KEYS if getattr(c, k) is not None]
    if c.state_norms is not None:
        norms = [
            (f"{_NORMS}{g}.{k}", _blob(v))
            for g, names in c.state_norms.items()
            for k, v in names.items()
        ]
        out += norms or [("state_norms", b"")]
    if c.sharpness is not None:
        out.append(("sharpness", _blob(c.sharpness)))
    return out


def instrument_rows(pk: int, chunks: list[StepChunk]) -> list[InstrumentRow]:
    """One ``(exp, run, first step, key, n, data)`` row per series of each chunk."""
    return [
        (pk, c.run, c.start, key, len(c), data)
        for c in chunks
        if len(c)
        for key, data in _chunk_rows(c)
    ]


def _width(key: str) -> int:
    """Values per step: a point for the state tensors, update and gradient, else one."""
    return 2 if key.startswith(_STATE) or key in _POINT_KEYS else 1


def _contiguous(held: np.ndarray, parts: list[tuple[int, bytes]], counts: list[int]) -> bool:
    """Do the chunks, back to back, hold exactly the consecutive ``held`` steps?"""
    n = len(held)
    if sum(counts) != n or parts[0][0] != held[0] or held[-1] - held[0] != n - 1:
        return False
    return all(p[0] + c == q[0] for p, c, q in zip(parts, counts, parts[1:], strict=False))


def _aligned(held: np.ndarray, parts: list[tuple[int, bytes]], width: int) -> np.ndarray:
    """The series at the ``held`` steps from ``(first step, data)`` chunks sorted by step;
    NaN where no chunk has the step (a tensor created later); a later chunk wins."""
    shape = (len(held), width) if width == 2 else (len(held),)
    values = np.frombuffer(b"".join(d for _, d in parts), dtype="<f8")
    counts = [len(d) // (8 * width) for _, d in parts]
    if _contiguous(held, parts, counts):  # the usual full read or poll: no index needed
        return values.reshape(shape).copy()
    out = np.full(shape, np.nan)
    firsts = np.repeat([s for s, _ in parts], counts)
    steps = firsts + (np.arange(len(firsts)) - np.repeat(np.cumsum(counts) - counts, counts))
    pos = np.minimum(np.searchsorted(held, steps), len(held) - 1)
    keep = held[pos] == steps  # steps the caller holds (a decimated read skips some)
    out[pos[keep]] = values.reshape(-1, width)[keep].reshape(-1, *shape[1:])
    return out


def chunk_fields(steps: np.ndarray, rows: list[tuple[int, str, bytes]]) -> dict[str, Any]:
    """StepChunk keyword fields for the held ``steps`` from ``(first step, key, data)``
    rows ordered by step then insertion; {} if there are none."""
    if not rows or not len(steps):
        return {}
    held = np.asarray(steps, dtype=np.int64)
    series: dict[str, list[tuple[int, bytes]]] = {}
    for first, key, data in rows:
        series.setdefault(key, []).append((first, data))
    out: dict[str, Any] = {}
    for key, parts in series.items():
        if key in ("state", "state_norms"):
            out.setdefault(key, {})
            continue
        values = _aligned(held, parts, _width(key))
        if key.startswith(_STATE):
            out.setdefault("state", {})[key[len(_STATE) :]] = values
        elif key.startswith(_NORMS):
            group, name = key[len(_NORMS) :].rsplit(".", 1)
            out.setdefault("state_norms", {}).setdefault(group, {})[name] = values
        else:
            out[key] = values
    return out
