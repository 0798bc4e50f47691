"""LR-scheduler catalogue and builder: every ``torch.optim.lr_scheduler`` class, from a spec.

The catalogue says which keyword arguments a user sets for each scheduler (with
defaults, ranges and help) so the UI, the CLI and the engine validate alike.
:func:`build_scheduler` turns a :class:`~optlab.spec.SchedulerSpec` into the real torch
scheduler, built exactly as a PyTorch user writes it (children first, then the
composite), so previews and runs give the lrs that plain PyTorch gives.

Defaults are torch's own, so a spec and a user's loop with the same keyword arguments
behave alike (``cycle_momentum`` is True, as in torch; the spec refuses it, naming the
field, for an optimizer without ``momentum`` or ``betas``).  The one argument torch
cannot default, ``OneCycleLR.total_steps``, is filled with the number of times the run
steps the scheduler when the spec leaves it out (as ``Ranger21.num_iterations`` is
filled with the run's steps: ``optimizers.RUN_LENGTH_PARAMS``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, Field
from torch.optim import Optimizer
from torch.optim import lr_scheduler as lrs

from optlab.catalog._scheduler_docs import DESCRIPTIONS, FORMULAS, PARAMS
from optlab.catalog.hyperparams import HyperParam, params_model
from optlab.catalog.safe_expr import compile_expr

Scheduler = lrs.LRScheduler | lrs.ReduceLROnPlateau
COMPOSITES = ("SequentialLR", "ChainedScheduler")


class WarmupLike(Protocol):
    """A linear warmup: ``steps`` long, from ``start_factor`` of the lr."""

    @property
    def steps(self) -> int: ...
    @property
    def start_factor(self) -> float: ...


class SchedulerSpec(Protocol):
    """What the builder reads from a scheduler spec (``optlab.spec.SchedulerSpec``).

    A protocol, so the catalogue sits below the spec and never imports it.
    """

    @property
    def name(self) -> str: ...
    @property
    def kwargs(self) -> dict[str, Any]: ...
    @property
    def interval(self) -> str: ...
    @property
    def monitor(self) -> str | None: ...
    @property
    def warmup(self) -> WarmupLike | None: ...
    @property
    def schedulers(self) -> Sequence[SchedulerSpec] | None: ...


@dataclass(frozen=True)
class SchedulerInfo:
    """What the UI and the spec need to know about one scheduler class."""

    name: str
    cls: type
    params: dict[str, HyperParam]
    params_model: type[BaseModel]
    composite: bool
    description: str
    formula: str


# ---- lr_lambda as a safe expression -------------------------------------------------------


@lru_cache(maxsize=256)
def _compiled(text: str) -> Callable[..., float]:
    return compile_expr(text, ["epoch"])


class ExprLambda:
    """A picklable ``lr_lambda``: a safe arithmetic expression of ``epoch``.

    Its ``__dict__`` holds only the text, so ``LambdaLR.state_dict()`` stores a plain
    string (torch saves callable objects' ``__dict__``) and ``load_state_dict`` restores it.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, epoch: int) -> float:
        return float(_compiled(self.text)(epoch=epoch))

    def __repr__(self) -> str:
        return f"ExprLambda({self.text!r})"


def _check_expr(first_epoch: int) -> Callable[[str | list[str]], str | list[str]]:
    """A validator compiling each expression and trying it at the first epoch torch uses."""

    def check(value: str | list[str]) -> str | list[str]:
        for text in [value] if isinstance(value, str) else value:
            expr = _compiled(text)  # ExprError is a ValueError: pydantic reports its message
            try:
                result = float(expr(epoch=first_epoch))
            except (ArithmeticError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{exc} (at epoch {first_epoch}, where the schedule starts)"
                ) from None
            if not math.isfinite(result):
                raise ValueError(f"{text!r} is not a finite number at epoch {first_epoch}")
        return value

    return check


def _increasing(values: list[int]) -> list[int]:
    if any(b <= a for a, b in pairwise(values)):
        raise ValueError(f"milestones must be strictly increasing, e.g. [30, 60, 90]; got {values}")
    return values


def _validated(
    name: str, key: str, check: Callable[[Any], Any], ann: Any = None
) -> tuple[Any, Any]:
    """The pydantic field of ``name``'s ``key`` with an extra check (params_model's ``extra``)."""
    base, field = next(hp for hp in PARAMS[name] if hp.name == key).field()
    return Annotated[ann or base, AfterValidator(check)], field


# ---- the catalogue ------------------------------------------------------------------------

_LAMBDA_TYPE = str | Annotated[list[str], Field(min_length=1)]

_EXTRA: dict[str, dict[str, tuple[Any, Any]]] = {
    "LambdaLR": {"lr_lambda": _validated("LambdaLR", "lr_lambda", _check_expr(0), _LAMBDA_TYPE)},
    "MultiplicativeLR": {
        "lr_lambda": _validated("MultiplicativeLR", "lr_lambda", _check_expr(1), _LAMBDA_TYPE)
    },
    "MultiStepLR": {"milestones": _validated("MultiStepLR", "milestones", _increasing)},
    "SequentialLR": {"milestones": _validated("SequentialLR", "milestones", _increasing)},
}


def _make_info(name: str) -> SchedulerInfo:
    params = {hp.name: hp for hp in PARAMS[name]}
    return SchedulerInfo(
        name=name,
        cls=getattr(lrs, name),
        params=params,
        params_model=params_model(f"{name}Params", params, _EXTRA.get(name)),
        composite=name in COMPOSITES,
        description=DESCRIPTIONS[name],
        formula=FORMULAS[name],
    )


_CATALOGUE: dict[str, SchedulerInfo] = {name: _make_info(name) for name in PARAMS}
_LOWER = {name.lower(): name for name in _CATALOGUE}


def catalogue() -> dict[str, SchedulerInfo]:
    """Every ``torch.optim.lr_scheduler`` class, by its torch name."""
    return dict(_CATALOGUE)


def canonical_name(name: str) -> str:
    """The torch spelling of ``name`` (case-insensitive); ValueError suggests a near name."""
    found = _LOWER.get(name.strip().lower())
    if found:
        return found
    if len(name) > 100:  # not a name: neither searched for a near one nor quoted in full
        shown = f"{name[:60]!r}… ({len(name):,} characters)"
        raise ValueError(f"unknown scheduler {shown}; known: {', '.join(_CATALOGUE)}")
    near = difflib.get_close_matches(name.strip().lower(), list(_LOWER), n=1, cutoff=0.5)
    hint = f"did you mean {_LOWER[near[0]]}? " if near else ""
    raise ValueError(f"unknown scheduler {name!r}; {hint}known: {', '.join(_CATALOGUE)}")


def get_info(name: str) -> SchedulerInfo:
    return _CATALOGUE[canonical_name(name)]


# ---- building -----------------------------------------------------------------------------


def check_structure(spec: SchedulerSpec, path: str = "") -> list[tuple[str, str]]:
    """Errors torch would raise only while building, as (field path, message) pairs."""
    errors: list[tuple[str, str]] = []
    plateau = spec.name == "ReduceLROnPlateau"
    if plateau and spec.warmup is not None:
        errors.append(
            (f"{path}warmup", "ReduceLROnPlateau cannot take a warmup (it steps on a metric)")
        )
    if spec.name == "OneCycleLR" and (spec.kwargs.get("epochs") is None) != (
        spec.kwargs.get("steps_per_epoch") is None
    ):
        errors.append(
            (f"{path}epochs", "give epochs and steps_per_epoch together (or total_steps)")
        )
    for i, child in enumerate(spec.schedulers or []):
        where = f"{path}schedulers[{i}]."
        if child.name == "ReduceLROnPlateau":
            errors.append((f"{where}name", f"{spec.name} cannot hold ReduceLROnPlateau"))
        # the defaults (interval "step", no monitor) are fine: to_dict() writes them out
        for key, default in (("interval", "step"), ("monitor", None)):
            if getattr(child, key) != default:
                errors.append((f"{where}{key}", f"set {key} on the outer {spec.name} only"))
        errors.extend(check_structure(child, where))
    return errors


def build_scheduler(spec: SchedulerSpec, optimizer: Optimizer, *, total_steps: int) -> Scheduler:
    """The torch scheduler for ``spec`` on ``optimizer``; ``total_steps``: how often it steps.

    ReduceLROnPlateau comes back as is (the caller passes the metric to ``step``).
    """
    errors = check_structure(spec)
    if errors:
        raise ValueError("; ".join(f"{where}: {msg}" for where, msg in errors))
    return _build(spec, optimizer, total_steps)


def _build(spec: SchedulerSpec, optimizer: Optimizer, budget: int) -> Scheduler:
    if spec.warmup is None:
        return _build_bare(spec, optimizer, budget)
    steps = spec.warmup.steps
    warm = lrs.LinearLR(
        optimizer, start_factor=spec.warmup.start_factor, end_factor=1.0, total_iters=steps
    )
    main = _build_bare(spec, optimizer, budget - steps)
    return lrs.SequentialLR(optimizer, schedulers=[warm, main], milestones=[steps])


def _build_bare(spec: SchedulerSpec, optimizer: Optimizer, budget: int) -> Scheduler:
    """``spec`` without its warmup; ``budget``: how many times this scheduler is stepped."""
    kwargs = dict(spec.kwargs)
    name = spec.name
    if name == "SequentialLR":
        marks = [0, *kwargs["milestones"], budget]
        children = [
            _build(child, optimizer, marks[i + 1] - marks[i])
            for i, child in enumerate(spec.schedulers or [])
        ]
        return lrs.SequentialLR(optimizer, schedulers=children, milestones=kwargs["milestones"])
    if name == "ChainedScheduler":
        children = [_build(child, optimizer, budget) for child in spec.schedulers or []]
        return lrs.ChainedScheduler(children, optimizer=optimizer)
    if name in ("LambdaLR", "MultiplicativeLR"):
        texts = kwargs["lr_lambda"]
        kwargs["lr_lambda"] = (
            ExprLambda(texts) if isinstance(texts, str) else [ExprLambda(t) for t in texts]
        )
    elif name == "OneCycleLR":
        _onecycle_defaults(kwargs, optimizer, budget)
    return get_info(name).cls(optimizer, **kwargs)


def _onecycle_defaults(kwargs: dict[str, Any], optimizer: Optimizer, budget: int) -> None:
    """Fill OneCycleLR's run-dependent defaults in place (codegen uses it too)."""
    by_epochs = kwargs.get("epochs") is not None and kwargs.get("steps_per_epoch") is not None
    if kwargs.get("total_steps") is None and not by_epochs:
        kwargs["total_steps"] = max(budget, 1)
    length = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    if length < budget:
        raise ValueError(
            f"OneCycleLR lasts {length} steps but the run steps it {budget} times; "
            "leave total_steps out to fit the run"
        )


def scheduler_steps(
    interval: str, steps: int | None, epochs: int | None, steps_per_epoch: int | None
) -> int:
    """How many times ``scheduler.step()`` is called in a run.

    ``interval="step"``: once per update (``steps``, or ``epochs × steps_per_epoch``).
    ``interval="epoch"``: once per epoch; a 2-D surface has no data, so there an
    epoch is one update.
    """
    if interval == "step":
        if steps is not None:
            return steps
        if epochs is not None and steps_per_epoch is not None:
            return epochs * steps_per_epoch
    elif interval == "epoch":
        if epochs is not None:
            return epochs
        if steps is not None:
            return steps
    else:
        raise ValueError(f"interval must be 'step' or 'epoch', not {interval!r}")
    raise ValueError("give steps, or epochs and steps_per_epoch")


# ---- text ---------------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def describe(spec: SchedulerSpec) -> str:
    """Short human text, e.g. ``SequentialLR(LinearLR → CosineAnnealingLR @50)``."""
    text = _describe(spec, top=True)
    if spec.interval == "epoch":
        text += " per epoch"
    if spec.monitor:
        text += f" on {spec.monitor}"
    return text


def _describe(spec: SchedulerSpec, top: bool) -> str:
    kwargs = spec.kwargs
    if spec.name == "SequentialLR":
        parts = [_describe(c, top=False) for c in spec.schedulers or []]
        marks = kwargs.get("milestones", [])
        inner = parts[0] + "".join(f" → {p} @{m}" for p, m in zip(parts[1:], marks, strict=False))
        text = f"SequentialLR({inner})"
    elif spec.name == "ChainedScheduler":
        text = (
            "ChainedScheduler("
            + " + ".join(_describe(c, top=False) for c in spec.schedulers or [])
            + ")"
        )
    elif top:
        args = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items())
        text = f"{spec.name}({args})"
    else:
        text = spec.name
    if spec.warmup is not None:
        text = f"warmup {spec.warmup.steps} → {text}"
    return text
