"""Runs an experiment and yields record batches: the pure core of optlab.

:class:`Experiment` wraps the surface or model runner, picks the device, emits a
:class:`~optlab.engine.records.Batch` about every ``flush_seconds`` (for streaming), and
checkpoints/resumes through ``state_dict`` so a resumed run ends bit-identical on
the CPU.  :func:`run_experiment` collects everything into the result JSON of
docs/architecture.md §5; :func:`preview_schedule` steps only the optimizers' schedules.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from optlab.engine.model_runner import ModelRunner
from optlab.engine.records import Batch, ResultCollector, RunStatus
from optlab.engine.run_optimizer import RunOptimizer
from optlab.engine.surface_runner import SurfaceRunner
from optlab.problem import ModelProblem, Surface
from optlab.spec import ExperimentSpec

CHECKPOINT_VERSION = 1


class DeviceUnavailable(ValueError):
    """The spec asks for a device (cuda, mps) this machine does not have: the user's input."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, else MPS, else CPU.  Asking for a missing device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device 'cuda' was asked for, but no CUDA GPU is available here")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise DeviceUnavailable("device 'mps' was asked for, but MPS is not available here")
    return torch.device(name)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


class Experiment:
    """One experiment's runs, stepped together; iterate :meth:`batches` to run it."""

    def __init__(self, spec: ExperimentSpec, *, device: str | None = None) -> None:
        self.spec = spec
        self.problem = spec.problem.build()
        if isinstance(self.problem, Surface):
            self.device = torch.device("cpu")
            self.runner: SurfaceRunner | ModelRunner = SurfaceRunner(spec, self.problem)
        else:
            assert isinstance(self.problem, ModelProblem)
            self.device = pick_device(device or spec.device)
            self.runner = ModelRunner(spec, self.problem, self.device)
        self._cancel: set[int] | None = set()
        self._started = False

    @property
    def total_steps(self) -> int:
        return self.runner.steps

    @property
    def steps_done(self) -> int:
        return self.runner.t

    @property
    def steps_per_epoch(self) -> int | None:
        """Updates per epoch of a model problem; None for a surface (it has no epochs)."""
        return self.runner.steps_per_epoch if isinstance(self.runner, ModelRunner) else None

    def cancel(self, runs: set[int] | None = None) -> None:
        """Cancel some runs (indices) or, with None, all of them; takes effect next step."""
        if runs is None:
            self._cancel = None
        elif self._cancel is not None:
            self._cancel |= set(runs)

    def start_batch(self) -> Batch:
        """Statuses of every run at the start (running, or failed to build)."""
        batch = Batch(progress=self.runner.progress())
        for i, r in enumerate(self.runner.runs):
            if r.status == "running":
                batch.statuses.append(
                    RunStatus(
                        i, "running", groups=self.runner.group_names(i), steps_done=r.steps_done
                    )
                )
        return batch

    def batches(self, flush_seconds: float = 0.05) -> Iterator[Batch]:
        """Run to the end, yielding what was recorded about every ``flush_seconds``.

        Between two yields the caller may :meth:`cancel` or take a :meth:`state_dict`.
        """
        yield self.start_batch()
        last = time.perf_counter()
        runner = self.runner
        while not runner.done():
            if self._cancel is None or self._cancel:
                runner.cancel(self._cancel)
                self._cancel = set()
                continue
            runner.step()
            now = time.perf_counter()
            if now - last >= flush_seconds:
                last = now
                batch = runner.flush()
                if not batch.empty():
                    yield batch
        yield runner.flush()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue; take it between batches (after a flush)."""
        return {
            "version": CHECKPOINT_VERSION,
            "spec": self.spec.to_dict(),
            "runner": self.runner.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError("checkpoint from another optlab version; start the experiment again")
        self.runner.load_state_dict(state["runner"])
        torch.set_rng_state(state["torch_rng"])

    def checkpoint_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        return buffer.getvalue()

    @classmethod
    def resume(
        cls, spec: ExperimentSpec, checkpoint: bytes, *, device: str | None = None
    ) -> Experiment:
        exp = cls(spec, device=device)
        state = torch.load(io.BytesIO(checkpoint), map_location=exp.device, weights_only=False)
        exp.load_state_dict(state)
        return exp


def run_experiment(
    spec: ExperimentSpec,
    *,
    device: str | None = None,
    on_batch: Callable[[Batch, Experiment], None] | None = None,
) -> dict[str, Any]:
    """Run ``spec`` to the end and return the result JSON (docs/architecture.md §5)."""
    exp = Experiment(spec, device=device)
    collector = ResultCollector([r.label for r in spec.runs])
    for batch in exp.batches():
        collector.add(batch)
        if on_batch is not None:
            on_batch(batch, exp)
    return {
        "spec": spec.to_dict(),
        "device": device_label(exp.device),
        "runs": collector.run_dicts(),
    }


def _steps_per_epoch(spec: ExperimentSpec, problem: ModelProblem) -> int:
    n_train = problem.train_size(spec.seed)
    return math.ceil(n_train / int(spec.batch_size or problem.default_batch_size))


def preview_schedule(spec: ExperimentSpec) -> dict[str, Any]:
    """Every run's lr per group per update, without computing a gradient.

    The same :class:`RunOptimizer` the engine drives steps here, so the arrays equal
    what a real run records.  ``ReduceLROnPlateau`` depends on the losses: the
    preview feeds it a flat loss (no improvement), i.e. its most eager reductions.
    """
    problem = spec.problem.build()
    if isinstance(problem, Surface):
        steps, per_epoch = int(spec.steps or 0), 1

        def make_params() -> list[tuple[str, torch.Tensor]]:
            return [("xy", torch.zeros(2, dtype=torch.float64, requires_grad=True))]
    else:
        assert isinstance(problem, ModelProblem)
        per_epoch = _steps_per_epoch(spec, problem)
        steps = int(spec.epochs or problem.default_epochs) * per_epoch
        torch.manual_seed(spec.seed)
        model = problem.build_model()

        def make_params() -> list[tuple[str, torch.Tensor]]:
            return [(n, p.detach().clone().requires_grad_()) for n, p in model.named_parameters()]

    runs = []
    for run in spec.runs:
        interval = (
            run.scheduler.interval
            if run.scheduler and isinstance(problem, ModelProblem)
            else "step"
        )
        opt = RunOptimizer(
            run,
            make_params(),
            scheduler_steps=steps if interval == "step" else steps // per_epoch,
            optimizer_steps=steps,
        )
        lrs = []
        for t in range(steps):
            opt.join_groups(t)
            opt.before_update(epoch_start=t % per_epoch == 0)
            lrs.append(opt.lrs())
            if interval == "step" or (t + 1) % per_epoch == 0:
                opt.schedule_step({"loss": 1.0, "val_loss": 1.0})
        runs.append(
            {
                "label": run.label,
                "status": "finished",
                "groups": opt.group_names,
                "lr": [[v if math.isfinite(v) else None for v in row] for row in lrs],
            }
        )
    return {"spec": spec.to_dict(), "runs": runs}
