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
from optlab.settings import MAX_BATCH_SIZE, max_epochs, max_runs, max_steps


class SpecError(ValueError):
    """An invalid spec: ``errors`` holds (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = [(path, spec_guard.clip(msg)) for path, msg in errors]
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in self.errors))


#: a name longer than this is not looked up (nor quoted in full)
_NAME_CHARS = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Named(BaseModel):
    """A ``name`` plus keyword arguments that a catalogue validates."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def kwargs(self) -> dict[str, Any]:
        """The validated keyword arguments (everything but ``name`` and spec-only keys)."""
        return dict(self.model_extra or {})


def _revalidate(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Validate ``values`` with ``model``; keep only the keys given, in canonical types.

    Strict, as JSON: ``true`` and ``"0.1"`` are not numbers (an integer is a float),
    and lists fill tuples.  ``values`` passed the gate, so they are plain JSON.
    """
    checked = model.model_validate_json(json.dumps(values, allow_nan=False), strict=True)
    return checked.model_dump(include=set(values))


class ProblemSpec(_Named):
    """``name`` plus the problem's own fields (start point, constants, noise…)."""

    @model_validator(mode="wrap")
    @classmethod
    def _check(cls, data: Any, handler: Any) -> ProblemSpec:
        spec = handler(data)
        if len(spec.name) > _NAME_CHARS:
            raise _name_error(spec.name, f"unknown problem {spec_guard.quote(spec.name)}")
        try:
            problem = problems.get_problem(spec.name)
        except ValueError as exc:
            raise _name_error(spec.name, str(exc)) from None
        spec.name = problem.name
        fields = _revalidate(problem.Params, spec.kwargs)
        spec.__pydantic_extra__ = fields
        return spec

    def build(self) -> problems.Problem:
        cls = problems.get_problem(self.name)
        return cls(cls.Params.model_validate(self.kwargs))


class OptimizerSpec(_Named):
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
            raise _name_error(spec.name, str(exc)) from None
        kwargs = dict(spec.model_extra or {})
        inner = kwargs.pop("optimizer", None)
        info = optimizers.get_info(spec.name)
        if info.wraps_optimizer:
            if inner is None:
                raise _field_error(
                    "optimizer", 'Lookahead needs the optimizer it wraps, e.g. {"name": "Adam"}'
                )
            try:
                inner_spec = OptimizerSpec.model_validate(inner, strict=True)
            except ValidationError as exc:  # name the field as runs[0].optimizer.optimizer.lr
                raise ValidationError.from_exception_data(
                    "spec",
                    _line_errors(
                        [
                            {**e, "loc": ("optimizer", *e["loc"]), "msg": _friendly(e)}
                            for e in exc.errors()
                        ]
                    ),
                ) from None
        elif inner is not None:
            raise _field_error("optimizer", f"{spec.name} does not wrap another optimizer")
        values = _revalidate(info.params_model, kwargs)
        _check_work(info, values)
        if info.wraps_optimizer:
            values["optimizer"] = inner_spec
        spec.__pydantic_extra__ = values
        return spec

    @property
    def inner(self) -> OptimizerSpec | None:
        return (self.model_extra or {}).get("optimizer")

    @property
    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k != "optimizer"}


class WarmupSpec(_Strict):
    """Linear warmup before the schedule: ``LinearLR(start_factor → 1, steps)`` then the rest."""

    steps: int = Field(ge=1, description="warmup length in scheduler steps")
    start_factor: float = Field(0.01, gt=0.0, le=1.0)


class SchedulerSpec(_Named):
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
            raise _name_error(spec.name, str(exc)) from None
        info = schedulers.get_info(spec.name)
        if info.composite and not spec.schedulers:
            raise _field_error("schedulers", f"{spec.name} needs a non-empty list of schedulers")
        if not info.composite and spec.schedulers:
            raise _field_error(
                "schedulers",
                f"{spec.name} is not a composite; "
                "only SequentialLR and ChainedScheduler take schedulers",
            )
        if spec.monitor is not None and spec.name != "ReduceLROnPlateau":
            raise _field_error("monitor", "only ReduceLROnPlateau takes monitor")
        spec.__pydantic_extra__ = _revalidate(info.params_model, spec.kwargs)
        if spec.name == "SequentialLR":
            milestones = spec.kwargs.get("milestones", [])
            if len(milestones) != len(spec.schedulers or []) - 1:
                raise _field_error(
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


class RunSpec(_Strict):
    label: str = Field(min_length=1, max_length=60)
    optimizer: OptimizerSpec
    scheduler: SchedulerSpec | None = None
    param_groups: list[ParamGroupSpec] = Field(default_factory=list, max_length=32)
    clip_grad_norm: float | None = Field(
        None, gt=0, description="clip the gradient norm to this value (off when omitted)"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _check_groups(cls, data: Any, handler: Any) -> RunSpec:
        run = handler(data)
        info = optimizers.get_info(
            run.optimizer.inner.name if run.optimizer.inner else run.optimizer.name
        )
        errors = []
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
                group.__pydantic_extra__ = _revalidate(info.params_model, group.overrides)
                _check_work(info, group.overrides)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ("param_groups", i, *err["loc"])
                    errors.append({**err, "loc": loc, "msg": _friendly(err)})
        if run.scheduler is not None:
            for path, msg in schedulers.check_structure(run.scheduler):
                loc = ("scheduler", *[p for p in path.split(".") if p])
                errors.append({"type": "value_error", "loc": loc, "msg": msg, "input": None})
        if errors:
            raise ValidationError.from_exception_data("RunSpec", _line_errors(errors))
        return run


class ExperimentSpec(_Strict):
    name: str = Field("", max_length=200)
    problem: ProblemSpec
    steps: int | None = Field(None, ge=1, description="updates per run (2-D problems)")
    epochs: int | None = Field(None, ge=1, description="passes over the training data (models)")
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    runs: list[RunSpec] = Field(min_length=1)

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

        if cls.kind == "surface":
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
            self.epochs = self.epochs or cls.default_epochs
            self.batch_size = self.batch_size or cls.default_batch_size
        names = self.problem.build().parameter_names()
        for r, run in enumerate(self.runs):
            taken: set[str] = set()
            for g, group in enumerate(run.param_groups):
                where = ("runs", r, "param_groups", g, "params")
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
            if cls.kind == "surface" and getattr(info, "matrix_only", False):
                err(
                    where,
                    f"{info.name} updates matrices only; a 2-D surface has one vector parameter",
                )
            if cls.kind == "surface" and not getattr(info, "supports_float64", True):
                err(where, f"{info.name} does not support float64, which 2-D surfaces use")
            if not info.group_keys and run.param_groups:
                err(("runs", r, "param_groups"), f"{info.name} takes a single parameter group")
            sched = run.scheduler
            if sched and sched.monitor == "val_loss" and cls.kind == "surface":
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
            raise ValidationError.from_exception_data("ExperimentSpec", _line_errors(errors))
        return self

    @property
    def is_surface(self) -> bool:
        return problems.get_problem(self.problem.name).kind == "surface"

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def _line_errors(errors: list[dict[str, Any]]) -> list[Any]:
    from pydantic_core import PydanticCustomError

    out = []
    for e in errors:
        msg = e.get("msg", "invalid value")
        if e.get("type") == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append(
            {
                "type": PydanticCustomError("invalid", "{msg}", {"msg": msg}),
                "loc": tuple(e["loc"]),
                "input": e.get("input"),
            }
        )
    return out


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


def _check_work(info: optimizers.OptimizerInfo, values: dict[str, Any]) -> None:
    """Refuse hyperparameters that size an inner loop or a buffer beyond the server's limits."""
    problems_found = work_limits(info, values)
    if problems_found:
        raise ValidationError.from_exception_data(
            "spec",
            _line_errors(
                [{"loc": (key,), "msg": msg, "input": None} for key, msg in problems_found]
            ),
        )


def _field_error(field: str, msg: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "spec", _line_errors([{"loc": (field,), "msg": msg, "input": None}])
    )


def _name_error(name: str, msg: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "spec", _line_errors([{"loc": ("name",), "msg": msg, "input": name}])
    )


def format_path(loc: tuple[Any, ...]) -> str:
    """('runs', 1, 'optimizer', 'betas') -> 'runs[1].optimizer.betas'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-wrap[_check()]", "function-after[_check()]") or str(
            part
        ).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


_NUMBER_TYPES = ("float_type", "int_type", "int_from_float", "float_parsing", "int_parsing")


def _json_type(value: Any) -> str:
    """How JSON calls the type of ``value`` ("a text", "a list"…), with a short quote."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {spec_guard.quote(value)}"
    if isinstance(value, str):
        return f"the text {spec_guard.quote(value)}"
    return "a list" if isinstance(value, list | tuple) else "an object"


def _friendly(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    kind = err.get("type", "")
    given = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see `python -m optlab list`)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"an object {{…}} is needed here, not {_json_type(given)}"
    if kind == "list_type":
        return f"a list […] is needed here, not {_json_type(given)}"
    if kind == "string_type":
        return f"a text (in quotes) is needed here, not {_json_type(given)}"
    if kind == "bool_type":
        return f"true or false is needed here, not {_json_type(given)}"
    if kind in _NUMBER_TYPES:
        want = "a whole number" if kind.startswith("int") else "a number"
        if isinstance(given, bool):
            return f"{want} is needed; true/false is not a number"
        if isinstance(given, str):
            return f"{want} is needed; {spec_guard.quote(given)} is text (write it without quotes)"
        if isinstance(given, float) and kind.startswith("int"):
            if given.is_integer():
                return f"{want} is needed (write {given:.0f}, not {given!r})"
            return f"{want} is needed, not {given!r}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def spec_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [(format_path(tuple(e["loc"])), _friendly(e)) for e in exc.errors()]


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
