"""Sweep trials on a 2-D surface, batched and exact.

Trials that differ only in start, seed or noise and use an element-wise optimizer with
the same settings share one real optimizer on a (B, 2) slice of one buffer; other
trials get their own real optimizer on their row.  Every step is one autograd
evaluation of all rows.  Each trial equals ``optlab run`` of its experiment bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from optlab.engine.lockstep import build_run_optimizer
from optlab.engine.sweep_plan import (
    Trial,
    axis_kinds,
    set_path,
)
from optlab.engine.sweep_results import (
    POLL_SECONDS,
    ShouldStop,
    TrialResult,
    row_list,
    run_single,
    single_result,
    sweep_threshold,
)
from optlab.engine.sweep_steppers import (
    FixedSGD,
    Group,
    functional_sgd_step,
    needs_single,
    shareable,
    value_and_grad,
)
from optlab.problem import Surface
from optlab.spec import ExperimentSpec, RunSpec

DTYPE = torch.float64


#: at most this many bytes of per-trial noise held at once (larger blocks run in chunks)
NOISE_BYTES = 256 * 2**20


MAX_BLOCK_ROWS = 20_000


class _SurfaceBlock:
    """Trials of one surface and step count, stepped in lockstep (see the module doc)."""

    def __init__(
        self,
        problem: Surface,
        steps: int,
        trials: list[Trial],
        runs: list[RunSpec],
        starts: list[tuple[float, float]],
        noises: list[float],
        threshold: float | None,
    ) -> None:
        self.problem, self.steps, self.threshold = problem, steps, threshold
        self.trials, self.runs = trials, runs
        n = len(trials)
        self.buffer = torch.tensor(starts, dtype=DTYPE).reshape(n, 2)
        self.grad = torch.zeros((n, 2), dtype=DTYPE)
        self.ones = torch.ones((), dtype=DTYPE).expand(n)  # what sum()'s backward hands on
        self.points, self.grads = self.buffer.numpy(), self.grad.numpy()  # views, kept current
        self.noise: torch.Tensor | None = None
        if any(v > 0 for v in noises):
            self.noise = torch.empty((steps, n, 2), dtype=DTYPE)
            cache: dict[tuple[int, float], torch.Tensor] = {}
            for i, (trial, std) in enumerate(zip(trials, noises, strict=True)):
                key = (trial.seed, std)
                if key not in cache:
                    gen = torch.Generator().manual_seed(trial.seed)
                    cache[key] = torch.randn((steps, 2), generator=gen, dtype=DTYPE) * std
                self.noise[:, i] = cache[key]
        (bx0, bx1), (by0, by1) = problem.divergence_box()
        self.lo, self.hi = np.array([bx0, by0]), np.array([bx1, by1])
        self.inner = (max(bx0, by0), min(bx1, by1))  # a square inside the box
        self.active = np.ones(n, dtype=bool)
        self.all_active = True  # no row has ended yet (the cheap checks apply)
        self.status = ["running"] * n
        self.message = [""] * n
        self.diverged_at: list[int | None] = [None] * n
        self.best = np.full(n, np.inf)
        self.final = np.full(n, np.nan)
        self.hit = np.full(n, -1, dtype=np.int64)
        self.reached = 0  # rows whose best is at or below the threshold
        self._lists: tuple[list[Any], ...] | None = None
        self.groups = self._build_groups()

    def _build_groups(self) -> list[Group]:
        groups: list[Group] = []
        i, n = 0, len(self.trials)
        while i < n:
            j = i + 1
            run = self.runs[i]
            if shareable(run):
                while j < n and self.runs[j] is run:
                    j += 1
            groups.append(Group(i, j, run))
            i = j
        for g in groups:
            if shareable(g.run) and g.hi - g.lo > 1:
                leaf = self.buffer[g.lo : g.hi].detach().requires_grad_()
                grad = self.grad[g.lo : g.hi]
            else:  # one trial: a (2,) leaf, as in a single run
                leaf, grad = self.buffer[g.lo].detach().requires_grad_(), self.grad[g.lo]
            opt, error = build_run_optimizer(g.run, [("xy", leaf)], self.steps)
            g.leaf, g.opt, g.error = leaf, opt, error
            if opt is None:
                self._end(range(g.lo, g.hi), "failed", error)
                g.alive = False
                continue
            leaf.grad = grad
            g.fast_sgd = type(opt.optimizer) is torch.optim.SGD
            if opt.scheduler is None and not opt.plan.later and FixedSGD.eligible(opt.optimizer):
                g.fixed = FixedSGD(opt.optimizer, leaf, grad)  # type: ignore[arg-type]
        return groups

    def _live(self) -> tuple[list[Group], list[Group]]:
        """The groups with rows still running: (general, fixed SGD)."""
        for g in self.groups:
            if g.alive and not self.active[g.lo : g.hi].any():
                g.alive = False
        live = [g for g in self.groups if g.alive]
        return [g for g in live if g.fixed is None], [g for g in live if g.fixed is not None]

    def _end(self, rows: Iterable[int], status: str, message: str = "") -> None:
        for i in rows:
            self.all_active = False
            if self.active[i]:
                self.active[i] = False
                self.status[i], self.message[i] = status, message

    def _in_bounds(self, values: np.ndarray) -> bool:
        """Every row finite and inside the box, checked with a few whole-array reductions
        (the per-row test below gives the same answer whenever this one says yes)."""
        low, high = torch.aminmax(self.buffer)  # one pass each; NaN anywhere fails both
        g_low, g_high = torch.aminmax(self.grad)
        return bool(
            np.isfinite(values.sum())
            and g_low.item() > -1e300  # every gradient norm finite
            and g_high.item() < 1e300
            and low.item() >= self.inner[0]
            and high.item() <= self.inner[1]
        )

    def _check(self, t: int, values: np.ndarray, on_done: Callable[[list[int]], None]) -> bool:
        """End the rows that diverged at ``t``; record best loss and threshold step of the
        rest.  True if any row ended."""
        bad: np.ndarray | None = None
        if not (self.all_active and self._in_bounds(values)):
            points, grads = self.points, self.grads
            norms = np.hypot(grads[:, 0], grads[:, 1])
            ok = (
                np.isfinite(values)
                & np.isfinite(norms)
                & (points[:, 0] >= self.lo[0])
                & (points[:, 0] <= self.hi[0])
                & (points[:, 1] >= self.lo[1])
                & (points[:, 1] <= self.hi[1])
            )
            bad = self.active & ~ok
            if not bad.any():
                bad = None
        if bad is not None:
            rows = row_list(np.flatnonzero(bad))
            for i in rows:
                self.diverged_at[i] = t
            self._end(
                rows,
                "diverged",
                f"diverged at step {t}: the loss or the point left the finite, bounded region",
            )
            on_done(rows)
        if self.all_active:  # rows recorded at t: ok and still running
            np.minimum(self.best, values, out=self.best)
        else:
            np.minimum(self.best, np.where(self.active, values, np.inf), out=self.best)
        if self.threshold is not None:
            # the first t with a recorded value <= threshold is the first with best <= it;
            # rows are looked up only at the steps where that count grows
            below = self.best <= self.threshold
            reached = int(np.count_nonzero(below))
            if reached > self.reached:
                self.reached = reached
                np.putmask(self.hit, below & (self.hit < 0), t)
        return bad is not None

    def run(self, should_stop: ShouldStop | None, on_done: Callable[[list[int]], None]) -> bool:
        """Step to the end; ``on_done(rows)`` as rows end.  False if stopped."""
        last = time.perf_counter()
        failed = row_list(np.flatnonzero(~self.active))  # optimizers that could not be built
        if failed:
            on_done(failed)
        general, fixed = self._live()
        for t in range(self.steps):
            if not general and not fixed:
                break
            if should_stop is not None:
                now = time.perf_counter()
                if now - last >= POLL_SECONDS:
                    last = now
                    if should_stop():
                        rows = row_list(np.flatnonzero(self.active))
                        self._end(rows, "cancelled", f"cancelled at step {t}")
                        on_done(rows)
                        return False
            for g in general:
                assert g.opt is not None
                if g.opt.plan.later:  # frozen groups that join later
                    g.opt.join_groups(t)
                g.opt.before_update()  # scheduler_first: the scheduler steps first
            noise = self.noise[t] if self.noise is not None else None
            values = value_and_grad(self.problem, self.buffer, self.grad, self.ones, noise)
            bad = self._check(t, values, on_done)
            if bad:
                general, fixed = self._live()
            if not self.all_active:  # ended rows stop counting in shared optimizers
                self.grad[torch.from_numpy(~self.active)] = 0.0
            with torch.no_grad():  # as SGD.step
                for g in fixed:
                    assert g.fixed is not None
                    g.fixed.step()
            for g in general:
                failed = self._step(g, t, values)
                if failed:
                    on_done(failed)
                    general, fixed = self._live()
        self._finish(on_done)
        return True

    def _step(self, g: Group, t: int, values: np.ndarray) -> list[int]:
        """One update of the group's optimizer; the rows it ended if it failed."""
        if not (self.all_active or self.active[g.lo : g.hi].any()):
            g.alive = False
            return []
        opt = g.opt
        assert opt is not None
        try:
            if g.fast_sgd:
                functional_sgd_step(opt.optimizer)
            else:
                opt.optimizer.step()
            if opt.scheduler is not None:
                metric = float(values[g.lo]) if g.hi - g.lo == 1 else math.nan
                opt.schedule_step({"loss": metric})
        except Exception as exc:
            rows = [i for i in range(g.lo, g.hi) if self.active[i]]
            self._end(rows, "failed", f"step {t}: {type(exc).__name__}: {exc}")
            g.alive = False
            return rows
        return []

    def _finish(self, on_done: Callable[[list[int]], None]) -> None:
        """The value at the final point; finished, or diverged at ``steps`` if not finite."""
        with torch.no_grad():
            self.final = self.problem.value(self.buffer[:, 0], self.buffer[:, 1]).numpy()
        final, points = self.final, self.points
        good = self.active & np.isfinite(final) & np.isfinite(points).all(1)
        np.minimum(self.best, np.where(good, final, np.inf), out=self.best)
        if self.threshold is not None:
            self.hit[good & (self.hit < 0) & (final <= self.threshold)] = self.steps
        rows = row_list(np.flatnonzero(self.active))
        for i in rows:
            if good[i]:
                self.status[i] = "finished"
            else:
                self.status[i], self.diverged_at[i] = "diverged", self.steps
                self.message[i] = (
                    f"diverged at step {self.steps}: "
                    "the loss or the point left the finite, bounded region"
                )
        self.active[:] = False
        self._lists = (
            self.final.tolist(), self.best.tolist(), self.hit.tolist(), self.points.tolist()
        )  # fmt: skip
        on_done(rows)

    def result(self, i: int) -> TrialResult:
        finished = self.status[i] == "finished"
        if self._lists is not None:  # at the end: all the numbers as Python lists, once
            final_all, best_all, hit_all, points_all = self._lists
            final, best, hit, point = final_all[i], best_all[i], hit_all[i], points_all[i]
        else:  # a row ending during the run
            final, best, hit = float(self.final[i]), float(self.best[i]), int(self.hit[i])
            point = self.points[i].tolist()
        return TrialResult.of(
            self.trials[i],
            self.status[i],
            diverged_at=self.diverged_at[i],
            final_loss=final if finished else None,
            best_loss=best if math.isfinite(best) else None,
            steps_to_threshold=hit if hit >= 0 else None,
            final_params=point if finished else None,
            message=self.message[i],
        )


def run_surface(
    spec: ExperimentSpec,
    trials: list[Trial],
    emit: Callable[[TrialResult], None],
    should_stop: ShouldStop | None,
) -> None:
    threshold = sweep_threshold(spec)
    kinds = axis_kinds(spec.sweep.axes if spec.sweep is not None else [])
    run_names = sorted(k for k, kind in kinds.items() if kind == "run")
    block_names = sorted(k for k, kind in kinds.items() if kind == "block")
    default_noise = spec.problem.kwargs.get("noise", 0.0)
    run_cache: dict[tuple[int, str], tuple[RunSpec, bool]] = {}  # (run, runs alone)
    blocks: dict[str, dict[str, Any]] = {}
    singles: list[Trial] = []
    for trial in trials:
        values = trial.values
        run_values = [(k, values[k]) for k in run_names if k in values]
        run_key = (trial.run, repr(run_values))
        cached = run_cache.get(run_key)
        if cached is None:
            run = spec.runs[trial.run]
            for name, value in run_values:
                run = set_path(run, name.split("."), value)
            cached = run_cache[run_key] = (run, needs_single(run))
        run, alone = cached
        if alone:
            singles.append(trial)
            continue
        block_values = [(k, values[k]) for k in block_names if k in values]
        noise = float(values.get("problem.noise", default_noise))
        block_key = repr((block_values, noise > 0))
        block = blocks.get(block_key)
        if block is None:
            rep = trial.experiment(spec)
            problem = rep.problem.build()
            assert isinstance(problem, Surface)
            block = blocks[block_key] = {
                "problem": problem,
                "steps": int(rep.steps or 0),
                "start": problem.start,  # the same for the block unless problem.start is swept
                "rows": [],
            }
        start = trial.values.get("problem.start", block["start"])
        block["rows"].append((run_key, trial, run, (float(start[0]), float(start[1])), noise))
    stopped = False
    for block in blocks.values():
        rows = block["rows"]
        rows.sort(key=lambda r: r[0])  # trials sharing run settings sit together (stable)
        size = MAX_BLOCK_ROWS
        if any(r[4] > 0 for r in rows):
            size = max(1, min(size, NOISE_BYTES // max(1, block["steps"] * 16)))
        for lo in range(0, len(rows), size):
            part = rows[lo : lo + size]
            if stopped:
                for _, trial, *_ in part:
                    emit(TrialResult.of(trial, "cancelled", message="cancelled"))
                continue
            sb = _SurfaceBlock(
                block["problem"],
                block["steps"],
                [r[1] for r in part],
                [r[2] for r in part],
                [r[3] for r in part],
                [r[4] for r in part],
                threshold,
            )

            def done(idx: list[int], sb: _SurfaceBlock = sb) -> None:
                for i in idx:
                    emit(sb.result(i))

            stopped = not sb.run(should_stop, done)
    for trial in singles:
        if stopped:
            emit(TrialResult.of(trial, "cancelled", message="cancelled"))
            continue
        single, stopped = run_single(spec, trial, should_stop)
        emit(single_result(spec, trial, single))
