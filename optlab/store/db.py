"""The run store: experiments, runs, per-step records and epoch metrics in SQLite.

Everything that must outlive a browser tab or a server restart lives here
(docs/architecture.md §6).  The database is in WAL mode so the UI reads while a
worker's batches are written; every record batch is written in ONE transaction,
so a reader, or a store reopened after a crash, never sees half a batch.

A :class:`Store` may be shared by threads: each thread gets its own connection.
Several processes may open the same file (the server, ``optlab run``); writers
wait for each other through ``busy_timeout``.

The class is built in layers, one module each: connections and transactions
(:mod:`optlab.store.connection`), reads (:mod:`optlab.store.queries`), and the
writes here; the result JSON and CSV export are in :mod:`optlab.store.export`,
which works on any reader and never imports this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from optlab.engine.records import ACTIVE_STATUSES, FINAL_STATES, Batch
from optlab.store import export
from optlab.store.connection import BUSY_TIMEOUT_MS
from optlab.store.instruments import INSTRUMENT_COLUMNS, instrument_rows
from optlab.store.owner import new_owner, owner_alive, release_owner
from optlab.store.sweeps import SweepRecords
from optlab.store.values import (
    EXPERIMENT_FINAL_STATUSES,
    EXPERIMENT_STATUSES,
    StepRows,
    UnknownExperiment,
    library_versions,
    spec_key,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "EXPERIMENT_STATUSES",
    "StepRows",
    "Store",
    "UnknownExperiment",
    "library_versions",
    "new_owner",
    "release_owner",
    "spec_key",
]


#: the ``steps`` columns in the order :meth:`Store.write_batch` fills them
STEP_COLUMNS = "exp, run, step, loss, lr, x, y, grad_norm, time, eval_x, eval_y, effective_lr"


_STEP_MARKS = ",".join("?" * len(STEP_COLUMNS.split(",")))


def _columns(points: np.ndarray | None, n: int) -> tuple[list[Any], list[Any]]:
    """x and y of (n, 2) points as lists, or NULLs."""
    if points is None:
        return [None] * n, [None] * n
    xy = np.asarray(points, dtype=np.float64).reshape(n, 2)
    return xy[:, 0].tolist(), xy[:, 1].tolist()


def _quoted(statuses: Iterable[str]) -> str:
    """Fixed status names as an SQL list: ``'queued','running'``."""
    return ",".join(f"'{s}'" for s in statuses)


_ACTIVE_SQL = _quoted(ACTIVE_STATUSES)
_FINAL_SQL = _quoted(EXPERIMENT_FINAL_STATUSES)


class Store(SweepRecords):
    """The SQLite run store at ``path`` (default ``$OPTLAB_HOME/optlab.db``)."""

    # ------------------------------------------------------------------ writing

    def create_experiment(
        self,
        spec: Any,
        *,
        client: str = "",
        status: str = "queued",
        source: str = "ui",
        owner: str = "",
        device: str | None = None,
        kind: str = "experiment",
        trials_total: int | None = None,
    ) -> str:
        """Store a validated spec (an ``ExperimentSpec`` or its dict) and its runs.

        ``kind="sweep"`` with the planned ``trials_total`` records a sweep (its trials
        go to :meth:`write_trials`)."""
        spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
        now = time.time()
        host, pid = (socket.gethostname(), os.getpid()) if owner else ("", None)
        versions = json.dumps(library_versions())
        for _ in range(20):
            exp_id = secrets.token_hex(5)
            try:
                with self._tx() as conn:
                    columns = {
                        "id": exp_id,
                        "name": spec_dict.get("name", ""),
                        "spec": json.dumps(spec_dict),
                        "spec_key": spec_key(spec_dict),
                        "status": status,
                        "client": client,
                        "source": source,
                        "device": device,
                        "versions": versions,
                        "created": now,
                        "owner": owner,
                        "owner_pid": pid,
                        "owner_host": host,
                    }
                    if kind != "experiment":  # schema 3; plain ones take the default
                        columns.update(kind=kind, trials_total=trials_total)
                    cur = conn.execute(
                        f"INSERT INTO experiments ({', '.join(columns)})"
                        f" VALUES ({','.join('?' * len(columns))})",
                        tuple(columns.values()),
                    )
                    pk = int(cur.lastrowid or 0)
                    conn.executemany(
                        "INSERT INTO runs (exp, idx, label, status) VALUES (?,?,?,?)",
                        [(pk, i, r["label"], status) for i, r in enumerate(spec_dict["runs"])],
                    )
            except sqlite3.IntegrityError:
                continue  # id collision: draw again
            self._pks[exp_id] = pk
            return exp_id
        raise RuntimeError("could not draw a unique experiment id")

    def write_batch(self, exp_id: str, batch: Batch) -> None:
        """Write one record batch atomically: steps, epochs, run statuses, progress."""
        pk = self.pk(exp_id)
        step_rows: list[tuple[Any, ...]] = []
        ends: dict[int, int] = {}
        for c in batch.chunks:
            n = len(c)
            if not n:
                continue
            lr = np.ascontiguousarray(np.asarray(c.lr, dtype="<f8").reshape(n, -1))
            xs, ys = _columns(c.params, n)
            eval_xs, eval_ys = _columns(c.eval_params, n)
            if c.effective_lr is not None:
                eff = np.ascontiguousarray(np.asarray(c.effective_lr, dtype="<f8").reshape(n, -1))
                effective: list[bytes | None] = [r.tobytes() for r in eff]
            else:
                effective = [None] * n
            step_rows += zip(
                repeat(pk, n),
                repeat(c.run, n),
                range(c.start, c.start + n),
                np.asarray(c.loss, dtype=np.float64).tolist(),
                [r.tobytes() for r in lr],
                xs,
                ys,
                np.asarray(c.grad_norm, dtype=np.float64).tolist(),
                np.asarray(c.time, dtype=np.float64).tolist(),
                eval_xs,
                eval_ys,
                effective,
                strict=True,
            )
            ends[c.run] = max(ends.get(c.run, 0), c.start + n)
        extra = instrument_rows(pk, batch.chunks)
        with self._tx() as conn:
            if step_rows:
                conn.executemany(
                    f"INSERT OR REPLACE INTO steps ({STEP_COLUMNS}) VALUES ({_STEP_MARKS})",
                    step_rows,
                )
                conn.executemany(
                    "UPDATE runs SET steps_done = MAX(steps_done, ?) WHERE exp = ? AND idx = ?",
                    [(end, pk, run) for run, end in ends.items()],
                )
            if extra:
                conn.executemany(
                    f"INSERT OR REPLACE INTO instruments ({INSTRUMENT_COLUMNS})"
                    " VALUES (?,?,?,?,?,?)",
                    extra,
                )
            if batch.epochs:
                conn.executemany(
                    "INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?,?,?)",
                    [
                        (pk, m.run, m.epoch, m.train_loss, m.val_loss, m.val_acc, m.time)
                        for m in batch.epochs
                    ],
                )
            for st in batch.statuses:
                params = json.dumps(st.final_params) if st.final_params is not None else None
                groups = json.dumps(st.groups) if st.groups is not None else None
                conn.execute(
                    "UPDATE runs SET status = ?, message = ?,"
                    " diverged_at = COALESCE(?, diverged_at), final_loss = COALESCE(?, final_loss),"
                    " final_params = COALESCE(?, final_params), groups = COALESCE(?, groups)"
                    " WHERE exp = ? AND idx = ?",
                    (
                        st.status,
                        st.message,
                        st.diverged_at,
                        st.final_loss,
                        params,
                        groups,
                        pk,
                        st.run,
                    ),
                )
            conn.execute("UPDATE experiments SET progress = ? WHERE pk = ?", (batch.progress, pk))

    def set_status(
        self,
        exp_id: str,
        status: str,
        message: str = "",
        *,
        runs_status: str | None = None,
        runs_message: str | None = None,
        device: str | None = None,
    ) -> None:
        """Set the experiment's status; ``runs_status`` also moves its unfinished runs.

        A final status stamps ``finished``; ``running`` stamps ``started``.
        """
        pk = self.pk(exp_id)
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE experiments SET status = ?, message = ?, device = COALESCE(?, device),"
                " started = CASE WHEN ? = 'running' THEN COALESCE(started, ?) ELSE started END,"
                f" finished = CASE WHEN ? IN ({_FINAL_SQL}) THEN ? ELSE NULL END"
                " WHERE pk = ?",
                (status, message, device, status, now, status, now, pk),
            )
            if runs_status is not None:
                conn.execute(
                    f"UPDATE runs SET status = ?, message = ? WHERE exp = ?"
                    f" AND status NOT IN ({','.join('?' * len(FINAL_STATES))})",
                    (
                        runs_status,
                        runs_message if runs_message is not None else message,
                        pk,
                        *FINAL_STATES,
                    ),
                )

    def set_checkpoint_step(self, exp_id: str, step: int | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE experiments SET checkpoint_step = ? WHERE pk = ?", (step, self.pk(exp_id))
            )

    def claim(self, exp_id: str, owner: str) -> None:
        """Make ``owner`` (a :func:`new_owner` token) answer for an active experiment."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE experiments SET owner = ?, owner_pid = ?, owner_host = ? WHERE pk = ?",
                (owner, os.getpid(), socket.gethostname(), self.pk(exp_id)),
            )

    def prepare_resume(self, exp_id: str, running: dict[int, int], epochs_done: int | None) -> None:
        """Forget what was stored after a checkpoint, before the resumed run re-sends it.

        ``running`` maps each run that was still running at the checkpoint to its
        ``steps_done`` there; its later steps, epochs and final state are removed, so
        nothing is duplicated.  Runs that had ended by the checkpoint keep everything.
        """
        pk = self.pk(exp_id)
        with self._tx() as conn:
            for run, done in running.items():
                for table in ("steps", "instruments"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE exp = ? AND run = ? AND step >= ?",
                        (pk, run, done),
                    )
                # an instruments chunk that began before the checkpoint keeps its first steps
                conn.execute(
                    "UPDATE instruments"
                    " SET data = substr(data, 1, (? - step) * (length(data) / n)), n = ? - step"
                    " WHERE exp = ? AND run = ? AND step < ? AND step + n > ?",
                    (done, done, pk, run, done, done),
                )
                if epochs_done is not None:
                    conn.execute(
                        "DELETE FROM epochs WHERE exp = ? AND run = ? AND epoch > ?",
                        (pk, run, epochs_done),
                    )
                conn.execute(
                    "UPDATE runs SET status = 'running', message = '', diverged_at = NULL,"
                    " final_loss = NULL, final_params = NULL, steps_done = ?"
                    " WHERE exp = ? AND idx = ?",
                    (done, pk, run),
                )

    def reset_records(self, exp_id: str) -> None:
        """Drop every record of an experiment (resume without a checkpoint starts over)."""
        pk = self.pk(exp_id)
        with self._tx() as conn:
            conn.execute("DELETE FROM steps WHERE exp = ?", (pk,))
            conn.execute("DELETE FROM instruments WHERE exp = ?", (pk,))
            conn.execute("DELETE FROM epochs WHERE exp = ?", (pk,))
            conn.execute(
                "UPDATE runs SET status = 'queued', message = '', diverged_at = NULL,"
                " final_loss = NULL, final_params = NULL, steps_done = 0 WHERE exp = ?",
                (pk,),
            )
            conn.execute(
                "UPDATE experiments SET progress = 0, checkpoint_step = NULL WHERE pk = ?", (pk,)
            )

    def rename(self, exp_id: str, name: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE experiments SET name = ? WHERE pk = ?", (name, self.pk(exp_id)))

    def delete(self, exp_id: str) -> None:
        """Remove an experiment, its records and its checkpoint."""
        pk = self.pk(exp_id)
        with self._tx() as conn:
            for table in ("steps", "instruments", "epochs", "runs", "trials"):
                conn.execute(f"DELETE FROM {table} WHERE exp = ?", (pk,))
            conn.execute("DELETE FROM experiments WHERE pk = ?", (pk,))
        self._pks.pop(exp_id, None)
        with contextlib.suppress(OSError):
            (self.path.parent / "checkpoints" / f"{exp_id}.pt").unlink()

    def mark_interrupted_on_startup(self) -> list[str]:
        """Experiments left queued/running by a process that is gone become ``interrupted``.

        Called when a job manager starts, and when the CLI lists or shows experiments
        (an ``optlab run`` killed with SIGKILL cannot mark its own).  Another live
        process's experiments (an ``optlab run`` in a terminal, a server) are left
        alone.  Returns the ids marked.
        """
        rows = self.conn.execute(
            "SELECT id, status, owner, owner_pid, owner_host, source FROM experiments"
            f" WHERE status IN ({_ACTIVE_SQL})"
        ).fetchall()
        marked = []
        for exp_id, status, owner, pid, host, source in rows:
            if owner_alive(owner, pid, host):
                continue
            if source == "cli":
                why = "its `optlab run` process ended (killed?) before the run did"
            elif status == "running":
                why = (
                    "the server stopped while this experiment ran; resume it from its last"
                    " checkpoint"
                )
            else:
                why = "the server stopped before this experiment ran; resume it to start it"
            self.set_status(exp_id, "interrupted", why, runs_status="interrupted")
            marked.append(exp_id)
        return marked

    # ------------------------------------------------------------------ export

    def result_json(self, exp_id: str) -> dict[str, Any]:
        """The result JSON (docs/architecture.md §5), equal to what ``run_experiment`` returned."""
        return export.result_json(self, exp_id)

    def export_csv(self, exp_id: str, folder: str | Path) -> list[Path]:
        """One CSV per run plus ``runs.csv``, ``epochs.csv`` and ``spec.json``."""
        return export.export_csv(self, exp_id, Path(folder))

    def store_result(self, spec: Any, result: dict[str, Any], *, source: str = "cli") -> str:
        """Store a finished experiment from its result JSON (``optlab run``)."""
        return export.store_result(self, spec, result, source=source)
