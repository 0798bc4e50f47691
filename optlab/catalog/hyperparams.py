"""Hyperparameter descriptions shared by the optimizer and scheduler catalogues.

One :class:`HyperParam` says what a keyword argument is (type, default, range,
log scale, help).  The UI renders form fields from it and :func:`params_model`
turns a set of them into a strict pydantic model, so the UI, the CLI and the
engine validate with the same rules and the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

Kind = Literal["float", "int", "bool", "choice", "str", "floats", "ints"]


@dataclass(frozen=True)
class HyperParam:
    """One keyword argument of an optimizer or scheduler.

    ``floats``/``ints`` are sequences (``length`` fixed, or any length when None),
    e.g. Adam's ``betas`` or MultiStepLR's ``milestones``.  ``nullable`` allows
    ``None`` (PyTorch's "unset", e.g. ``foreach``).  ``floats_or_scalar`` accepts a
    number or a per-group list (CyclicLR's ``base_lr``).
    """

    name: str
    kind: Kind
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    log_scale: bool = False
    choices: tuple[Any, ...] | None = None
    length: int | None = None
    nullable: bool = False
    required: bool = False
    floats_or_scalar: bool = False
    help: str = ""

    def range_text(self) -> str:
        """'0 ≤ x < 1'-style text of the allowed range, for help and errors."""
        lo = (
            ""
            if self.minimum is None
            else f"{self.minimum} {'<' if self.exclusive_minimum else '≤'} "
        )
        hi = (
            ""
            if self.maximum is None
            else f" {'<' if self.exclusive_maximum else '≤'} {self.maximum}"
        )
        return f"{lo}{self.name}{hi}" if (lo or hi) else ""

    def _bounds(self) -> dict[str, float]:
        bounds: dict[str, float] = {}
        if self.minimum is not None:
            bounds["gt" if self.exclusive_minimum else "ge"] = self.minimum
        if self.maximum is not None:
            bounds["lt" if self.exclusive_maximum else "le"] = self.maximum
        return bounds

    def annotation(self) -> Any:
        """The pydantic type of this hyperparameter (bounds included)."""
        # Any values: pydantic's Field overloads cannot be matched by a ``**dict[str, float]``
        bounds: dict[str, Any] = self._bounds()
        if self.kind == "float":
            ann: Any = Annotated[float, Field(allow_inf_nan=False, **bounds)]
            if self.floats_or_scalar:
                ann = ann | list[ann]
        elif self.kind == "int":
            ann = Annotated[int, Field(strict=False, **bounds)]
        elif self.kind == "bool":
            ann = bool
        elif self.kind == "str":
            ann = str
        elif self.kind == "choice":
            assert self.choices, self.name
            ann = Literal[self.choices]
        elif self.kind in ("floats", "ints"):
            item: Any = (
                Annotated[float, Field(allow_inf_nan=False, **bounds)]
                if self.kind == "floats"
                else Annotated[int, Field(**bounds)]
            )
            size: dict[str, Any] = (
                {}
                if self.length is None
                else {"min_length": self.length, "max_length": self.length}
            )
            ann = Annotated[list[item], Field(**size)]
        else:  # pragma: no cover - Kind is closed
            raise ValueError(self.kind)
        return ann | None if self.nullable else ann

    def field(self) -> tuple[Any, Any]:
        description = self.help or None
        if self.required:
            return self.annotation(), Field(..., description=description)
        default = list(self.default) if isinstance(self.default, tuple) else self.default
        return self.annotation(), Field(default, description=description)


class _StrictParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def params_model(
    title: str, params: dict[str, HyperParam], extra: dict[str, tuple[Any, Any]] | None = None
) -> type[BaseModel]:
    """A strict pydantic model with one field per hyperparameter (plus ``extra`` fields)."""
    fields: dict[str, Any] = {name: hp.field() for name, hp in params.items()}
    fields.update(extra or {})
    return create_model(title, __base__=_StrictParams, **fields)
