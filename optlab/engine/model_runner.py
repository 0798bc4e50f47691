"""Trains one model per run on the same data, in lockstep, the textbook way.

Paired runs: every run starts from the same initial weights (one model built
under the seed, deep-copied) and sees the same minibatches in the same order
(one permutation per epoch from a generator seeded by (seed, epoch); the batch,
augmentation included, is built once per step and shared).  The dataset is one
tensor on the device and batches are index slices: no DataLoader, no per-sample
Python (docs/architecture.md §3).  Per-step losses stay on the device until a flush, so the
GPU path does not sync on every step.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import numpy as np
import torch

from optlab.engine.lockstep import LockstepRunner, RunState, build_run_optimizer
from optlab.engine.opt_state import group_state_norms
from optlab.engine.records import Batch, EpochMetrics, StepChunk
from optlab.engine.run_optimizer import RunOptimizer
from optlab.engine.sharpness import top_eigenvalue
from optlab.problem import ModelProblem
from optlab.spec import ExperimentSpec

EVAL_BATCH = 1024


class _Run(RunState):
    def __init__(self, index: int, model: torch.nn.Module, opt: RunOptimizer | None, error: str):
        super().__init__(index, opt, error)
        self.model = model
        #: (step, loss, grad norm, lrs, time, effective lrs or None), per update not flushed yet
        self.pending: list[
            tuple[int, torch.Tensor, torch.Tensor, list[float], float, list[float] | None]
        ] = []
        self.epochs: list[EpochMetrics] = []
        self.epoch_loss_sum: torch.Tensor | float = 0.0
        #: per pending update: state norms after it (record_state), sharpness before it
        self.instruments: list[tuple[dict[str, dict[str, torch.Tensor]] | None, Any]] = []


class ModelRunner(LockstepRunner):
    def __init__(self, spec: ExperimentSpec, problem: ModelProblem, device: torch.device) -> None:
        self.spec, self.problem, self.device = spec, problem, device
        self.data = problem.load_data(device, spec.seed)
        self.batch_size = int(spec.batch_size or problem.default_batch_size)
        self.epochs = int(spec.epochs or problem.default_epochs)
        self.n_train = self.data.n_train
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.steps = self.epochs * self.steps_per_epoch
        self.t = 0
        self.started = time.perf_counter()
        self.perm: torch.Tensor | None = None
        self.aug = torch.Generator(device=device)
        #: record_sharpness: the fixed batch its Hessian is taken on (built when first used)
        self.fixed_batch: tuple[torch.Tensor, torch.Tensor] | None = None
        torch.manual_seed(spec.seed)
        base = problem.build_model()
        self.runs: list[_Run] = []
        for i, run in enumerate(spec.runs):
            model = problem.prepare_model(copy.deepcopy(base), device)
            model.train()
            interval = run.scheduler.interval if run.scheduler else "step"
            sched_steps = self.epochs if interval == "epoch" else self.steps
            opt, error = build_run_optimizer(
                run, list(model.named_parameters()), sched_steps, self.steps
            )
            self.runs.append(_Run(i, model, opt, error))

    # ------------------------------------------------------------------ stepping

    @property
    def epoch(self) -> int:
        return self.t // self.steps_per_epoch

    def _epoch_permutation(self, epoch: int) -> None:
        gen = torch.Generator(device=self.device).manual_seed(self.spec.seed * 1_000_003 + epoch)
        self.perm = torch.randperm(self.n_train, generator=gen, device=self.device)
        self.aug.manual_seed(self.spec.seed * 7_919 + epoch)

    def batch_at(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch of update ``t`` (call in order: a new epoch reseeds the order)."""
        b = t % self.steps_per_epoch
        if b == 0 or self.perm is None:
            self._epoch_permutation(t // self.steps_per_epoch)
        assert self.perm is not None
        index = self.perm[b * self.batch_size : (b + 1) * self.batch_size]
        return self.problem.batch(self.data, index, train=True, generator=self.aug)

    def step(self) -> None:
        t, b = self.t, self.t % self.steps_per_epoch
        x, y = self.batch_at(t)
        elapsed = time.perf_counter() - self.started
        for r in self.active:
            try:
                self._update(r, t, x, y, elapsed)
            except Exception as exc:
                r.status, r.message = "failed", f"step {t}: {type(exc).__name__}: {exc}"
        self.t += 1
        if b == self.steps_per_epoch - 1:
            self._end_epoch(self.epoch - 1)
        if self.t >= self.steps:
            self._finish()

    def _update(self, r: _Run, t: int, x: torch.Tensor, y: torch.Tensor, elapsed: float) -> None:
        opt = r.opt
        assert opt is not None
        opt.join_groups(t)
        opt.before_update(epoch_start=t % self.steps_per_epoch == 0)
        lrs = opt.lrs()
        clip = self.spec.runs[r.index].clip_grad_norm

        def forward_backward() -> torch.Tensor:
            opt.optimizer.zero_grad()
            loss = self.problem.loss(r.model(x), y)
            loss.backward()
            return loss

        @torch.enable_grad()  # some optimizers call the closure under no_grad
        def closure() -> torch.Tensor:
            loss = forward_backward()
            if clip is not None:  # every gradient the optimizer sees is clipped
                torch.nn.utils.clip_grad_norm_([p for p in opt.params if p.grad is not None], clip)
            return loss

        sharp = self._sharpness(r, t)
        loss = forward_backward()
        params = [p for p in opt.params if p.grad is not None]
        if clip is not None and not opt.needs_closure:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        effective = opt.effective_lrs()  # the gradient the step sees is in place
        if opt.needs_closure:
            # torch types the closure as returning float; it returns the loss tensor
            opt.optimizer.step(closure)  # type: ignore[arg-type]
        else:
            opt.optimizer.step()
        loss = loss.detach()
        r.epoch_loss_sum = r.epoch_loss_sum + loss * y.shape[0]
        r.pending.append((t, loss, norm.detach(), lrs, elapsed, effective))
        run = self.spec.runs[r.index]
        if run.record_state or run.record_sharpness is not None:
            norms = group_state_norms(opt.optimizer, opt.group_names) if run.record_state else None
            r.instruments.append((norms, sharp))
        if opt.interval == "step":
            opt.schedule_step({"loss": float(loss)} if opt.needs_metric else {})

    def _sharpness(self, r: _Run, t: int) -> torch.Tensor | None:
        """λ_max before update t, every ``record_sharpness.every`` updates (else None)."""
        every = self.spec.runs[r.index].record_sharpness
        if every is None or t % every.every:
            return None
        assert r.opt is not None
        if self.fixed_batch is None:
            index = torch.arange(min(self.batch_size, self.n_train), device=self.device)
            self.fixed_batch = self.problem.batch(self.data, index, train=False)
        x, y = self.fixed_batch
        gen = torch.Generator(device=self.device).manual_seed(self.spec.seed * 7_727 + t)
        r.model.eval()
        try:
            return top_eigenvalue(
                lambda: self.problem.loss(r.model(x), y), r.opt.params, every.iters, gen
            )
        finally:
            r.model.train()

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> tuple[float, float | None]:
        """Validation loss (mean) and accuracy (classification) over the whole val set."""
        model.eval()
        n = int(self.data.val_x.shape[0])
        total, correct = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for start in range(0, n, EVAL_BATCH):
            index = torch.arange(start, min(n, start + EVAL_BATCH), device=self.device)
            x, y = self.problem.batch(self.data, index, train=False)
            out = model(x)
            total += self.problem.loss(out, y) * y.shape[0]
            if self.problem.task == "classification":
                correct += (out.argmax(dim=1) == y).sum()
        model.train()
        acc = float(correct) / n if self.problem.task == "classification" else None
        return float(total) / n, acc

    def _end_epoch(self, epoch: int) -> None:
        for r in self.active:
            train_loss = float(r.epoch_loss_sum) / self.n_train
            r.epoch_loss_sum = 0.0
            if not math.isfinite(train_loss):
                continue  # the flush marks the divergence with its step
            assert r.opt is not None
            with r.opt.eval_mode():  # Schedule-Free & co.: validate at the averaged point
                val_loss, val_acc = self.evaluate(r.model)
            elapsed = time.perf_counter() - self.started
            r.epochs.append(
                EpochMetrics(r.index, epoch + 1, train_loss, val_loss, val_acc, elapsed)
            )
            r.final_loss = val_loss
            assert r.opt is not None
            if r.opt.interval == "epoch":
                r.opt.schedule_step({"loss": train_loss, "val_loss": val_loss})

    def _finish(self) -> None:
        for r in self.active:
            r.status = "finished"

    # ------------------------------------------------------------------ output

    def _chunk(self, r: _Run) -> StepChunk | None:
        if not r.pending:
            return None
        steps = [p[0] for p in r.pending]
        loss = torch.stack([p[1] for p in r.pending]).float().cpu().numpy().astype(np.float64)
        norm = torch.stack([p[2] for p in r.pending]).float().cpu().numpy().astype(np.float64)
        lr = np.array([p[3] for p in r.pending], dtype=np.float64)
        times = np.array([p[4] for p in r.pending])
        effective = (
            np.array([p[5] for p in r.pending], dtype=np.float64)
            if r.opt is not None and r.opt.scales_lr
            else None
        )
        r.pending = []
        state_norms, sharpness = self._instrument_arrays(r, len(steps))
        bad = np.flatnonzero(~np.isfinite(loss))
        if bad.size and r.status in ("running", "finished"):
            cut = int(bad[0])
            r.status, r.diverged_at = "diverged", steps[cut]
            r.message = f"diverged at step {steps[cut]}: the loss became non-finite"
            r.epochs = [m for m in r.epochs if m.epoch * self.steps_per_epoch <= steps[cut]]
            loss, norm, lr, times = loss[:cut], norm[:cut], lr[:cut], times[:cut]
            effective = effective[:cut] if effective is not None else None
            if state_norms is not None:
                state_norms = {
                    g: {k: v[:cut] for k, v in names.items()} for g, names in state_norms.items()
                }
            sharpness = sharpness[:cut] if sharpness is not None else None
        if not len(loss):
            return None
        r.steps_done = steps[0] + len(loss)
        return StepChunk(
            r.index,
            steps[0],
            loss,
            lr,
            norm,
            times,
            effective_lr=effective,
            state_norms=state_norms,
            sharpness=sharpness,
        )

    def _instrument_arrays(
        self, r: _Run, n: int
    ) -> tuple[dict[str, dict[str, np.ndarray]] | None, np.ndarray | None]:
        """The pending state norms and sharpness values as arrays (one copy to the host)."""
        run = self.spec.runs[r.index]
        pending, r.instruments = r.instruments, []
        where: list[tuple[str, str, int]] = []
        values: list[torch.Tensor] = []
        for i, (norms, _) in enumerate(pending):
            for g, names in (norms or {}).items():
                for k, v in names.items():
                    where.append((g, k, i))
                    values.append(v.to(torch.float64) if v.device.type == "cpu" else v.float())
        host = torch.stack(values).cpu().numpy() if values else np.zeros(0)
        state_norms: dict[str, dict[str, np.ndarray]] | None = None
        if run.record_state:
            state_norms = {}
            for (g, k, i), value in zip(where, host, strict=True):
                series = state_norms.setdefault(g, {})
                if k not in series:
                    series[k] = np.full(n, np.nan)
                series[k][i] = value
        sharpness = None
        if run.record_sharpness is not None:
            sharpness = np.array(
                [float(s) if s is not None else np.nan for _, s in pending], dtype=np.float64
            )
        return state_norms, sharpness

    def flush(self) -> Batch:
        batch = Batch(progress=self.progress())
        for r in self.runs:
            chunk = self._chunk(r)
            if chunk is not None:
                batch.chunks.append(chunk)
            batch.epochs += r.epochs
            r.epochs = []
            news = r.news()
            if news is not None:
                batch.statuses.append(news)
        return batch

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Call right after :meth:`flush` (nothing pending)."""
        return {
            **self.clock_state(),
            "t": self.t,
            "aug": self.aug.get_state(),
            "runs": [
                {
                    **r.state_dict(),
                    "model": copy.deepcopy(r.model.state_dict()),
                    "epoch_loss_sum": r.epoch_loss_sum,
                }
                for r in self.runs
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t = state["t"]
        self.restore_clock(state)
        if self.t % self.steps_per_epoch:
            self._epoch_permutation(self.epoch)
        self.aug.set_state(state["aug"])
        for r, saved in zip(self.runs, state["runs"], strict=True):
            r.model.load_state_dict(saved["model"])
            r.load_state_dict(saved)
            r.epoch_loss_sum = saved["epoch_loss_sum"]
