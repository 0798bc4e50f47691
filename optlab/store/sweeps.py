"""Sweeps in the run store (issue 10): an experiment of kind ``sweep`` plus its trials.

Each trial that ends (finished, diverged, failed) is one row of ``trials``, keyed by
(experiment, trial index), written as soon as it comes back (several per transaction
when they come in together).  A cancelled trial is not kept: a resumed sweep runs it
again, and skips every stored one.  :meth:`SweepRecords.sweep_result` rebuilds the JSON
``optlab sweep`` writes, from the trials stored so far, with the progress.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from typing import Any

from optlab.store.queries import Queries

#: trial statuses the store keeps
KEPT = ("finished", "diverged", "failed")

_TRIAL_COLUMNS = (
    "idx, run, label, axis_values, seed, phase, status, diverged_at, final_loss, best_loss,"
    " steps_to_threshold, final_params, val_acc, train_loss, epochs, message, time"
)


def _real(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


class SweepRecords(Queries):
    """Writes and reads of sweep trials; a base of :class:`~optlab.store.db.Store`."""

    def write_trials(self, exp_id: str, results: Iterable[Any]) -> int:
        """Keep the ended ``TrialResult``s (one transaction); returns how many were kept.

        Cancelled ones are skipped.  The experiment's progress becomes done / total.
        """
        pk = self.pk(exp_id)
        now = time.time()
        rows = [
            (
                pk,
                r.index,
                r.run,
                r.label,
                json.dumps(_jsonable(r.values)),
                r.seed,
                r.phase,
                r.status,
                r.diverged_at,
                _real(r.final_loss),
                _real(r.best_loss),
                r.steps_to_threshold,
                json.dumps([_real(v) for v in r.final_params])
                if r.final_params is not None
                else None,
                _real(r.val_acc),
                _real(r.train_loss),
                json.dumps(r.epochs) if r.epochs is not None else None,
                r.message,
                now,
            )
            for r in results
            if r.status in KEPT
        ]
        if not rows:
            return 0
        marks = ",".join("?" * len(rows[0]))
        with self._tx() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO trials (exp, {_TRIAL_COLUMNS}) VALUES ({marks})", rows
            )
            conn.execute(
                "UPDATE experiments SET progress = MIN(1.0, (SELECT COUNT(*) FROM trials"
                " WHERE exp = ?) * 1.0 / MAX(1, COALESCE(trials_total, 1))) WHERE pk = ?",
                (pk, pk),
            )
        return len(rows)

    def trial_count(self, exp_id: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM trials WHERE exp = ?", (self.pk(exp_id),)
        ).fetchone()
        return int(row[0])

    def trial_rows(self, exp_id: str, since: float | None = None) -> list[dict[str, Any]]:
        """Stored trials in index order (``since``: only those written after that time)."""
        sql = f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE exp = ?"
        args: tuple[Any, ...] = (self.pk(exp_id),)
        if since is not None:
            sql += " AND time > ?"
            args += (since,)
        out = []
        for r in self.conn.execute(sql + " ORDER BY idx", args):
            out.append(
                {
                    "index": r[0],
                    "run_index": r[1],
                    "run": r[2],
                    "values": json.loads(r[3]),
                    "seed": r[4],
                    "phase": r[5],
                    "status": r[6],
                    "diverged_at": r[7],
                    "final_loss": r[8],
                    "best_loss": r[9],
                    "steps_to_threshold": r[10],
                    "final_params": json.loads(r[11]) if r[11] is not None else None,
                    "val_acc": r[12],
                    "train_loss": r[13],
                    "epochs": json.loads(r[14]) if r[14] is not None else None,
                    "message": r[15],
                    "time": r[16],
                }
            )
        return out

    def trial_results(self, exp_id: str) -> list[Any]:
        """The stored trials as engine ``TrialResult``s (resume, summaries)."""
        from optlab.engine.sweep import TrialResult

        return [
            TrialResult(
                index=r["index"],
                run=r["run_index"],
                label=r["run"],
                values=r["values"],
                seed=r["seed"],
                phase=r["phase"],
                status=r["status"],
                diverged_at=r["diverged_at"],
                final_loss=r["final_loss"],
                best_loss=r["best_loss"],
                steps_to_threshold=r["steps_to_threshold"],
                final_params=r["final_params"],
                val_acc=r["val_acc"],
                train_loss=r["train_loss"],
                epochs=r["epochs"],
                message=r["message"],
            )
            for r in self.trial_rows(exp_id)
        ]

    def sweep_result(self, exp_id: str) -> dict[str, Any]:
        """``{"spec", "trials", "summary", "progress": {"done", "total"}}``: the result
        JSON of ``optlab sweep`` over the trials stored so far."""
        from optlab.engine.sweep_work import result_json
        from optlab.spec import parse_spec

        exp = self.get_experiment(exp_id)
        if exp.get("kind") != "sweep":
            raise ValueError(f"experiment {exp_id} is not a sweep")
        spec = parse_spec(exp["spec"])
        results = self.trial_results(exp_id)
        out = result_json(spec, results)
        out["progress"] = {"done": len(results), "total": exp["trials_total"] or len(results)}
        return out
