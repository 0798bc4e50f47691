"""Reading the run store: experiments, their runs, step rows and epoch metrics.

Reads are plain ``SELECT`` statements on this thread's connection; WAL mode lets
them run while a worker's batch is being written, and they never see half of one.
The live view reads a run's tail (:meth:`Queries.steps_since`) or a decimated
series (:meth:`Queries.series`), each one range scan on the clustered ``steps``
table.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from optlab.store.connection import Connections
from optlab.store.instruments import chunk_fields
from optlab.store.values import STEP_READ, StepRows, UnknownExperiment, rows_to_steps


class Queries(Connections):
    """The read side of :class:`~optlab.store.db.Store`."""

    def get_experiment(self, exp_id: str) -> dict[str, Any]:
        """The experiment's row (spec and versions parsed) with its ``runs``."""
        row = self.conn.execute(
            "SELECT id, name, spec, status, message, client, source, device, versions, progress,"
            " created, started, finished, checkpoint_step, owner, kind, trials_total"
            " FROM experiments WHERE id = ?",
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
            "kind",
            "trials_total",
        )
        out = dict(zip(keys, row, strict=True))
        out["spec"] = json.loads(out["spec"])
        out["versions"] = json.loads(out["versions"])
        return out

    def list_experiments(
        self,
        client: str | None = None,
        *,
        limit: int = 500,
        status: str | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``client`` / ``status`` / ``kind`` (experiment, sweep) filter."""
        where, args = [], []
        if client is not None:
            where.append("client = ?")
            args.append(client)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        sql = (
            "SELECT id, name, spec, status, message, client, source, device, versions, progress,"
            " created, started, finished, checkpoint_step, owner, kind, trials_total"
            " FROM experiments"
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
            f"SELECT {STEP_READ} FROM steps"
            " WHERE exp = ? AND run = ? AND step >= ? ORDER BY step LIMIT ?",
            (self.pk(exp_id), run, since, -1 if limit is None else limit),
        ).fetchall()
        return rows_to_steps(rows)

    def series(self, exp_id: str, run: int, max_points: int = 2000, since: int = 0) -> StepRows:
        """About ``max_points`` evenly spaced steps of a run (every n-th, plus the last)."""
        pk = self.pk(exp_id)
        last = self.conn.execute(
            "SELECT MAX(step) FROM steps WHERE exp = ? AND run = ?", (pk, run)
        ).fetchone()[0]
        if last is None:
            return rows_to_steps([])
        every = max(1, math.ceil((last + 1 - since) / max(1, max_points)))
        rows = self.conn.execute(
            f"SELECT {STEP_READ} FROM steps"
            " WHERE exp = ? AND run = ? AND step >= ? AND (step % ? = 0 OR step = ?)"
            " ORDER BY step",
            (pk, run, since, every, last),
        ).fetchall()
        return rows_to_steps(rows)

    def step_counts(self, exp_id: str) -> dict[int, int]:
        """Stored step rows per run index."""
        rows = self.conn.execute(
            "SELECT run, COUNT(*) FROM steps WHERE exp = ? GROUP BY run", (self.pk(exp_id),)
        ).fetchall()
        return {int(r): int(n) for r, n in rows}

    def instruments(self, exp_id: str, run: int, steps: np.ndarray | None = None) -> dict[str, Any]:
        """The run's instrument records (record_state, record_sharpness) as StepChunk
        fields aligned to ``steps`` (default: every stored step of the run); {} if none.

        Reads only the chunks that overlap ``steps`` (a live poll: those after the last
        step seen), two range scans on the ``(exp, run, step, key)`` key."""
        if steps is None:
            steps = self.steps_since(exp_id, run).step
        if not len(steps):
            return {}
        pk, first, last = self.pk(exp_id), int(steps[0]), int(steps[-1])
        # the chunk holding the first step may begin before it: start the range scan there
        begin = self.conn.execute(
            "SELECT MAX(step) FROM instruments WHERE exp = ? AND run = ? AND step <= ?",
            (pk, run, first),
        ).fetchone()[0]
        rows = self.conn.execute(
            "SELECT step, key, data FROM instruments WHERE exp = ? AND run = ?"
            " AND step BETWEEN ? AND ? ORDER BY step, rowid",
            (pk, run, first if begin is None else begin, last),
        ).fetchall()
        return chunk_fields(steps, rows)

    def epochs(self, exp_id: str, run: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT run, epoch, train_loss, val_loss, val_acc, time FROM epochs WHERE exp = ?"
        args: tuple[Any, ...] = (self.pk(exp_id),)
        if run is not None:
            sql += " AND run = ?"
            args += (run,)
        rows = self.conn.execute(sql + " ORDER BY run, epoch", args).fetchall()
        keys = ("run", "epoch", "train_loss", "val_loss", "val_acc", "time")
        return [dict(zip(keys, r, strict=True)) for r in rows]
