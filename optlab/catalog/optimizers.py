"""The optimizer catalogue: every usable ``torch.optim`` optimizer plus ``pytorch_optimizer``'s.

Hyperparameters are read from the real classes (``inspect.signature`` and the docstrings'
``Args:`` sections) and curated where it matters (ranges, log scale, help in
:mod:`optlab.catalog._optimizer_docs`), so the UI form, the spec validation and the call that builds
the optimizer agree with the library installed.  :data:`EXCLUDED` records, with a reason,
every optimizer left out.  Torch and ``pytorch_optimizer`` are imported on first use only.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from optlab.catalog import _effective_lr
from optlab.catalog import _optimizer_docs as docs
from optlab.catalog import _optimizer_facts as facts
from optlab.catalog._optimizer_facts import EXCLUDED
from optlab.catalog._signature_help import _arg_help, _kind
from optlab.catalog.hyperparams import HyperParam, params_model

if TYPE_CHECKING:
    import torch

TORCH_NAMES = (
    "SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Adagrad", "Adadelta", "RMSprop",
    "Rprop", "ASGD", "LBFGS", "Adafactor", "Muon",
)  # fmt: skip

_SKIP = frozenset({"self", "params", "model", "optimizer", "capturable", "differentiable"})
_NOT_PER_GROUP = frozenset({"foreach", "fused"})


@dataclass(frozen=True)
class OptimizerInfo:
    """One optimizer: its class, hyperparameters and the facts the engine and UI rely on.

    ``elementwise``: each element's update depends only on that element's history for every
    setting, so B runs can share one (B, 2) tensor.  ``matrix_only``: rejects non-2-D
    parameters.  ``supports_float64``: steps float64 parameters (2-D surfaces use them).
    """

    name: str
    source: Literal["torch", "pytorch_optimizer"]
    cls: type[Any]
    params: dict[str, HyperParam]
    elementwise: bool
    needs_closure: bool
    wraps_optimizer: bool
    description: str
    update_rule: str
    group_keys: frozenset[str]
    matrix_only: bool = False
    supports_float64: bool = True
    #: the class has ``train()``/``eval()`` modes (Schedule-Free, SPlus): evaluation must
    #: happen in eval mode, at the averaged point (detected from the class, not the name)
    train_eval_modes: bool = False

    @cached_property
    def params_model(self) -> type[BaseModel]:
        """Strict pydantic model of :attr:`params` (built on first use: ~3 ms each)."""
        return params_model(f"{self.name}Params", self.params)

    @property
    def scales_lr(self) -> bool:
        """The optimizer may apply another lr than its groups' (see :meth:`effective_lr`)."""
        return self.name in _effective_lr.ACCESSORS

    def effective_lr(self, optimizer: Any) -> list[float] | None:
        """The lr each group's next ``step()`` applies, read from ``optimizer`` (this class,
        its gradient in place): D-Adaptation/Prodigy ``d·lr``, Schedule-Free's warm-up,
        Ranger21's warm-up/warm-down (:mod:`optlab.catalog._effective_lr`).  None when this
        optimizer, with its settings, applies the group ``lr`` as is.
        """
        accessor = _effective_lr.ACCESSORS.get(self.name)
        return None if accessor is None else accessor(optimizer)

    @property
    def qualified_name(self) -> str:
        """``torch.optim.Adam`` or ``pytorch_optimizer.Lion``: the import path for codegen."""
        return (
            f"torch.optim.{self.name}" if self.source == "torch" else f"{self.source}.{self.name}"
        )


def _fit_default(hp: HyperParam) -> HyperParam:
    """Widen a curated range that the library's own default falls outside of."""
    raw = hp.default if isinstance(hp.default, tuple | list) else [hp.default]
    values = [v for v in raw if isinstance(v, int | float) and not isinstance(v, bool)]
    changes: dict[str, Any] = {}
    lo, hi = hp.minimum, hp.maximum
    if lo is not None and any(v < lo or (v == lo and hp.exclusive_minimum) for v in values):
        exact = all(v >= lo for v in values)
        changes.update(minimum=lo if exact else None, exclusive_minimum=False)
    if hi is not None and any(v > hi or (v == hi and hp.exclusive_maximum) for v in values):
        exact = all(v <= hi for v in values)
        changes.update(maximum=hi if exact else None, exclusive_maximum=False)
    if hp.log_scale and any(v <= 0 for v in values):
        changes["log_scale"] = False
    return dataclasses.replace(hp, **changes) if changes else hp


def _hyperparam(opt: str, cls: type, p: inspect.Parameter, doc_help: str) -> HyperParam | None:
    if p.name in _SKIP or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
        return None
    generic = docs.PARAM_HINTS.get(p.name, {})
    special = docs.OPT_PARAM_HINTS.get((opt, p.name), {})
    hint = {**generic, **special}
    default = hint.pop("default", p.default)
    if default is inspect.Parameter.empty:
        return None
    ann = "" if p.annotation is inspect.Parameter.empty else str(p.annotation)
    fields = _kind(default, ann, cls, p.name, hint)
    if not fields:
        return None
    suffix = fields.pop("help_suffix", "")
    help_text = special.get("help") or doc_help or generic.get("help", "")
    hint.pop("help", None)
    hint.pop("kind", None)
    hint.pop("choices", None)
    if fields["kind"] not in ("float", "int", "floats", "ints"):
        hint = {k: v for k, v in hint.items() if k not in ("minimum", "maximum", "log_scale")}
    nullable = fields.get("default") is None or "None" in ann or "Optional" in ann
    hp = HyperParam(name=p.name, **fields, **hint, nullable=nullable, help=help_text + suffix)
    return _fit_default(hp)


def _describe(cls: type) -> str:
    lines = (inspect.getdoc(cls) or "").strip().splitlines()
    return lines[0].strip() if lines else cls.__name__


def _info(
    name: str, source: Literal["torch", "pytorch_optimizer"], cls: type[Any]
) -> OptimizerInfo:
    helps = _arg_help(inspect.getdoc(cls) or "")
    params: dict[str, HyperParam] = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        hp = _hyperparam(name, cls, p, helps.get(p.name, ""))
        if hp is not None:
            params[p.name] = hp
    wraps = name == "Lookahead"
    single = wraps or name in facts.SINGLE_GROUP
    not_per_group = _NOT_PER_GROUP | set(facts.OBJECT_LEVEL_PARAMS.get(name, "").split())
    if source == "pytorch_optimizer":
        not_per_group |= {"maximize"}
    return OptimizerInfo(
        name=name,
        source=source,
        cls=cls,
        params=params,
        elementwise=name in facts.ELEMENTWISE,
        needs_closure=name in facts.NEEDS_CLOSURE,
        wraps_optimizer=wraps,
        description=docs.DESCRIPTIONS.get(name) or _describe(cls),
        update_rule=docs.UPDATE_RULES.get(name, ""),
        group_keys=frozenset() if single else frozenset(params) - not_per_group,
        matrix_only=name in facts.MATRIX_ONLY,
        supports_float64=name not in facts.NO_FLOAT64,
        train_eval_modes=callable(getattr(cls, "eval", None))
        and callable(getattr(cls, "train", None)),
    )


@lru_cache(maxsize=1)
def catalogue() -> dict[str, OptimizerInfo]:
    """Every available optimizer, keyed by canonical name (torch first, then the rest A-Z)."""
    import pytorch_optimizer
    import torch.optim

    out: dict[str, OptimizerInfo] = {}
    for name in TORCH_NAMES:
        cls = getattr(torch.optim, name, None)
        if cls is not None:
            out[name] = _info(name, "torch", cls)
    taken = {n.lower() for n in out}
    extra: dict[str, type] = {"Lookahead": pytorch_optimizer.Lookahead}
    for key in pytorch_optimizer.get_supported_optimizers():
        cls = pytorch_optimizer.load_optimizer(key)
        qualified = f"pytorch_optimizer.{cls.__name__}"
        if qualified in EXCLUDED or cls.__module__.startswith("torch.") or key in taken:
            continue
        extra[cls.__name__] = cls
    for name in sorted(extra, key=str.lower):
        out[name] = _info(name, "pytorch_optimizer", extra[name])
    return out


@lru_cache(maxsize=1)
def _by_lower() -> dict[str, str]:
    return {name.lower(): name for name in catalogue()}


def canonical_name(name: str) -> str:
    """The catalogue's spelling of ``name`` (case-insensitive); ValueError with a suggestion."""
    index = _by_lower()
    key = name.strip().lower()
    if key in index:
        return index[key]
    if len(key) > 100:  # not a name: neither searched for a near one nor quoted in full
        raise ValueError(f"unknown optimizer {_quote(name)} (`python -m optlab list` shows all)")
    for qualified, reason in EXCLUDED.items():
        if qualified.rsplit(".", 1)[1].lower() == key:
            raise ValueError(f"optimizer {name!r} is not available in optlab: {reason}")
    close = difflib.get_close_matches(key, list(index), n=1, cutoff=0.6)
    hint = f"; did you mean {index[close[0]]}?" if close else ""
    raise ValueError(f"unknown optimizer {name!r}{hint} (`python -m optlab list` shows all)")


def _quote(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}… ({len(text):,} characters)"


#: hyperparameter name -> "inner" | "matrix" | "history": what of a step's work or memory
#: it sizes (the spec bounds each by a server setting)
WORK_SIZING: dict[str, str] = facts.WORK_SIZING


def get_info(name: str) -> OptimizerInfo:
    """The catalogue entry for ``name`` (any case)."""
    return catalogue()[canonical_name(name)]


class OptimizerSpecLike(Protocol):
    """What :func:`build_optimizer` reads from an ``optlab.spec.OptimizerSpec``."""

    @property
    def name(self) -> str: ...
    @property
    def kwargs(self) -> dict[str, Any]: ...
    @property
    def inner(self) -> OptimizerSpecLike | None: ...


#: Arguments that mean "how many steps the run lasts": when a spec leaves one out, the run's
#: number of optimizer steps fills it (the same rule as ``OneCycleLR.total_steps``).
RUN_LENGTH_PARAMS: dict[str, tuple[str, ...]] = {"Ranger21": ("num_iterations",)}


def innermost(spec: OptimizerSpecLike) -> OptimizerSpecLike:
    """The optimizer that really steps: Lookahead's inner one (at any depth), else ``spec``."""
    while spec.inner is not None:
        spec = spec.inner
    return spec


def _checked(info: OptimizerInfo, values: dict[str, Any]) -> dict[str, Any]:
    """Validate ``values`` with the strict model; sequences become tuples, as torch expects."""
    model = info.params_model.model_validate(values)
    out = {}
    for key in values:
        value = getattr(model, key)
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def call_kwargs(
    info: OptimizerInfo, kwargs: dict[str, Any], run_steps: int | None = None
) -> dict[str, Any]:
    """The keyword arguments the class is called with: checked, plus optlab's required defaults.

    ``run_steps``: how many optimizer steps the run takes; it fills the run-length arguments
    (:data:`RUN_LENGTH_PARAMS`) the spec leaves out.
    """
    values = _checked(info, kwargs)
    for key in RUN_LENGTH_PARAMS.get(info.name, ()):
        if values.get(key) is None:  # without a run (a probe for .defaults): one step
            values[key] = max(1, int(run_steps or 1))
    signature = inspect.signature(info.cls.__init__).parameters
    for key, hp in info.params.items():  # defaults optlab supplies for required arguments
        if key not in values and signature[key].default is inspect.Parameter.empty:
            values[key] = hp.default
    return values


def _group(info: OptimizerInfo, group: dict[str, Any]) -> dict[str, Any]:
    overrides = {k: v for k, v in group.items() if k not in ("params", "name")}
    unknown = sorted(set(overrides) - info.group_keys)
    if unknown:
        allowed = ", ".join(sorted(info.group_keys)) or "none"
        raise ValueError(
            f"{info.name} cannot set {', '.join(unknown)} per param group (allowed: {allowed})"
        )
    return {**group, **_checked(info, overrides)}


def build_optimizer(
    spec: OptimizerSpecLike,
    param_groups: list[dict[str, Any]],
    run_steps: int | None = None,
) -> torch.optim.Optimizer:
    """Construct the optimizer a spec names on ``param_groups`` (dicts ``{"params": […], …}``).

    Lookahead builds its inner optimizer on the groups and wraps it.  ``run_steps``: the
    run's number of optimizer steps, for the run-length arguments (:data:`RUN_LENGTH_PARAMS`).
    """
    info = get_info(spec.name)
    kwargs = call_kwargs(info, spec.kwargs, run_steps)
    if info.wraps_optimizer:
        if spec.inner is None:
            raise ValueError(f"{info.name} needs the optimizer it wraps")
        return info.cls(build_optimizer(spec.inner, param_groups, run_steps), **kwargs)
    if len(param_groups) > 1 and info.name in facts.SINGLE_GROUP:
        raise ValueError(f"{info.name} takes a single parameter group (no per-group settings)")
    return info.cls([_group(info, g) for g in param_groups], **kwargs)
