"""What the surface and model runners share: one run's state and the lockstep loop's bookkeeping."""

from __future__ import annotations

import time
from typing import Any

from optlab.engine.records import RunStatus
from optlab.engine.run_optimizer import BuildError, RunOptimizer

_SAVED = ("status", "message", "diverged_at", "steps_done", "final_loss", "final_params")


class RunState:
    """One run: its optimizer (None if it could not be built), status and final values."""

    def __init__(self, index: int, opt: RunOptimizer | None, error: str) -> None:
        self.index, self.opt = index, opt
        self.status = "running" if opt is not None else "failed"
        self.message = error
        self.diverged_at: int | None = None
        self.steps_done = 0  # updates recorded
        self.final_loss: float | None = None
        self.final_params: list[float] | None = None
        self.reported = False
        self.n_groups = len(opt.group_names) if opt is not None else 0

    @property
    def group_names(self) -> list[str]:
        return self.opt.group_names if self.opt is not None else []

    def record(self) -> RunStatus:
        return RunStatus(
            run=self.index,
            status=self.status,  # type: ignore[arg-type]
            message=self.message,
            diverged_at=self.diverged_at,
            final_loss=self.final_loss,
            final_params=self.final_params,
            groups=self.group_names,
            steps_done=self.steps_done,
        )

    def news(self) -> RunStatus | None:
        """The status record once, when the run has left ``running``."""
        if self.status == "running" or self.reported:
            return None
        self.reported = True
        return self.record()

    def state_dict(self) -> dict[str, Any]:
        state = {key: getattr(self, key) for key in _SAVED}
        state["opt"] = self.opt.state_dict() if self.opt is not None else None
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in _SAVED:
            setattr(self, key, state.get(key))
        if self.opt is not None and state["opt"] is not None:
            self.opt.load_state_dict(state["opt"])
        self.reported = self.status != "running"


def build_run_optimizer(
    run: Any,
    named_params: list[tuple[str, Any]],
    scheduler_steps: int,
    optimizer_steps: int | None = None,
) -> tuple[RunOptimizer | None, str]:
    """The run's optimizer, or None and why (naming the optimizer or the scheduler):
    a bad combination fails only that run."""
    try:
        opt = RunOptimizer(
            run, named_params, scheduler_steps=scheduler_steps, optimizer_steps=optimizer_steps
        )
        return opt, ""
    except BuildError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"could not set up the run: {exc}"


class LockstepRunner:
    """Bookkeeping shared by the runners: ``runs``, ``t`` (updates taken), ``steps``."""

    runs: list[Any]
    t: int
    steps: int
    started: float  # perf_counter() at the start; record times count from here

    def clock_state(self) -> dict[str, float]:
        return {"elapsed": time.perf_counter() - self.started}

    def restore_clock(self, state: dict[str, Any]) -> None:
        """A resumed run's times go on from the checkpoint's, not from zero."""
        self.started = time.perf_counter() - float(state.get("elapsed", 0.0))

    @property
    def active(self) -> list[Any]:
        return [r for r in self.runs if r.status == "running"]

    def done(self) -> bool:
        return self.t >= self.steps or not self.active

    def progress(self) -> float:
        return self.t / max(1, self.steps)

    def group_names(self, index: int) -> list[str]:
        return self.runs[index].group_names

    def cancel(self, runs: set[int] | None) -> None:
        for r in self.active:
            if runs is None or r.index in runs:
                r.status, r.message = "cancelled", f"cancelled at step {self.t}"
