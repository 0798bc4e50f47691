"""Runs a sweep's trials and summarizes them (issue 10; plan in :mod:`.sweep_plan`).

Surfaces, exact and fast (every trial equals ``optlab run`` of its experiment, bit
for bit on the CPU):

- Trials are split into *blocks* that share the surface (problem fields other than
  the start and the noise), the step count and whether noise is on.  A block's points
  live in one (N, 2) float64 buffer, evaluated once per step in one autograd graph.
- Within a block, trials with the same run settings whose optimizer is element-wise
  (:attr:`OptimizerInfo.elementwise`) and whose schedule does not read the loss share
  ONE real optimizer on a (B, 2) leaf (a slice of the buffer); the others get one
  real optimizer each on their row.  A diverged row stops counting: its gradient is
  masked to zero and its record frozen; the other rows go on.
- ``torch.optim.SGD`` rows step through torch's own functional ``sgd`` (what
  ``SGD.step`` calls, with the group's settings read each step), without
  ``Optimizer.step``'s per-call hooks; tests check it against ``SGD.step``.
- Closure optimizers (LBFGS…) and ``clip_grad_norm`` run as single experiments.

Only summary numbers are kept per trial (final/best loss, steps to threshold,
``diverged_at``, final point).  Models run trial after trial, each as ``optlab run``
would; :func:`run_trials` takes any subset of a plan (a worker may get a slice).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim.sgd import sgd as functional_sgd

from optlab.catalog import optimizers
from optlab.engine.experiment import Experiment
from optlab.engine.lockstep import build_run_optimizer
from optlab.engine.records import ResultCollector
from optlab.engine.run_optimizer import RunOptimizer
from optlab.engine.sweep_plan import (
    RUN_FIELDS,
    SEED_AXIS,
    Trial,
    best_results,
    metric_of,
    plan,
    rerun_plan,
    rerun_seeds,
    set_path,
)
from optlab.problem import Surface
from optlab.spec import ExperimentSpec, RunSpec, SchedulerSpec

DTYPE = torch.float64
POLL_SECONDS = 0.1
#: at most this many bytes of per-trial noise held at once (larger blocks run in chunks)
NOISE_BYTES = 256 * 2**20
MAX_BLOCK_ROWS = 20_000

OnResult = Callable[["TrialResult"], None]
ShouldStop = Callable[[], bool]


def _rows(idx: np.ndarray) -> list[int]:
    return [int(i) for i in idx]


def _num(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


@dataclass
class TrialResult:
    index: int
    run: int
    label: str
    values: dict[str, Any]
    seed: int
    phase: str
    status: str  # finished | diverged | failed | cancelled
    diverged_at: int | None
    final_loss: float | None  # surfaces: f at the final point; models: last epoch's val loss
    best_loss: float | None
    steps_to_threshold: int | None  # first t with loss[t] <= threshold (t = steps: the final)
    final_params: list[float] | None  # surfaces
    val_acc: float | None = None
    train_loss: float | None = None
    epochs: list[dict[str, Any]] | None = None  # models: per-epoch records as in run results
    message: str = ""

    @classmethod
    def of(cls, trial: Trial, status: str, **numbers: Any) -> TrialResult:
        fields: dict[str, Any] = {
            "diverged_at": None,
            "final_loss": None,
            "best_loss": None,
            "steps_to_threshold": None,
            "final_params": None,
        }
        fields.update(numbers)
        return cls(
            trial.index, trial.run, trial.label, dict(trial.values), trial.seed, trial.phase,
            status, **fields,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """One entry of the result JSON's ``trials`` (non-finite numbers are null)."""
        out: dict[str, Any] = {
            "index": self.index,
            "run": self.label,
            "values": _jsonable(self.values),
            "seed": self.seed,
            "phase": self.phase,
            "status": self.status,
            "diverged_at": self.diverged_at,
            "final_loss": _num(self.final_loss),
            "best_loss": _num(self.best_loss),
            "steps_to_threshold": self.steps_to_threshold,
        }
        if self.final_params is not None:
            out["final_params"] = [_num(v) for v in self.final_params]
        if self.epochs is not None:
            out["val_acc"] = _num(self.val_acc)
            out["train_loss"] = _num(self.train_loss)
            out["epochs"] = self.epochs
        if self.message:
            out["message"] = self.message
        return out


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Axis values as JSON gives them back (a start point's tuple as a list)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


# --------------------------------------------------------------------------- run dicts


def summarize_run(run: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    """The trial numbers of one run of a result JSON (``run_experiment``'s ``runs[i]``)."""
    losses = [v for v in run.get("loss", []) if v is not None]
    final = run.get("final", {}).get("loss")
    series = [*run.get("loss", []), final if run["status"] == "finished" else None]
    best = [v for v in [*losses, final if run["status"] == "finished" else None] if v is not None]
    hit = None
    if threshold is not None:
        hit = next((t for t, v in enumerate(series) if v is not None and v <= threshold), None)
    return {
        "diverged_at": run.get("diverged_at"),
        "final_loss": final if run["status"] == "finished" else None,
        "best_loss": min(best) if best else None,
        "steps_to_threshold": hit,
        "final_params": run.get("final", {}).get("params"),
    }


def _model_numbers(run: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    epochs = run.get("epochs", [])
    last = epochs[-1] if epochs else {}
    vals = [e["val_loss"] for e in epochs if e.get("val_loss") is not None]
    hit = None
    if threshold is not None:
        hit = next(
            (t for t, v in enumerate(run.get("loss", [])) if v is not None and v <= threshold),
            None,
        )
    return {
        "diverged_at": run.get("diverged_at"),
        "final_loss": run.get("final", {}).get("loss"),
        "best_loss": min(vals) if vals else None,
        "steps_to_threshold": hit,
        "final_params": None,
        "val_acc": last.get("val_acc"),
        "train_loss": last.get("train_loss"),
        "epochs": epochs,
    }


def _run_single(
    spec: ExperimentSpec, trial: Trial, should_stop: ShouldStop | None
) -> tuple[dict[str, Any], bool]:
    """``optlab run`` of the trial's experiment, in process; (its run dict, stopped)."""
    exp_spec = trial.experiment(spec)
    exp = Experiment(exp_spec)
    collector = ResultCollector([r.label for r in exp_spec.runs])
    stopped = False
    last = time.perf_counter()
    for batch in exp.batches():
        collector.add(batch)
        now = time.perf_counter()
        if should_stop is not None and now - last >= POLL_SECONDS:
            last = now
            if should_stop():
                exp.cancel()
                stopped = True
    return collector.run_dicts()[0], stopped


def _threshold(spec: ExperimentSpec) -> float | None:
    return spec.sweep.threshold if spec.sweep is not None else None


def _single_result(spec: ExperimentSpec, trial: Trial, run: dict[str, Any]) -> TrialResult:
    numbers = (
        summarize_run(run, _threshold(spec))
        if spec.is_surface
        else _model_numbers(run, _threshold(spec))
    )
    return TrialResult.of(trial, run["status"], message=run.get("message", ""), **numbers)


# --------------------------------------------------------------------------- surfaces


def _has_plateau(sched: SchedulerSpec | None) -> bool:
    if sched is None:
        return False
    if sched.name == "ReduceLROnPlateau":
        return True
    return any(_has_plateau(s) for s in sched.schedulers or [])


def _needs_single(run: RunSpec) -> bool:
    stepping = run.optimizer.inner or run.optimizer
    return run.clip_grad_norm is not None or optimizers.get_info(stepping.name).needs_closure


def _shareable(run: RunSpec) -> bool:
    """B trials with these settings can share one optimizer on a (B, 2) leaf."""
    info = optimizers.get_info(run.optimizer.name)
    return info.elementwise and not info.needs_closure and not _has_plateau(run.scheduler)


class _Group:
    """Rows ``lo … hi-1`` of a block stepped by one real optimizer."""

    def __init__(self, lo: int, hi: int, run: RunSpec) -> None:
        self.lo, self.hi, self.run = lo, hi, run
        self.opt: RunOptimizer | None = None
        self.leaf: torch.Tensor | None = None
        self.error = ""
        self.fast_sgd = False
        self.alive = True


@torch.no_grad()  # as SGD.step (not differentiable)
def _functional_sgd(optimizer: torch.optim.Optimizer) -> None:
    """``torch.optim.SGD.step`` on single-tensor groups, through torch's functional ``sgd``.

    The same call with the same arguments ``SGD.step`` makes (and the same momentum
    buffers in ``optimizer.state``), without ``Optimizer.step``'s hooks and profiling.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            state = optimizer.state[p]
            bufs = [state.get("momentum_buffer")] if group["momentum"] != 0 else [None]
            functional_sgd(
                [p],
                [p.grad],
                bufs,
                weight_decay=group["weight_decay"],
                momentum=group["momentum"],
                lr=group["lr"],
                dampening=group["dampening"],
                nesterov=group["nesterov"],
                maximize=group["maximize"],
                has_sparse_grad=False,
                foreach=group["foreach"],
                fused=group["fused"],
            )
            if group["momentum"] != 0:
                state["momentum_buffer"] = bufs[0]


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
        self.active = np.ones(n, dtype=bool)
        self.status = ["running"] * n
        self.message = [""] * n
        self.diverged_at: list[int | None] = [None] * n
        self.best = np.full(n, np.inf)
        self.final = np.full(n, np.nan)
        self.hit = np.full(n, -1, dtype=np.int64)
        self.groups = self._build_groups()

    def _build_groups(self) -> list[_Group]:
        groups: list[_Group] = []
        i, n = 0, len(self.trials)
        while i < n:
            j = i + 1
            run = self.runs[i]
            if _shareable(run):
                while j < n and self.runs[j] is run:
                    j += 1
            groups.append(_Group(i, j, run))
            i = j
        for g in groups:
            if _shareable(g.run) and g.hi - g.lo > 1:
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
        return groups

    def _end(self, rows: Iterable[int], status: str, message: str = "") -> None:
        for i in rows:
            if self.active[i]:
                self.active[i] = False
                self.status[i], self.message[i] = status, message

    def _objective(self, xy: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        value = self.problem.value(xy[..., 0], xy[..., 1])
        if self.noise is None:
            return value, value
        uv = self.noise[t]
        return value, value + uv[:, 0] * xy[..., 0] + uv[:, 1] * xy[..., 1]

    def run(self, should_stop: ShouldStop | None, on_done: Callable[[list[int]], None]) -> bool:
        """Step to the end; ``on_done(rows)`` as rows end.  False if stopped."""
        last = time.perf_counter()
        failed = _rows(np.flatnonzero(~self.active))  # optimizers that could not be built
        if failed:
            on_done(failed)
        for t in range(self.steps):
            live = [g for g in self.groups if g.alive]
            if not live:
                break
            if should_stop is not None:
                now = time.perf_counter()
                if now - last >= POLL_SECONDS:
                    last = now
                    if should_stop():
                        rows = _rows(np.flatnonzero(self.active))
                        self._end(rows, "cancelled", f"cancelled at step {t}")
                        on_done(rows)
                        return False
            for g in live:
                assert g.opt is not None
                if g.opt.plan.later:  # frozen groups that join later
                    g.opt.join_groups(t)
                g.opt.before_update()  # scheduler_first: the scheduler steps first
            xy = self.buffer.detach().requires_grad_()
            value, loss = self._objective(xy, t)
            loss.sum().backward()
            assert xy.grad is not None
            self.grad.copy_(xy.grad)
            values = value.detach().numpy()
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
            if bad.any():
                rows = _rows(np.flatnonzero(bad))
                for i in rows:
                    self.diverged_at[i] = t
                self._end(
                    rows,
                    "diverged",
                    f"diverged at step {t}: the loss or the point left the finite, bounded region",
                )
                on_done(rows)
            counted = self.active  # rows recorded at t (ok and still running)
            np.minimum(self.best, np.where(counted, values, np.inf), out=self.best)
            if self.threshold is not None:
                reach = counted & (values <= self.threshold) & (self.hit < 0)
                self.hit[reach] = t
            if not self.active.all():  # ended rows stop counting in shared optimizers
                self.grad[torch.from_numpy(~self.active)] = 0.0
            for g in live:
                failed = self._step(g, t, values)
                if failed:
                    on_done(failed)
        self._finish(on_done)
        return True

    def _step(self, g: _Group, t: int, values: np.ndarray) -> list[int]:
        """One update of the group's optimizer; the rows it ended if it failed."""
        if not self.active[g.lo : g.hi].any():
            g.alive = False
            return []
        opt = g.opt
        assert opt is not None
        try:
            if g.fast_sgd:
                _functional_sgd(opt.optimizer)
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
        rows = _rows(np.flatnonzero(self.active))
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
        on_done(rows)

    def result(self, i: int) -> TrialResult:
        finished = self.status[i] == "finished"
        best = float(self.best[i])
        return TrialResult.of(
            self.trials[i],
            self.status[i],
            diverged_at=self.diverged_at[i],
            final_loss=float(self.final[i]) if finished else None,
            best_loss=best if math.isfinite(best) else None,
            steps_to_threshold=int(self.hit[i]) if self.hit[i] >= 0 else None,
            final_params=self.points[i].tolist() if finished else None,
            message=self.message[i],
        )


def _axis_kinds(names: Iterable[str]) -> dict[str, str]:
    kinds = {}
    for name in names:
        head = name.split(".")[0]
        if head in RUN_FIELDS:
            kinds[name] = "run"
        elif name in (SEED_AXIS, "problem.start", "problem.noise"):
            kinds[name] = name
        else:
            kinds[name] = "block"
    return kinds


def _run_surface(
    spec: ExperimentSpec,
    trials: list[Trial],
    emit: Callable[[TrialResult], None],
    should_stop: ShouldStop | None,
) -> None:
    threshold = _threshold(spec)
    kinds = _axis_kinds(spec.sweep.axes if spec.sweep is not None else [])
    run_cache: dict[tuple[int, str], RunSpec] = {}
    blocks: dict[str, dict[str, Any]] = {}
    singles: list[Trial] = []
    for trial in trials:
        run_values = {k: v for k, v in trial.values.items() if kinds.get(k) == "run"}
        run_key = (trial.run, repr(sorted(run_values.items())))
        run = run_cache.get(run_key)
        if run is None:
            run = spec.runs[trial.run]
            for name, value in run_values.items():
                run = set_path(run, name.split("."), value)
            run_cache[run_key] = run
        if _needs_single(run):
            singles.append(trial)
            continue
        block_values = {k: v for k, v in trial.values.items() if kinds.get(k) == "block"}
        noise = float(trial.values.get("problem.noise", spec.problem.kwargs.get("noise", 0.0)))
        block_key = repr((sorted(block_values.items()), noise > 0))
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
        single, stopped = _run_single(spec, trial, should_stop)
        emit(_single_result(spec, trial, single))


# --------------------------------------------------------------------------- public


def run_trials(
    spec: ExperimentSpec,
    trials: list[Trial],
    *,
    on_result: OnResult | None = None,
    should_stop: ShouldStop | None = None,
    threads: int | None = None,
) -> list[TrialResult]:
    """Run ``trials`` (any subset of :func:`plan`'s or :func:`rerun_plan`'s) of ``spec``.

    ``on_result`` gets each TrialResult as it ends (in any order); ``should_stop()``
    is polled about every 0.1 s of work and a stop marks unfinished trials
    ``cancelled``.  Returns the results in the order of ``trials``.  ``threads``: torch
    threads (``optlab run``'s rule: 1 for surfaces, torch's default for models).
    """
    torch.set_num_threads(threads or (1 if spec.is_surface else torch.get_num_threads()))
    results: dict[int, TrialResult] = {}

    def emit(result: TrialResult) -> None:
        results[result.index] = result
        if on_result is not None:
            on_result(result)

    if spec.is_surface:
        _run_surface(spec, trials, emit, should_stop)
    else:
        stopped = False
        for trial in trials:
            if stopped:
                emit(TrialResult.of(trial, "cancelled", message="cancelled"))
                continue
            done, stopped = _run_single(spec, trial, should_stop)
            emit(_single_result(spec, trial, done))
    return [results[t.index] for t in trials]


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "iqr": None}
    arr = np.asarray(values, dtype=np.float64)
    q1, q3 = np.percentile(arr, [25, 75])
    return {
        "median": float(np.median(arr)),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "iqr": [float(q1), float(q3)],
    }


def summarize(spec: ExperimentSpec, trials: list[TrialResult]) -> dict[str, Any]:
    """The result JSON's ``summary``: per run label, its best trial and counts.

    Best: the finished search trial with the lowest final loss (or tune's metric).
    With tune, ``rerun`` gives the metric's median, min, max and IQR over the seeds.
    """
    tune = spec.sweep.tune if spec.sweep is not None else None
    metric = tune.metric if tune is not None else "final_loss"
    best = best_results(spec, trials, metric)
    out: dict[str, Any] = {}
    for r, run in enumerate(spec.runs):
        mine = [t for t in trials if t.run == r]
        entry: dict[str, Any] = {
            "trials": len([t for t in mine if t.phase == "search"]),
            "finished": sum(t.status == "finished" for t in mine if t.phase == "search"),
            "diverged": sum(t.status == "diverged" for t in mine if t.phase == "search"),
            "failed": sum(t.status == "failed" for t in mine if t.phase == "search"),
            "best": None,
        }
        if r in best:
            b = best[r]
            entry["best"] = {
                "index": b.index,
                "values": _jsonable(b.values),
                "seed": b.seed,
                "final_loss": _num(b.final_loss),
                "best_loss": _num(b.best_loss),
                "steps_to_threshold": b.steps_to_threshold,
                **({"val_acc": _num(b.val_acc)} if b.val_acc is not None else {}),
            }
        if tune is not None:
            reruns = [t for t in mine if t.phase == "rerun"]
            scores = [m for t in reruns if (m := metric_of(t, metric)) is not None]
            entry["rerun"] = {
                "metric": metric,
                "seeds": [t.seed for t in reruns] or rerun_seeds(spec),
                "values": _jsonable(reruns[0].values) if reruns else None,
                **_stats(scores),
            }
        out[run.label] = entry
    return out


def run_sweep(
    spec: ExperimentSpec,
    *,
    on_result: OnResult | None = None,
    should_stop: ShouldStop | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Plan, run (then tune's re-runs) and summarize: ``{"spec", "trials", "summary"}``."""
    trials = plan(spec)
    results = run_trials(
        spec, trials, on_result=on_result, should_stop=should_stop, threads=threads
    )
    stopped = any(r.status == "cancelled" for r in results)
    if spec.sweep is not None and spec.sweep.tune is not None and not stopped:
        reruns = rerun_plan(spec, trials, results)
        results += run_trials(
            spec, reruns, on_result=on_result, should_stop=should_stop, threads=threads
        )
    return {
        "spec": spec.to_dict(),
        "trials": [r.to_dict() for r in sorted(results, key=lambda r: r.index)],
        "summary": summarize(spec, results),
    }
