"""The experiment spec: the one input format of the UI, the CLI, share links and export.

Strict pydantic models (unknown keys are errors).  The parts whose keys depend on a
name (an optimizer's keyword arguments, a scheduler's, a problem's fields) are
validated against the catalogues with the same error paths
(``runs[1].optimizer.betas``).  :func:`parse_spec` is the entry point; it raises
:class:`SpecError` whose lines each name a field and say what is allowed.

Outside input passes :mod:`optlab.spec_guard` first (sizes, depth, counts, finite
numbers, before any model is built), then strict validation: booleans and strings
are not numbers.  Hyperparameters that size a step's work or memory are bounded by
server settings (:func:`work_limits`).
"""

from __future__ import annotations

import inspect
import json
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from optlab import problem as problems
from optlab import spec_guard
from optlab.catalog import optimizers, schedulers
from optlab.settings import MAX_BATCH_SIZE, max_epochs, max_runs, max_steps
from optlab.spec_errors import (
    SpecError,
    format_path,
    friendly,
    line_errors,
    spec_errors,
)
from optlab.spec_parts import (
    OptimizerSpec,
    ParamGroupSpec,
    ProblemSpec,
    SchedulerSpec,
    Strict,
    WarmupSpec,
    check_work,
    revalidate,
    work_limits,
)
from optlab.sweep_spec import SweepSpec

__all__ = [
    "ExperimentSpec",
    "OptimizerSpec",
    "ParamGroupSpec",
    "ProblemSpec",
    "RunSpec",
    "SchedulerSpec",
    "SpecError",
    "WarmupSpec",
    "format_path",
    "parse_spec",
    "spec_errors",
    "work_limits",
]


class SharpnessSpec(Strict):
    """Every ``every`` updates, λ_max of the training-loss Hessian by ``iters`` power iterations."""

    every: int = Field(ge=1, description="estimate it before every k-th update")
    iters: int = Field(20, ge=1, le=1000, description="Hessian-vector-product power iterations")


class RunSpec(Strict):
    label: str = Field(min_length=1, max_length=60)
    optimizer: OptimizerSpec
    scheduler: SchedulerSpec | None = None
    param_groups: list[ParamGroupSpec] = Field(default_factory=list, max_length=32)
    clip_grad_norm: float | None = Field(
        None, gt=0, description="clip the gradient norm to this value (off when omitted)"
    )

    scheduler_first: bool = Field(
        False, description="call scheduler.step() before optimizer.step() (PyTorch < 1.1 order)"
    )
    record_state: bool = Field(False, description="record the optimizer's state after each update")
    record_sharpness: SharpnessSpec | None = Field(
        None, description="models: record the top Hessian eigenvalue every k updates"
    )

    @model_serializer(mode="wrap")
    def _omit_instruments_off(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Instrument flags that are off stay out of the JSON (specs read as before)."""
        data = handler(self)
        if isinstance(data, dict):
            for key in ("scheduler_first", "record_state"):
                if data.get(key) is False:
                    del data[key]
        return data

    @model_validator(mode="wrap")
    @classmethod
    def _check_groups(cls, data: Any, handler: Any) -> RunSpec:
        run = handler(data)
        info = optimizers.get_info(
            run.optimizer.inner.name if run.optimizer.inner else run.optimizer.name
        )
        errors: list[dict[str, Any]] = []
        for i, group in enumerate(run.param_groups):
            for key in sorted(set(group.overrides) - info.group_keys):
                allowed = ", ".join(sorted(info.group_keys)) or "none"
                errors.append(
                    {
                        "type": "value_error",
                        "loc": ("param_groups", i, key),
                        "input": None,
                        "msg": f"{info.name} cannot set {key} per group "
                        f"(per-group keys: {allowed})",
                    }
                )
            try:
                group.__pydantic_extra__ = revalidate(info.params_model, group.overrides)
                check_work(info, group.overrides)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ("param_groups", i, *err["loc"])
                    errors.append({**err, "loc": loc, "msg": friendly(err)})
        if run.scheduler_first and (run.scheduler is None or _reads_metric(run.scheduler)):
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("scheduler_first",),
                    "input": None,
                    "msg": "scheduler_first needs a scheduler that does not read the loss "
                    "(not ReduceLROnPlateau)",
                }
            )
        if run.scheduler is not None:
            for path, msg in schedulers.check_structure(run.scheduler):
                loc = ("scheduler", *[p for p in path.split(".") if p])
                errors.append({"type": "value_error", "loc": loc, "msg": msg, "input": None})
        if errors:
            raise ValidationError.from_exception_data("RunSpec", line_errors(errors))
        return run


class ExperimentSpec(Strict):
    name: str = Field("", max_length=200)
    problem: ProblemSpec
    steps: int | None = Field(None, ge=1, description="updates per run (2-D problems)")
    epochs: int | None = Field(None, ge=1, description="passes over the training data (models)")
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    runs: list[RunSpec] = Field(min_length=1)
    sweep: SweepSpec | None = Field(None, description="axes of values: `python -m optlab sweep`")

    @field_validator("steps")
    @classmethod
    def _steps_limit(cls, value: int | None) -> int | None:
        if value is not None and value > max_steps():
            raise ValueError(f"at most {max_steps()} steps on this server (OPTLAB_MAX_STEPS)")
        return value

    @field_validator("epochs")
    @classmethod
    def _epochs_limit(cls, value: int | None) -> int | None:
        if value is not None and value > max_epochs():
            raise ValueError(f"at most {max_epochs()} epochs on this server (OPTLAB_MAX_EPOCHS)")
        return value

    @field_validator("runs")
    @classmethod
    def _runs(cls, runs: list[RunSpec]) -> list[RunSpec]:
        if len(runs) > max_runs():
            raise ValueError(f"at most {max_runs()} runs per experiment (OPTLAB_MAX_RUNS)")
        labels = [r.label for r in runs]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"run labels must be unique; repeated: {', '.join(dupes)}")
        return runs

    @model_validator(mode="after")
    def _fit_problem(self) -> ExperimentSpec:
        cls = problems.get_problem(self.problem.name)
        errors: list[dict[str, Any]] = []

        def err(loc: tuple[Any, ...], msg: str) -> None:
            errors.append({"type": "value_error", "loc": loc, "msg": msg, "input": None})

        surface = issubclass(cls, problems.Surface)
        if surface:
            if self.steps is None:
                self.steps = 500
            for key in ("epochs", "batch_size"):
                if getattr(self, key) is not None:
                    err((key,), f"{self.problem.name} is a 2-D surface: give steps, not {key}")
        else:
            if self.steps is not None:
                err(
                    ("steps",),
                    f"{self.problem.name} trains a model: give epochs and batch_size, not steps",
                )
            assert issubclass(cls, problems.ModelProblem), self.problem.name
            self.epochs = self.epochs or cls.default_epochs
            self.batch_size = self.batch_size or cls.default_batch_size
        names = self.problem.build().parameter_names()
        for r, run in enumerate(self.runs):
            taken: set[str] = set()
            for g, group in enumerate(run.param_groups):
                where: tuple[str | int, ...] = ("runs", r, "param_groups", g, "params")
                for pattern in group.patterns:
                    if not any(fnmatchcase(n, pattern) for n in names):
                        err(
                            where,
                            f"{pattern!r} matches no parameter; parameters are: {', '.join(names)}",
                        )
                mine = {n for n in names if group.matches(n)} - taken
                if not mine and all(any(fnmatchcase(n, p) for n in names) for p in group.patterns):
                    err(
                        where,
                        "every parameter it matches belongs to an earlier group (first match wins)",
                    )
                taken |= mine
            info = optimizers.get_info(
                run.optimizer.inner.name if run.optimizer.inner else run.optimizer.name
            )
            where = ("runs", r, "optimizer", "name")
            if surface and info.matrix_only:
                err(
                    where,
                    f"{info.name} updates matrices only; a 2-D surface has one vector parameter",
                )
            if surface and not info.supports_float64:
                err(where, f"{info.name} does not support float64, which 2-D surfaces use")
            if not info.group_keys and run.param_groups:
                err(("runs", r, "param_groups"), f"{info.name} takes a single parameter group")
            sched = run.scheduler
            if sched is not None:
                n_groups = _group_count(run, names)
                for path, msg in _scheduler_run_errors(sched, info, n_groups):
                    err(("runs", r, "scheduler", *path), msg)
            if surface and run.record_sharpness is not None:
                err(
                    ("runs", r, "record_sharpness"),
                    "record_sharpness is for model problems; on a surface use `optlab analyze`",
                )
            if sched and sched.monitor == "val_loss" and surface:
                err(
                    ("runs", r, "scheduler", "monitor"),
                    "val_loss exists only for model problems; use loss",
                )
            elif sched and sched.monitor == "val_loss" and sched.interval != "epoch":
                err(
                    ("runs", r, "scheduler", "monitor"),
                    "val_loss is measured once per epoch: set interval to epoch",
                )
        if errors:
            raise ValidationError.from_exception_data("ExperimentSpec", line_errors(errors))
        return self

    @property
    def is_surface(self) -> bool:
        return issubclass(problems.get_problem(self.problem.name), problems.Surface)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def _reads_metric(sched: SchedulerSpec) -> bool:
    return sched.name == "ReduceLROnPlateau" or any(
        _reads_metric(s) for s in sched.schedulers or []
    )


def _group_count(run: RunSpec, names: list[str]) -> int:
    """Parameter groups the optimizer ends up with: the groups that train (now or after
    unfreezing), plus the default group when some parameter matches no group."""
    joining = [g for g in run.param_groups if not g.frozen or g.unfreeze_at_step is not None]
    unmatched = [n for n in names if not any(g.matches(n) for g in run.param_groups)]
    return len(joining) + (1 if unmatched else 0)


def _scheduler_run_errors(
    sched: SchedulerSpec, info: optimizers.OptimizerInfo, n_groups: int
) -> list[tuple[tuple[Any, ...], str]]:
    """What torch would refuse only while building or mid-run, given the run's optimizer
    (``info``: the one that steps) and its number of parameter groups."""
    out: list[tuple[tuple[Any, ...], str]] = []
    kwargs = sched.kwargs
    texts = kwargs.get("lr_lambda")
    if isinstance(texts, list) and len(texts) != n_groups:
        out.append(
            (
                ("lr_lambda",),
                f"one lr_lambda per parameter group: the run has {n_groups} group(s) "
                f"(frozen groups that join later included), not {len(texts)}",
            )
        )
    if sched.name in ("CyclicLR", "OneCycleLR") and kwargs.get("cycle_momentum", True):
        signature = inspect.signature(info.cls.__init__).parameters
        if "momentum" not in signature and "betas" not in signature:
            out.append(
                (
                    ("cycle_momentum",),
                    f"{info.name} has neither momentum nor betas to cycle "
                    "(torch's default cycle_momentum is true): set cycle_momentum to false",
                )
            )
    for i, child in enumerate(sched.schedulers or []):
        out += [
            (("schedulers", i, *path), msg)
            for path, msg in _scheduler_run_errors(child, info, n_groups)
        ]
    return out


def check_raw(data: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """The gate alone (:mod:`optlab.spec_guard`): sizes, depth, counts, finite numbers.

    A plain-JSON dict on success, else :class:`SpecError`; nothing is built.
    """
    try:
        value = spec_guard.load_json(data) if isinstance(data, str | bytes) else data
        value = spec_guard.check(value)
    except spec_guard.GateError as exc:
        raise SpecError(exc.errors) from None
    if not isinstance(value, dict):
        raise SpecError([("", "a spec is a JSON object with problem, runs, …")])
    return value


def parse_spec(data: str | bytes | dict[str, Any]) -> ExperimentSpec:
    """Validate a spec given as JSON text or a dict; raises :class:`SpecError`.

    The raw input passes the gate first (:func:`check_raw`), then strict validation:
    booleans and strings are not numbers and every float is finite, so what
    :meth:`ExperimentSpec.to_dict` writes always validates again.
    """
    value = check_raw(data)
    try:
        return ExperimentSpec.model_validate(value, strict=True)
    except ValidationError as exc:
        raise SpecError(spec_errors(exc)) from None
