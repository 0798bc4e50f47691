"""The LR range test (issue 12 §1, ``python -m optlab lr-find``).

For i = 0 … num_iter−1 the applied lr is ``start·(end/start)^(i/(num_iter−1))``; every
param group keeps its ratio to the run's lr.  Update i is the run's next step (surfaces,
with the run's gradient noise) or is taken on the next minibatch of the paired batch
order (models); ``losses[i]`` is the loss at which update i's gradient is taken, as in
the engine (docs/architecture.md §5).  The run's own schedule is not used: the ramp
sets every group's lr before each update, on the real optimizer.

``smoothed[i]`` is the bias-corrected EMA ``avg_i = β·avg_{i−1} + (1−β)·loss_i``,
``smoothed_i = avg_i / (1 − β^(i+1))``.  The test stops after the first i ≥ 1 where
``smoothed[i] > stop_factor × min(smoothed[0..i])`` or the loss is not finite (that
i is the last one recorded).  Suggestions, on the finite part of ``smoothed``:
``minimum`` (the lr at its minimum / 10), ``steep`` (where it falls fastest against
log lr), ``valley`` (fastai's rule: the middle-ish of the longest decreasing run).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from optlab.engine.experiment import device_label, pick_device
from optlab.engine.model_runner import ModelRunner
from optlab.engine.run_optimizer import RunOptimizer, _innermost_object
from optlab.engine.surface_runner import SurfaceRunner
from optlab.problem import ModelProblem, Surface
from optlab.spec import ExperimentSpec, RunSpec

MAX_ITER = 5000


@dataclass(frozen=True)
class LRFindSettings:
    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_iter: int = 100
    beta: float = 0.98
    stop_factor: float = 4.0
    seeds: int = 1

    def errors(self) -> list[tuple[str, str]]:
        """(option, message) for every bad setting."""
        out = []
        if not (math.isfinite(self.start_lr) and self.start_lr > 0):
            out.append(("--start-lr", "must be a positive number"))
        if not (math.isfinite(self.end_lr) and self.end_lr > self.start_lr):
            out.append(("--end-lr", "must be a finite number above --start-lr"))
        if not 2 <= self.num_iter <= MAX_ITER:
            out.append(("--num-iter", f"must be between 2 and {MAX_ITER}"))
        if not 0 <= self.beta < 1:
            out.append(("--beta", "must be in [0, 1)"))
        if not (math.isfinite(self.stop_factor) and self.stop_factor > 1):
            out.append(("--stop-factor", "must be a number above 1"))
        if not 1 <= self.seeds <= 100:
            out.append(("--seeds", "must be between 1 and 100"))
        return out


def ramp(start: float, end: float, n: int) -> list[float]:
    """The applied lr of updates 0 … n−1: geometric from ``start`` to ``end``."""
    return [start * (end / start) ** (i / (n - 1)) for i in range(n)]


def smooth(losses: list[float], beta: float) -> list[float]:
    """Bias-corrected exponential moving average of ``losses``."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def valley(lrs: list[float], losses: list[float]) -> float:
    """fastai's ``valley``: the longest strictly decreasing subsequence of the losses, and
    the lr a third plus a sixth of the way along it."""
    n = len(losses)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def suggestions(lrs: list[float], smoothed: list[float]) -> dict[str, float | None]:
    ok = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if len(ok) < 2:
        return {"minimum": None, "steep": None, "valley": None}
    x = [lrs[i] for i in ok]
    y = np.array([smoothed[i] for i in ok])
    slope = np.gradient(y, np.log(np.array(x)))
    return {
        "minimum": x[int(np.argmin(y))] / 10,
        "steep": x[int(np.argmin(slope))],
        "valley": valley(x, [float(v) for v in y]),
    }


class _Stepper:
    """One run's optimizer and objective: ``loss(i)`` computes update i's loss and
    gradient; ``step(i)`` applies the update."""

    opt: RunOptimizer
    loss: Callable[[int], torch.Tensor]
    objective: Callable[[int], torch.Tensor]
    params: Callable[[], list[torch.Tensor]]


def _stepper(spec: ExperimentSpec, run: RunSpec, num_iter: int, seed: int) -> _Stepper | str:
    bare = run.model_copy(update={"scheduler": None, "scheduler_first": False})
    problem = spec.problem.build()
    st = _Stepper()
    if isinstance(problem, Surface):
        one = spec.model_copy(
            update={"runs": [bare], "seed": seed, "steps": max(int(spec.steps or 0), num_iter)}
        )
        sr = SurfaceRunner(one, problem)
        r = sr.runs[0]
        if r.opt is None:
            return r.message
        st.opt = r.opt

        def surface_objective(i: int) -> torch.Tensor:
            return sr._objective(r.xy, i)[1]

        def surface_value(i: int) -> torch.Tensor:
            value, loss = sr._objective(r.xy, i)
            loss.backward()
            return value

        st.objective, st.loss = surface_objective, surface_value
        st.params = lambda: [r.xy]
        return st
    assert isinstance(problem, ModelProblem)
    one = spec.model_copy(update={"runs": [bare], "seed": seed})
    mr = ModelRunner(one, problem, pick_device(spec.device))
    m = mr.runs[0]
    if m.opt is None:
        return m.message
    st.opt = m.opt
    batches: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i not in batches:
            batches.clear()
            batches[i] = mr.batch_at(i)
        return batches[i]

    def model_objective(i: int) -> torch.Tensor:
        x, y = batch(i)
        return mr.problem.loss(m.model(x), y)

    def model_loss(i: int) -> torch.Tensor:
        loss = model_objective(i)
        loss.backward()
        return loss

    st.objective, st.loss = model_objective, model_loss
    st.params = lambda: [p for p in st.opt.params if p.grad is not None]
    return st


def lr_find_run(
    spec: ExperimentSpec, run: RunSpec, settings: LRFindSettings, seed: int
) -> dict[str, Any]:
    """One run's range test: ``{"lrs", "losses", "smoothed", "stopped_at", "suggestions"}``
    (or ``{"status": "failed", "message"}`` when its optimizer cannot be built)."""
    st = _stepper(spec, run, settings.num_iter, seed)
    if isinstance(st, str):
        return {"status": "failed", "message": st}
    opt, clip = st.opt, run.clip_grad_norm
    lrs = ramp(settings.start_lr, settings.end_lr, settings.num_iter)
    base = float(_innermost_object(opt.optimizer).defaults.get("lr", 1.0) or 1.0)
    ratios: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    avg = 0.0
    stopped_at = settings.num_iter - 1
    for i, lr in enumerate(lrs):
        opt.join_groups(i)
        groups = opt.optimizer.param_groups
        ratios += [float(g["lr"]) / base for g in groups[len(ratios) :]]
        for g, ratio in zip(groups, ratios, strict=True):
            g["lr"] = lr * ratio
        opt.optimizer.zero_grad()
        loss = float(st.loss(i).detach())
        avg = settings.beta * avg + (1 - settings.beta) * loss
        smoothed.append(avg / (1 - settings.beta ** (i + 1)))
        losses.append(loss)
        if not math.isfinite(loss) or (
            i >= 1 and smoothed[-1] > settings.stop_factor * min(smoothed)
        ):
            stopped_at = i
            break
        if opt.needs_closure:

            @torch.enable_grad()
            def closure(i: int = i) -> torch.Tensor:
                opt.optimizer.zero_grad()
                value = st.objective(i)
                value.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(st.params(), clip)
                return value

            opt.optimizer.step(closure)  # type: ignore[arg-type]
        else:
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(st.params(), clip)
            opt.optimizer.step()
    lrs = lrs[: stopped_at + 1]
    return {
        "lrs": lrs,
        "losses": [v if math.isfinite(v) else None for v in losses],
        "smoothed": [v if math.isfinite(v) else None for v in smoothed],
        "stopped_at": stopped_at,
        "suggestions": suggestions(lrs, smoothed),
    }


def _spread(values: list[float | None]) -> dict[str, Any]:
    ok = [v for v in values if v is not None]
    if not ok:
        return {"median": None, "spread": None}
    return {"median": float(np.median(ok)), "spread": [min(ok), max(ok)]}


def lr_find(spec: ExperimentSpec, settings: LRFindSettings | None = None) -> dict[str, Any]:
    """The range test of every run: ``{"spec", "settings", "device", "runs"}``."""
    settings = settings or LRFindSettings()
    problem = spec.problem.build()
    device = "cpu" if isinstance(problem, Surface) else device_label(pick_device(spec.device))
    runs = []
    for run in spec.runs:
        tests = [lr_find_run(spec, run, settings, spec.seed + k) for k in range(settings.seeds)]
        if settings.seeds == 1:
            runs.append({"label": run.label, **tests[0]})
            continue
        row: dict[str, Any] = {
            "label": run.label,
            "seeds": [{"seed": spec.seed + k, **t} for k, t in enumerate(tests)],
        }
        done = [t for t in tests if "suggestions" in t]
        row["suggestions"] = {
            key: _spread([t["suggestions"][key] for t in done])
            for key in ("minimum", "steep", "valley")
        }
        runs.append(row)
    return {"spec": spec.to_dict(), "settings": asdict(settings), "device": device, "runs": runs}
