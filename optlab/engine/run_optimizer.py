"""One run's optimizer, LR schedule and parameter groups, stepped the textbook way.

Both the engine and the schedule preview drive a :class:`RunOptimizer`, so a
preview gives exactly the ``lr`` arrays a real run records.

A group that unfreezes at step k joins with ``optimizer.add_param_group``; the
schedule then covers it too: every group's lr is reset to its ``initial_lr``, the
scheduler is rebuilt on the grown optimizer and replayed for the k scheduler steps
already taken.  Schedules are deterministic, so the old groups' lrs come out
identical and the new group's lr is what it would be had it been there from the
start.  (``ReduceLROnPlateau`` depends on the losses seen, so it is not replayed:
the new group starts at its own lr and gets its own ``min_lr``.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from optlab.catalog import optimizers, schedulers
from optlab.engine.groups import GroupPlan, plan_groups, unfreeze
from optlab.spec import RunSpec


def _innermost_object(optimizer: Any) -> Any:
    """The optimizer a wrapper (Lookahead: ``.optimizer``) steps, at any depth."""
    while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        optimizer = optimizer.optimizer
    return optimizer


@contextmanager
def _quiet_scheduler() -> Iterator[None]:
    """Silence torch's 'scheduler.step() before optimizer.step()' notice during replays."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*lr_scheduler\.step\(\)")
        yield


class BuildError(ValueError):
    """A run's optimizer or scheduler could not be built; ``part`` names which."""

    def __init__(self, part: str, exc: Exception) -> None:
        super().__init__(f"could not build the {part}: {exc}")
        self.part = part


class RunOptimizer:
    def __init__(
        self,
        run: RunSpec,
        named_params: list[tuple[str, torch.Tensor]],
        *,
        scheduler_steps: int,
        optimizer_steps: int | None = None,
    ) -> None:
        """``optimizer_steps``: updates in the run (fills run-length arguments such as
        Ranger21's ``num_iterations``); defaults to ``scheduler_steps``."""
        self.run = run
        self.plan: GroupPlan = plan_groups(run.param_groups, named_params)
        run_steps = optimizer_steps if optimizer_steps is not None else scheduler_steps
        try:
            self.optimizer = optimizers.build_optimizer(
                run.optimizer, [g.as_optimizer_group() for g in self.plan.active], run_steps
            )
        except Exception as exc:
            raise BuildError("optimizer", exc) from exc
        self.total_scheduler_steps = max(1, scheduler_steps)
        self.scheduler_steps_done = 0
        try:
            self.scheduler = self._build_scheduler()
        except Exception as exc:
            raise BuildError("scheduler", exc) from exc
        self.interval = run.scheduler.interval if run.scheduler else "step"
        self.monitor = (run.scheduler.monitor or "loss") if run.scheduler else "loss"
        #: PyTorch < 1.1's order: scheduler.step() before optimizer.step() (spec.py checks
        #: that the schedule does not read the loss)
        self.scheduler_first = run.scheduler_first
        self.joined = len(self.plan.active)
        stepping = optimizers.get_info(optimizers.innermost(run.optimizer).name)
        self.needs_closure = stepping.needs_closure  # Lookahead steps its inner optimizer
        self.modal: Any = _innermost_object(self.optimizer) if stepping.train_eval_modes else None
        self._stepping = stepping
        #: whether the optimizer applies another lr than its groups' (checked once, on the
        #: settings: D-Adaptation, Prodigy, Schedule-Free warm-up, Ranger21's schedule)
        self.scales_lr = (
            stepping.scales_lr
            and stepping.effective_lr(_innermost_object(self.optimizer)) is not None
        )

    # ------------------------------------------------------------------ train/eval modes

    @contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Evaluate at the point the optimizer means to be evaluated at.

        Optimizers with ``train()``/``eval()`` modes (Schedule-Free, SPlus) swap their
        averaged point in on ``eval()`` and back on ``train()``; the rest are untouched.
        """
        if self.modal is None:
            yield
            return
        self.modal.eval()
        try:
            yield
        finally:
            self.modal.train()

    # ------------------------------------------------------------------ groups

    @property
    def group_names(self) -> list[str]:
        return self.plan.names

    @property
    def params(self) -> list[torch.Tensor]:
        """Parameters the optimizer currently trains."""
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def lrs(self) -> list[float]:
        """lr of every group column; NaN for a group that has not joined yet."""
        current = [float(g.get("lr", math.nan)) for g in self.optimizer.param_groups]
        return current + [math.nan] * (len(self.plan.names) - len(current))

    def effective_lrs(self) -> list[float] | None:
        """The lr the next ``step()`` applies per group column (NaN for a group not joined
        yet), or None when it applies the group lrs as they are.  Call it with the step's
        gradient in place (after clipping), right before ``optimizer.step()``."""
        if not self.scales_lr:
            return None
        values = self._stepping.effective_lr(_innermost_object(self.optimizer)) or []
        return [float(v) for v in values] + [math.nan] * (len(self.plan.names) - len(values))

    def join_groups(self, step: int) -> bool:
        """Before update ``step``: add the groups that unfreeze now.  True if any did."""
        joining = self.plan.joining_at(step)
        for group in joining:
            unfreeze(group, self.optimizer)
        if joining:
            self.joined += len(joining)
            self._extend_schedule(len(joining))
        return bool(joining)

    def _extend_schedule(self, added: int) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            default = self.scheduler.default_min_lr
            self.scheduler.min_lrs += [default if default is not None else 0.0] * added
            return
        for group in self.optimizer.param_groups:
            if "initial_lr" in group:
                group["lr"] = group["initial_lr"]
        self.scheduler = self._build_scheduler()
        with _quiet_scheduler():
            for _ in range(self.scheduler_steps_done):
                self.scheduler.step()

    # ------------------------------------------------------------------ scheduling

    def _build_scheduler(self) -> Any:
        if self.run.scheduler is None:
            return None
        with _quiet_scheduler():
            return schedulers.build_scheduler(
                self.run.scheduler, self.optimizer, total_steps=self.total_scheduler_steps
            )

    @property
    def needs_metric(self) -> bool:
        """Whether the schedule reads the loss (ReduceLROnPlateau): only then sync it."""
        return isinstance(self.scheduler, ReduceLROnPlateau)

    def before_update(self, epoch_start: bool = True) -> None:
        """Right before update t (before its lr is read): with ``scheduler_first`` the
        scheduler steps here (every update, or at an epoch's first update for
        interval=epoch), so the schedule's first value is skipped."""
        if self.scheduler_first and (self.interval == "step" or epoch_start):
            self._advance({})

    def schedule_step(self, metrics: dict[str, float]) -> None:
        """One scheduler step (after an update, or at an epoch end for interval=epoch);
        nothing with ``scheduler_first`` (:meth:`before_update` stepped it)."""
        if not self.scheduler_first:
            self._advance(metrics)

    def _advance(self, metrics: dict[str, float]) -> None:
        if self.scheduler is None or self.scheduler_steps_done >= self.total_scheduler_steps:
            return
        with _quiet_scheduler():
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(metrics[self.monitor])
            else:
                self.scheduler.step()
        self.scheduler_steps_done += 1

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scheduler_steps_done": self.scheduler_steps_done,
            "joined": self.joined,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore after construction: re-join the groups that had joined, then load state."""
        for group in self.plan.later[: state["joined"] - len(self.plan.active)]:
            unfreeze(group, self.optimizer)
        self.joined = state["joined"]
        self.scheduler_steps_done = state["scheduler_steps_done"]
        if self.joined > len(self.plan.active):
            self.scheduler = self._build_scheduler()
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
