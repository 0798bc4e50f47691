"""The named parts of a spec: problem, optimizer, warmup, scheduler, parameter group.

A part's keys depend on its ``name`` (an optimizer's keyword arguments, a problem's
fields), so each validates them against the catalogues, strictly and with the same
error paths as the rest of the spec.  Hyperparameters that size a step's work or
memory are bounded by server settings (:func:`work_limits`).
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from optlab import problem as problems
from optlab import settings, spec_guard
from optlab.catalog import optimizers, schedulers
from optlab.spec_errors import field_error, friendly, line_errors, name_error

#: a name longer than this is not looked up (nor quoted in full)
NAME_CHARS = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Named(BaseModel):
    """A ``name`` plus keyword arguments that a catalogue validates."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def kwargs(self) -> dict[str, Any]:
        """The validated keyword arguments (everything but ``name`` and spec-only keys)."""
        return dict(self.model_extra or {})


def revalidate(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Validate ``values`` with ``model``; keep only the keys given, in canonical types.

    Strict, as JSON: ``true`` and ``"0.1"`` are not numbers (an integer is a float),
    and lists fill tuples.  ``values`` passed the gate, so they are plain JSON.
    """
    checked = model.model_validate_json(json.dumps(values, allow_nan=False), strict=True)
    return checked.model_dump(include=set(values))


class ProblemSpec(Named):
    """``name`` plus the problem's own fields (start point, constants, noise…)."""

    @model_validator(mode="wrap")
    @classmethod
    def _check(cls, data: Any, handler: Any) -> ProblemSpec:
        spec = handler(data)
        if len(spec.name) > NAME_CHARS:
            raise name_error(spec.name, f"unknown problem {spec_guard.quote(spec.name)}")
        try:
            problem = problems.get_problem(spec.name)
        except ValueError as exc:
            raise name_error(spec.name, str(exc)) from None
        spec.name = problem.name
        fields = revalidate(problem.Params, spec.kwargs)
        spec.__pydantic_extra__ = fields
        return spec

    def build(self) -> problems.Problem:
        cls = problems.get_problem(self.name)
        return cls(cls.Params.model_validate(self.kwargs))


class OptimizerSpec(Named):
    """``name`` (case-insensitive) plus the optimizer's keyword arguments, as in PyTorch.

    ``Lookahead`` takes the optimizer it wraps as ``optimizer`` (itself a spec).
    """

    @model_validator(mode="wrap")
    @classmethod
    def _check(cls, data: Any, handler: Any) -> OptimizerSpec:
        spec = handler(data)
        try:
            spec.name = optimizers.canonical_name(spec.name)
        except ValueError as exc:
            raise name_error(spec.name, str(exc)) from None
        kwargs = dict(spec.model_extra or {})
        inner = kwargs.pop("optimizer", None)
        inner_spec: OptimizerSpec | None = None  # the wrapped optimizer (Lookahead's)
        info = optimizers.get_info(spec.name)
        if info.wraps_optimizer:
            if inner is None:
                raise field_error(
                    "optimizer", 'Lookahead needs the optimizer it wraps, e.g. {"name": "Adam"}'
                )
            try:
                inner_spec = OptimizerSpec.model_validate(inner, strict=True)
            except ValidationError as exc:  # name the field as runs[0].optimizer.optimizer.lr
                raise ValidationError.from_exception_data(
                    "spec",
                    line_errors(
                        [
                            {**e, "loc": ("optimizer", *e["loc"]), "msg": friendly(e)}
                            for e in exc.errors()
                        ]
                    ),
                ) from None
        elif inner is not None:
            raise field_error("optimizer", f"{spec.name} does not wrap another optimizer")
        values = revalidate(info.params_model, kwargs)
        check_work(info, values)
        if inner_spec is not None:
            values["optimizer"] = inner_spec
        spec.__pydantic_extra__ = values
        return spec

    @property
    def inner(self) -> OptimizerSpec | None:
        return (self.model_extra or {}).get("optimizer")

    @property
    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k != "optimizer"}


class WarmupSpec(Strict):
    """Linear warmup before the schedule: ``LinearLR(start_factor → 1, steps)`` then the rest."""

    steps: int = Field(ge=1, description="warmup length in scheduler steps")
    start_factor: float = Field(0.01, gt=0.0, le=1.0)


class SchedulerSpec(Named):
    """``name`` plus the scheduler's keyword arguments.

    Composites (``SequentialLR``, ``ChainedScheduler``) nest ``schedulers``;
    ``interval`` says whether it steps after every update or every epoch;
    ``ReduceLROnPlateau`` watches ``monitor``; ``warmup`` prepends a linear warmup.
    """

    interval: Literal["step", "epoch"] = "step"
    monitor: Literal["loss", "val_loss"] | None = None
    warmup: WarmupSpec | None = None
    schedulers: list[SchedulerSpec] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _check(cls, data: Any, handler: Any) -> SchedulerSpec:
        spec = handler(data)
        try:
            spec.name = schedulers.canonical_name(spec.name)
        except ValueError as exc:
            raise name_error(spec.name, str(exc)) from None
        info = schedulers.get_info(spec.name)
        if info.composite and not spec.schedulers:
            raise field_error("schedulers", f"{spec.name} needs a non-empty list of schedulers")
        if not info.composite and spec.schedulers:
            raise field_error(
                "schedulers",
                f"{spec.name} is not a composite; "
                "only SequentialLR and ChainedScheduler take schedulers",
            )
        if spec.monitor is not None and spec.name != "ReduceLROnPlateau":
            raise field_error("monitor", "only ReduceLROnPlateau takes monitor")
        spec.__pydantic_extra__ = revalidate(info.params_model, spec.kwargs)
        if spec.name == "SequentialLR":
            milestones = spec.kwargs.get("milestones", [])
            if len(milestones) != len(spec.schedulers or []) - 1:
                raise field_error(
                    "milestones",
                    "SequentialLR needs exactly len(schedulers) - 1 = "
                    f"{len(spec.schedulers or []) - 1} milestones",
                )
        return spec


class ParamGroupSpec(BaseModel):
    """Parameters selected by glob(s) over ``named_parameters()`` names, with overrides.

    Every other key overrides that optimizer hyperparameter for the group (``lr``,
    ``weight_decay``, ``momentum``, ``betas``…).  ``frozen`` keeps the group out of
    training; with ``unfreeze_at_step`` it joins the optimizer at that step.
    """

    model_config = ConfigDict(extra="allow")
    params: str | list[str]
    frozen: bool = False
    unfreeze_at_step: int | None = Field(None, ge=1)

    @field_validator("params")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        patterns = [value] if isinstance(value, str) else value
        if not patterns or any(not p.strip() for p in patterns):
            raise ValueError("give a glob such as 'fc*' or '*.bias' (or a list of them)")
        return value

    @model_validator(mode="after")
    def _unfreeze_needs_frozen(self) -> ParamGroupSpec:
        if self.unfreeze_at_step is not None and not self.frozen:
            raise ValueError("unfreeze_at_step needs frozen: true")
        return self

    @property
    def patterns(self) -> list[str]:
        return [self.params] if isinstance(self.params, str) else list(self.params)

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def matches(self, name: str) -> bool:
        return any(fnmatchcase(name, p) for p in self.patterns)


_WORK_LIMITS = {
    "inner": (
        settings.max_inner_iterations,
        "OPTLAB_MAX_INNER_ITERATIONS",
        "it bounds the loss evaluations of one step",
    ),
    "matrix": (
        settings.max_matrix_iterations,
        "OPTLAB_MAX_MATRIX_ITERATIONS",
        "it sets the iterations of a matrix routine in every step",
    ),
    "history": (
        settings.max_history,
        "OPTLAB_MAX_HISTORY",
        "it sets how many vectors as large as the parameters are kept",
    ),
}


def work_limits(info: optimizers.OptimizerInfo, values: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for each hyperparameter in ``values`` that sizes the work of a step
    or the memory kept beyond this server's limit (:data:`optimizers.WORK_SIZING`)."""
    out = []
    for key, value in values.items():
        kind = optimizers.WORK_SIZING.get(key)
        if kind is None or key not in info.params or not isinstance(value, int):
            continue
        limit_of, env, why = _WORK_LIMITS[kind]
        limit = limit_of()
        if value > limit:
            out.append((key, f"at most {limit:,} on this server ({env}); {why}"))
    return out


def check_work(info: optimizers.OptimizerInfo, values: dict[str, Any]) -> None:
    """Refuse hyperparameters that size an inner loop or a buffer beyond the server's limits."""
    problems_found = work_limits(info, values)
    if problems_found:
        raise ValidationError.from_exception_data(
            "spec",
            line_errors(
                [{"loc": (key,), "msg": msg, "input": None} for key, msg in problems_found]
            ),
        )
