"""The run store: experiments, runs, per-step records and epoch metrics in SQLite.

Everything that must outlive a browser tab or a server restart lives here
(DESIGN.md §5).  The database is in WAL mode so the UI reads while a worker's
batches are written; every record batch is written in ONE transaction, so a
reader, or a store reopened after a crash, never sees half a batch.

A :class:`Store` may be shared by threads: each thread gets its own connection.
Several processes may open the same file (the server, ``optlab run``); writers
wait for each other through ``busy_timeout``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from optlab import paths
from optlab.engine.records import FINAL_STATES, Batch
from optlab.store.owner import new_owner, owner_alive, release_owner
from optlab.store.schema import SCHEMA_VERSION, migrate

#: experiment statuses; ``interrupted`` ones can be resumed
EXPERIMENT_STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
ACTIVE_STATES = ("queued", "running")
BUSY_TIMEOUT_MS = 30_000
__all__ = ["StepRows", "Store", "UnknownExperiment", "new_owner", "release_owner", "spec_key"]


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
        if self.params is not None:
            out["params"] = clean(self.params)
        return out


def _rows_to_steps(rows: list[tuple[Any, ...]]) -> StepRows:
    n = len(rows)
    if not n:
        empty = np.zeros(0)
        return StepRows(np.zeros(0, dtype=np.int64), empty, np.zeros((0, 1)), empty, empty, None)
    step, loss, lr, x, y, grad, tm = zip(*rows, strict=True)
    lr_arr = np.frombuffer(b"".join(lr), dtype="<f8").reshape(n, -1).astype(np.float64)
    has_xy = any(v is not None for v in x)
    params = np.array([x, y], dtype=np.float64).T.copy() if has_xy else None
    return StepRows(
        step=np.array(step, dtype=np.int64),
        loss=np.array(loss, dtype=np.float64),
        lr=lr_arr,
        grad_norm=np.array(grad, dtype=np.float64),
        time=np.array(tm, dtype=np.float64),
        params=params,
    )


class UnknownExperiment(KeyError):
    def __str__(self) -> str:
        return f"no experiment {self.args[0]!r} in the run store"


class Store:
    """The SQLite run store at ``path`` (default ``$OPTLAB_HOME/optlab.db``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._pks: dict[str, int] = {}
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        conn = self.conn
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != SCHEMA_VERSION:
            migrate(conn)

    # ------------------------------------------------------------------ plumbing

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; writes go through :meth:`_tx`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:  # threads come and go (a Streamlit rerun): close their connections
                alive = []
                for thread, other in self._all:
                    if thread.is_alive():
                        alive.append((thread, other))
                    else:
                        with contextlib.suppress(sqlite3.Error):
                            other.close()
                self._all = [*alive, (threading.current_thread(), conn)]
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for _, conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def pk(self, exp_id: str) -> int:
        pk = self._pks.get(exp_id)
        if pk is None:
            row = self.conn.execute("SELECT pk FROM experiments WHERE id = ?", (exp_id,)).fetchone()
            if row is None:
                raise UnknownExperiment(exp_id)
            pk = self._pks[exp_id] = int(row[0])
        return pk

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
    ) -> str:
        """Store a validated spec (an ``ExperimentSpec`` or its dict) and its runs."""
        spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
        now = time.time()
        host, pid = (socket.gethostname(), os.getpid()) if owner else ("", None)
        versions = json.dumps(library_versions())
        for _ in range(20):
            exp_id = secrets.token_hex(5)
            try:
                with self._tx() as conn:
                    cur = conn.execute(
                        "INSERT INTO experiments (id, name, spec, spec_key, status, client, source,"
                        " device, versions, created, owner, owner_pid, owner_host)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            exp_id,
                            spec_dict.get("name", ""),
                            json.dumps(spec_dict),
                            spec_key(spec_dict),
                            status,
                            client,
                            source,
                            device,
                            versions,
                            now,
                            owner,
                            pid,
                            host,
                        ),
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
            if c.params is not None:
                xy = np.asarray(c.params, dtype=np.float64).reshape(n, 2)
                xs, ys = xy[:, 0].tolist(), xy[:, 1].tolist()
            else:
                xs = ys = [None] * n
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
                strict=True,
            )
            ends[c.run] = max(ends.get(c.run, 0), c.start + n)
        with self._tx() as conn:
            if step_rows:
                conn.executemany(
                    "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?)", step_rows
                )
                conn.executemany(
                    "UPDATE runs SET steps_done = MAX(steps_done, ?) WHERE exp = ? AND idx = ?",
                    [(end, pk, run) for run, end in ends.items()],
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
                " finished = CASE WHEN ? IN ('finished','failed','cancelled') THEN ? ELSE NULL END"
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
                conn.execute(
                    "DELETE FROM steps WHERE exp = ? AND run = ? AND step >= ?", (pk, run, done)
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
            conn.execute("DELETE FROM steps WHERE exp = ?", (pk,))
            conn.execute("DELETE FROM epochs WHERE exp = ?", (pk,))
            conn.execute("DELETE FROM runs WHERE exp = ?", (pk,))
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
            " WHERE status IN ('queued', 'running')"
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

    # ------------------------------------------------------------------ reading

    def get_experiment(self, exp_id: str) -> dict[str, Any]:
        """The experiment's row (spec and versions parsed) with its ``runs``."""
        row = self.conn.execute(
            "SELECT id, name, spec, status, message, client, source, device, versions, progress,"
            " created, started, finished, checkpoint_step, owner FROM experiments WHERE id = ?",
            (exp_id,),
        ).fetchone()
        if row is None:
            raise UnknownExperiment(exp_id)
        out = self._experiment_dict(row)
        out["runs"] = self.runs(exp_id)
        return out

    @staticmethod
    def _experiment_dict(row: tuple[Any, ...]) -> dict[str, Any]:
        keys = (
            "id",
            "name",
            "spec",
            "status",
            "message",
            "client",
            "source",
            "device",
            "versions",
            "progress",
            "created",
            "started",
            "finished",
            "checkpoint_step",
            "owner",
        )
        out = dict(zip(keys, row, strict=True))
        out["spec"] = json.loads(out["spec"])
        out["versions"] = json.loads(out["versions"])
        return out

    def list_experiments(
        self, client: str | None = None, *, limit: int = 500, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; ``client`` / ``status`` filter."""
        where, args = [], []
        if client is not None:
            where.append("client = ?")
            args.append(client)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = (
            "SELECT id, name, spec, status, message, client, source, device, versions, progress,"
            " created, started, finished, checkpoint_step, owner FROM experiments"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY created DESC, pk DESC LIMIT ?"
        )
        return [self._experiment_dict(r) for r in self.conn.execute(sql, (*args, limit))]

    def runs(self, exp_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT idx, label, status, message, diverged_at, final_loss, final_params, groups,"
            " steps_done FROM runs WHERE exp = ? ORDER BY idx",
            (self.pk(exp_id),),
        ).fetchall()
        return [
            {
                "index": r[0],
                "label": r[1],
                "status": r[2],
                "message": r[3],
                "diverged_at": r[4],
                "final_loss": r[5],
                "final_params": json.loads(r[6]) if r[6] is not None else None,
                "groups": json.loads(r[7]),
                "steps_done": r[8],
            }
            for r in rows
        ]

    def steps_since(
        self, exp_id: str, run: int, since: int = 0, limit: int | None = None
    ) -> StepRows:
        """Steps ``>= since`` of one run, in order (the live tail)."""
        rows = self.conn.execute(
            "SELECT step, loss, lr, x, y, grad_norm, time FROM steps"
            " WHERE exp = ? AND run = ? AND step >= ? ORDER BY step LIMIT ?",
            (self.pk(exp_id), run, since, -1 if limit is None else limit),
        ).fetchall()
        return _rows_to_steps(rows)

    def series(self, exp_id: str, run: int, max_points: int = 2000, since: int = 0) -> StepRows:
        """About ``max_points`` evenly spaced steps of a run (every n-th, plus the last)."""
        pk = self.pk(exp_id)
        last = self.conn.execute(
            "SELECT MAX(step) FROM steps WHERE exp = ? AND run = ?", (pk, run)
        ).fetchone()[0]
        if last is None:
            return _rows_to_steps([])
        every = max(1, math.ceil((last + 1 - since) / max(1, max_points)))
        rows = self.conn.execute(
            "SELECT step, loss, lr, x, y, grad_norm, time FROM steps"
            " WHERE exp = ? AND run = ? AND step >= ? AND (step % ? = 0 OR step = ?)"
            " ORDER BY step",
            (pk, run, since, every, last),
        ).fetchall()
        return _rows_to_steps(rows)

    def step_counts(self, exp_id: str) -> dict[int, int]:
        """Stored step rows per run index."""
        rows = self.conn.execute(
            "SELECT run, COUNT(*) FROM steps WHERE exp = ? GROUP BY run", (self.pk(exp_id),)
        ).fetchall()
        return {int(r): int(n) for r, n in rows}

    def epochs(self, exp_id: str, run: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT run, epoch, train_loss, val_loss, val_acc, time FROM epochs WHERE exp = ?"
        args: tuple[Any, ...] = (self.pk(exp_id),)
        if run is not None:
            sql += " AND run = ?"
            args += (run,)
        rows = self.conn.execute(sql + " ORDER BY run, epoch", args).fetchall()
        keys = ("run", "epoch", "train_loss", "val_loss", "val_acc", "time")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # ------------------------------------------------------------------ export

    def result_json(self, exp_id: str) -> dict[str, Any]:
        """The result JSON of DESIGN.md §4, equal to what ``run_experiment`` returned."""
        from optlab.store.export import result_json

        return result_json(self, exp_id)

    def export_csv(self, exp_id: str, folder: str | Path) -> list[Path]:
        """One CSV per run plus ``runs.csv``, ``epochs.csv`` and ``spec.json``."""
        from optlab.store.export import export_csv

        return export_csv(self, exp_id, Path(folder))

    def store_result(self, spec: Any, result: dict[str, Any], *, source: str = "cli") -> str:
        """Store a finished experiment from its result JSON (``optlab run``)."""
        from optlab.store.export import store_result

        return store_result(self, spec, result, source=source)
