"""Runs every optimizer of an experiment on a 2-D surface, in lockstep.

All runs that step without a closure are evaluated in ONE autograd graph: their
points are stacked, the surface is evaluated once, one backward gives each run's
leaf tensor its own gradient, then each optimizer steps its own tensor.  The
gradients are bit-identical to separate graphs (the sum's backward passes 1.0 to
each row) and a step costs far less Python and autograd overhead.
Records go into preallocated numpy buffers, not per-step lists.

Surfaces always compute in float64 on the CPU: a 2-element update is dominated by
launch overhead, which a GPU only makes worse.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

from optlab.engine.lockstep import LockstepRunner, RunState, build_run_optimizer
from optlab.engine.opt_state import point_state
from optlab.engine.records import Batch, StepChunk
from optlab.engine.run_optimizer import RunOptimizer
from optlab.problem import Surface
from optlab.spec import ExperimentSpec

DTYPE = torch.float64


class _Run(RunState):
    def __init__(self, index: int, xy: torch.Tensor, opt: RunOptimizer | None, error: str) -> None:
        super().__init__(index, opt, error)
        self.xy = xy
        self.flushed = 0
        #: record_state: each state tensor's value after update t, allocated when first seen
        self.state: dict[str, np.ndarray] | None = None


class SurfaceRunner(LockstepRunner):
    def __init__(self, spec: ExperimentSpec, problem: Surface) -> None:
        self.spec, self.problem = spec, problem
        self.steps = int(spec.steps or 0)
        self.t = 0
        self.started = time.perf_counter()
        gen = torch.Generator().manual_seed(spec.seed)
        self.noise = (
            torch.randn((self.steps, 2), generator=gen, dtype=DTYPE) * problem.noise
            if problem.noise > 0
            else None
        )
        (bx0, bx1), (by0, by1) = problem.divergence_box()
        self.box = np.array([bx0, by0]), np.array([bx1, by1])
        self.runs: list[_Run] = []
        for i, run in enumerate(spec.runs):
            xy = torch.tensor(problem.start, dtype=DTYPE, requires_grad=True)
            opt, error = build_run_optimizer(run, [("xy", xy)], self.steps, self.steps)
            self.runs.append(_Run(i, xy, opt, error))
        n_groups = max([len(r.opt.group_names) for r in self.runs if r.opt] or [1])
        n = len(self.runs)
        self.loss = np.full((self.steps, n), np.nan)
        self.params = np.full((self.steps, n, 2), np.nan)
        self.grad = np.full((self.steps, n), np.nan)
        self.lr = np.full((self.steps, n, n_groups), np.nan)
        self.time = np.zeros(self.steps)
        #: the averaged point of runs whose optimizer has train/eval modes (else NaN)
        self.eval_params = np.full((self.steps, n, 2), np.nan)
        #: the lr each group's update applied, for optimizers that scale the group lr (else NaN)
        self.effective_lr = np.full((self.steps, n, n_groups), np.nan)
        #: record_state: params after update t − params before it, and the gradient it used
        self.update = np.full((self.steps, n, 2), np.nan)
        self.grad_vec = np.full((self.steps, n, 2), np.nan)
        for r, run in zip(self.runs, spec.runs, strict=True):
            r.state = {} if run.record_state else None

    # ------------------------------------------------------------------ stepping

    def _objective(self, xy: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(f, loss seen by the optimizer): the loss adds seeded gradient noise u·x + v·y."""
        value = self.problem.value(xy[..., 0], xy[..., 1])
        if self.noise is None:
            return value, value
        u, v = self.noise[t]
        return value, value + u * xy[..., 0] + v * xy[..., 1]

    def step(self) -> None:
        t = self.t
        self.time[t] = time.perf_counter() - self.started
        active = self.active
        for r in active:
            assert r.opt is not None
            r.opt.join_groups(t)
            r.opt.before_update()
        plain = [r for r in active if r.opt is not None and not r.opt.needs_closure]
        if plain:
            points = torch.stack([r.xy for r in plain])
            value, loss = self._objective(points, t)
            for r in plain:
                r.xy.grad = None
            loss.sum().backward()
            self._record(t, plain, points.detach().numpy(), value.detach().numpy())
        for r in active:
            if r.opt is not None and r.opt.needs_closure and r.status == "running":
                self._closure_record(t, r)
        for r in active:
            if r.status == "running":
                self._update(t, r)
        self.t += 1
        if self.t >= self.steps:
            self._finish()

    def _record(self, t: int, runs: list[_Run], points: np.ndarray, values: np.ndarray) -> None:
        idx = [r.index for r in runs]
        grads = torch.stack([r.xy.grad for r in runs]).numpy()  # type: ignore[misc]
        norms = np.hypot(grads[:, 0], grads[:, 1])
        self.loss[t, idx] = values
        self.params[t, idx] = points
        self.grad[t, idx] = norms
        lo, hi = self.box
        ok = (
            np.isfinite(values) & np.isfinite(norms) & (points >= lo).all(1) & (points <= hi).all(1)
        )
        all_ok = ok.all()  # NaN points fail the box test too
        for k, r in enumerate(runs):
            if all_ok or ok[k]:
                self.lr[t, r.index, : r.n_groups] = r.opt.lrs()  # type: ignore[union-attr]
                if r.opt.modal is not None:  # type: ignore[union-attr]
                    self.eval_params[t, r.index] = self._eval_point(r)
                r.steps_done = t + 1
            else:
                self._diverge(r, t)

    @staticmethod
    def _eval_point(r: _Run) -> np.ndarray:
        """Where ``optimizer.eval()`` would put the point now, without touching the run:
        a copy of the optimizer (and its point) switches to eval mode."""
        twin = copy.deepcopy(r.opt.modal)  # type: ignore[union-attr]
        twin.eval()
        return twin.param_groups[0]["params"][0].detach().numpy().copy()

    def _closure_record(self, t: int, r: _Run) -> None:
        value, loss = self._objective(r.xy, t)
        r.xy.grad = None
        loss.backward()
        self._record(t, [r], r.xy.detach().numpy()[None], value.detach().numpy()[None])

    def _update(self, t: int, r: _Run) -> None:
        opt = r.opt
        assert opt is not None
        clip = self.spec.runs[r.index].clip_grad_norm
        try:
            if clip is not None and not opt.needs_closure:
                torch.nn.utils.clip_grad_norm_([r.xy], clip)
            effective = opt.effective_lrs()  # the gradient the step sees is in place
            if r.state is not None and r.xy.grad is not None:
                self.grad_vec[t, r.index] = r.xy.grad.detach().numpy()
            if effective is not None:
                self.effective_lr[t, r.index, : len(effective)] = effective
            if opt.needs_closure:

                @torch.enable_grad()  # some optimizers call the closure under no_grad
                def closure() -> torch.Tensor:
                    opt.optimizer.zero_grad()
                    _, loss = self._objective(r.xy, t)
                    loss.backward()
                    if clip is not None:  # every gradient the optimizer sees is clipped
                        torch.nn.utils.clip_grad_norm_([r.xy], clip)
                    return loss

                # torch types the closure as returning float; it returns the loss tensor
                opt.optimizer.step(closure)  # type: ignore[arg-type]
            else:
                opt.optimizer.step()
            if r.state is not None:
                self._record_state(t, r)
            opt.schedule_step({"loss": float(self.loss[t, r.index])})
        except Exception as exc:
            r.status, r.message = "failed", f"step {t}: {type(exc).__name__}: {exc}"
        # a non-finite point shows up in the next step's record (or in the final value)

    def _record_state(self, t: int, r: _Run) -> None:
        """The optimizer's state after update t and the update itself (record_state)."""
        assert r.state is not None and r.opt is not None
        self.update[t, r.index] = r.xy.detach().numpy() - self.params[t, r.index]
        for name, value in point_state(r.opt.optimizer, r.xy).items():
            if name not in r.state:
                r.state[name] = np.full((self.steps, 2), np.nan)
            r.state[name][t] = value

    def _diverge(self, r: _Run, t: int) -> None:
        r.status, r.diverged_at = "diverged", t
        r.steps_done = min(r.steps_done, t)
        r.message = f"diverged at step {t}: the loss or the point left the finite, bounded region"

    def _finish(self) -> None:
        for r in self.active:
            if r.opt is not None and r.opt.modal is not None:
                r.opt.modal.eval()  # the final point is the one evaluated: the averaged one
            with torch.no_grad():
                value = float(self.problem.value(r.xy[0], r.xy[1]))
            r.final_params = [float(v) for v in r.xy.detach()]
            r.final_loss = value
            if all(np.isfinite(r.final_params)) and np.isfinite(value):
                r.status = "finished"
            else:
                self._diverge(r, self.steps)

    # ------------------------------------------------------------------ output

    def flush(self) -> Batch:
        batch = Batch(progress=self.progress())
        for r in self.runs:
            end = r.steps_done
            if end > r.flushed:
                sl = slice(r.flushed, end)
                n_groups = r.n_groups or 1
                batch.chunks.append(
                    StepChunk(
                        run=r.index,
                        start=r.flushed,
                        loss=self.loss[sl, r.index].copy(),
                        lr=self.lr[sl, r.index, :n_groups].copy(),
                        grad_norm=self.grad[sl, r.index].copy(),
                        time=self.time[sl].copy(),
                        params=self.params[sl, r.index].copy(),
                        eval_params=(
                            self.eval_params[sl, r.index].copy()
                            if r.opt is not None and r.opt.modal is not None
                            else None
                        ),
                        effective_lr=(
                            self.effective_lr[sl, r.index, :n_groups].copy()
                            if r.opt is not None and r.opt.scales_lr
                            else None
                        ),
                        state=(
                            {k: v[sl].copy() for k, v in r.state.items()}
                            if r.state is not None
                            else None
                        ),
                        update=self.update[sl, r.index].copy() if r.state is not None else None,
                        grad=self.grad_vec[sl, r.index].copy() if r.state is not None else None,
                    )
                )
                r.flushed = end
            news = r.news()
            if news is not None:
                batch.statuses.append(news)
        return batch

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.clock_state(),
            "t": self.t,
            "runs": [{**r.state_dict(), "xy": r.xy.detach().clone()} for r in self.runs],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: records before ``t`` are already stored elsewhere."""
        self.t = state["t"]
        self.restore_clock(state)
        for r, saved in zip(self.runs, state["runs"], strict=True):
            with torch.no_grad():
                r.xy.copy_(saved["xy"])
            r.load_state_dict(saved)
            r.flushed = r.steps_done
        if self.t >= self.steps:
            self._finish()
