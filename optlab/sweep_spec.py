"""The ``sweep`` part of an experiment spec: axes of values substituted into every run.

Strict pydantic models like :mod:`optlab.spec` (unknown keys are errors).  This layer
knows only the forms of the axes; which paths exist and which values a run accepts
is checked by :func:`optlab.engine.sweep_plan.plan`, which knows the experiment.

Axis forms (``axis.values()`` gives the grid points, both ends included):

- a non-empty list of values;
- ``{"log": [lo, hi], "num": n}`` (numpy ``geomspace``; both ends > 0);
- ``{"linear": [lo, hi], "num": n}`` (numpy ``linspace``);
- ``{"range": [a, b]}``: the integers a ≤ k < b;
- for ``problem.start`` only: ``{"grid": [[x0, x1], [y0, y1]], "num": [nx, ny]}``.

``random`` and ``halton`` modes draw ``trials`` points per run from the same ranges
(log axes in log space, lists and ranges uniformly over their items) with the spec's
seed, so every run gets the same draws.  ``seeds`` is a shorthand for an extra ``seed``
axis, always crossed with the other points.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

MAX_AXIS_POINTS = 1_000_000
START_AXIS = "problem.start"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _finite(*values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError("the ends must be finite numbers")


class LogAxis(_Strict):
    log: tuple[float, float]
    num: int = Field(ge=1, le=MAX_AXIS_POINTS)

    @model_validator(mode="after")
    def _positive(self) -> LogAxis:
        _finite(*self.log)
        if min(self.log) <= 0:
            raise ValueError(f"a log range needs positive ends; got {list(self.log)}")
        return self


class LinearAxis(_Strict):
    linear: tuple[float, float]
    num: int = Field(ge=1, le=MAX_AXIS_POINTS)

    @model_validator(mode="after")
    def _ends(self) -> LinearAxis:
        _finite(*self.linear)
        return self


class RangeAxis(_Strict):
    range: tuple[int, int]

    @model_validator(mode="after")
    def _order(self) -> RangeAxis:
        a, b = self.range
        if not a < b:
            raise ValueError(
                f"range [a, b] gives the integers a <= k < b: needs a < b, got {a}, {b}"
            )
        if b - a > MAX_AXIS_POINTS:
            raise ValueError(f"at most {MAX_AXIS_POINTS} points per axis")
        return self


class GridAxis(_Strict):
    grid: tuple[tuple[float, float], tuple[float, float]]
    num: tuple[int, int]

    @model_validator(mode="after")
    def _check(self) -> GridAxis:
        _finite(*self.grid[0], *self.grid[1])
        if min(self.num) < 1:
            raise ValueError(f"num [nx, ny] must be at least 1 each; got {list(self.num)}")
        if self.num[0] * self.num[1] > MAX_AXIS_POINTS:
            raise ValueError(f"at most {MAX_AXIS_POINTS} points per axis")
        return self


_FORMS: dict[str, type[_Strict]] = {
    "log": LogAxis,
    "linear": LinearAxis,
    "range": RangeAxis,
    "grid": GridAxis,
}
_ALLOWED = (
    'a non-empty list of values, {"log": [lo, hi], "num": n}, {"linear": [lo, hi], "num": n}, '
    '{"range": [a, b]} or (problem.start) {"grid": [[x0, x1], [y0, y1]], "num": [nx, ny]}'
)


def _parse_form(value: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"an axis needs at least one value; give {_ALLOWED}")
        if len(value) > MAX_AXIS_POINTS:
            raise ValueError(f"at most {MAX_AXIS_POINTS} points per axis")
        return list(value)
    if isinstance(value, AxisSpec):
        return value.root
    if isinstance(value, dict):
        kinds = [k for k in _FORMS if k in value]
        if len(kinds) == 1:
            try:
                return _FORMS[kinds[0]].model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                msg = str(first["msg"]).removeprefix("Value error, ")
                if first["type"] == "extra_forbidden":
                    msg = f"unknown key; give {_ALLOWED}"
                raise ValueError(f"{where}: {msg}" if where else msg) from None
    raise ValueError(f"give {_ALLOWED}")


class AxisSpec(RootModel[list[Any] | LogAxis | LinearAxis | RangeAxis | GridAxis]):
    """One axis: a list of values or a generated range (see the module docstring)."""

    @field_validator("root", mode="plain")
    @classmethod
    def _form(cls, value: Any) -> Any:
        return _parse_form(value)

    @model_serializer(mode="plain")
    def _dump(self) -> Any:
        """The form as written: a list, or the form's object."""
        root = self.root
        return list(root) if isinstance(root, list) else root.model_dump(mode="json")

    @property
    def kind(self) -> Literal["list", "log", "linear", "range", "grid"]:
        root = self.root
        if isinstance(root, list):
            return "list"
        if isinstance(root, LogAxis):
            return "log"
        if isinstance(root, LinearAxis):
            return "linear"
        if isinstance(root, RangeAxis):
            return "range"
        return "grid"

    @property
    def count(self) -> int:
        """Number of grid points."""
        root = self.root
        if isinstance(root, list):
            return len(root)
        if isinstance(root, RangeAxis):
            return root.range[1] - root.range[0]
        if isinstance(root, GridAxis):
            return root.num[0] * root.num[1]
        return root.num

    @property
    def dims(self) -> int:
        """Uniform numbers one random draw takes (2 for a start grid)."""
        return 2 if isinstance(self.root, GridAxis) else 1

    def values(self) -> list[Any]:
        """The grid points as Python values (a start grid: x varies fastest)."""
        root = self.root
        if isinstance(root, list):
            return list(root)
        if isinstance(root, LogAxis):
            return [float(v) for v in np.geomspace(root.log[0], root.log[1], root.num)]
        if isinstance(root, LinearAxis):
            return [float(v) for v in np.linspace(root.linear[0], root.linear[1], root.num)]
        if isinstance(root, RangeAxis):
            return list(range(*root.range))
        (x0, x1), (y0, y1) = root.grid
        xs = [float(v) for v in np.linspace(x0, x1, root.num[0])]
        ys = [float(v) for v in np.linspace(y0, y1, root.num[1])]
        return [(x, y) for y in ys for x in xs]

    def draw(self, u: np.ndarray) -> list[Any]:
        """Values for uniform numbers ``u`` of shape (n, dims) in [0, 1)."""
        root = self.root
        col = u[:, 0]
        if isinstance(root, list):
            idx = np.minimum((col * len(root)).astype(int), len(root) - 1)
            return [root[int(i)] for i in idx]
        if isinstance(root, LogAxis):
            lo, hi = math.log(root.log[0]), math.log(root.log[1])
            return [float(v) for v in np.exp(lo + col * (hi - lo))]
        if isinstance(root, LinearAxis):
            lo, hi = root.linear
            return [float(v) for v in lo + col * (hi - lo)]
        if isinstance(root, RangeAxis):
            a, b = root.range
            return [int(v) for v in np.minimum(a + (col * (b - a)).astype(int), b - 1)]
        (x0, x1), (y0, y1) = root.grid
        xs, ys = x0 + u[:, 0] * (x1 - x0), y0 + u[:, 1] * (y1 - y0)
        return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]

    def ends(self) -> list[Any]:
        """The extreme values (corners of a start grid): what plan() validates first."""
        root = self.root
        if isinstance(root, GridAxis):
            (x0, x1), (y0, y1) = root.grid
            return [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
        if isinstance(root, list):
            return list(root)
        vals = self.values() if self.count <= 2 else [self.values()[0], self.values()[-1]]
        return vals


class TuneSpec(_Strict):
    """Equal-budget protocol: each run's ``trials`` draws, then its best re-run with seeds."""

    trials: int = Field(ge=1, le=MAX_AXIS_POINTS)
    metric: Literal["val_loss", "val_acc", "final_loss"] = "final_loss"
    rerun_seeds: int = Field(3, ge=1, le=1000)


class SweepSpec(_Strict):
    """``mode``, the ``axes`` (insertion order kept), and the options of docs (issue 10)."""

    mode: Literal["grid", "random", "halton"] = "grid"
    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    trials: int | None = Field(None, ge=1, le=MAX_AXIS_POINTS, description="draws per run")
    seeds: list[int] | int | None = None
    threshold: float | None = Field(None, allow_inf_nan=False)
    tune: TuneSpec | None = None

    @field_validator("axes")
    @classmethod
    def _grid_only_start(cls, axes: dict[str, AxisSpec]) -> dict[str, AxisSpec]:
        for name, axis in axes.items():
            if not name.strip() or any(not p for p in name.split(".")):
                raise ValueError(f"{name!r} is not an axis path such as optimizer.lr")
            if axis.kind == "grid" and name != START_AXIS:
                raise ValueError(f"{name}: a grid axis is for {START_AXIS} only")
        return axes

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int] | int | None) -> list[int] | int | None:
        if isinstance(seeds, int) and not 1 <= seeds <= 10_000:
            raise ValueError("seeds: n (1 … 10000) means seeds 0 … n-1; or give a list")
        if isinstance(seeds, list):
            if not seeds:
                raise ValueError("give at least one seed")
            if any(not 0 <= s <= 2**31 - 1 for s in seeds):
                raise ValueError("seeds are integers 0 … 2**31-1")
        return seeds

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        if not self.axes and self.seeds is None:
            raise ValueError("a sweep needs at least one axis (or seeds)")
        if self.seeds is not None and "seed" in self.axes:
            raise ValueError("give seeds or a seed axis, not both")
        if self.mode == "grid":
            if self.trials is not None:
                raise ValueError(
                    "trials is for the random and halton modes; grid takes every point"
                )
            if self.tune is not None:
                raise ValueError("tune draws its trials: use mode random or halton")
        else:
            if self.tune is not None:
                if self.trials is not None and self.trials != self.tune.trials:
                    raise ValueError("trials and tune.trials differ; give one of them")
                self.trials = self.tune.trials
            if self.trials is None:
                raise ValueError(f"mode {self.mode} needs trials (draws per run)")
        return self

    def seed_list(self) -> list[int] | None:
        """The seeds shorthand as a list (an int n: 0 … n-1), None without it."""
        if self.seeds is None:
            return None
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def points_per_run(self) -> int:
        """Search trials per run (before tune's re-runs), computed without building them."""
        seeds = len(self.seed_list() or [0])
        if self.mode == "grid":
            return math.prod(a.count for a in self.axes.values()) * seeds
        return int(self.trials or 0) * seeds

    def points(self, seed: int) -> list[dict[str, Any]]:
        """The axis values of each point (seeds excluded), in a stable order.

        Grid: the Cartesian product, the first axis outermost.  Random/halton: ``trials``
        draws from a generator seeded with ``seed`` (the experiment's), the same for every run.
        """
        names = list(self.axes)
        if self.mode == "grid":
            grids = [self.axes[n].values() for n in names]
            out: list[dict[str, Any]] = [{}]
            for name, vals in zip(names, grids, strict=True):
                out = [{**p, name: v} for p in out for v in vals]
            return out
        n = int(self.trials or 0)
        dims = sum(self.axes[name].dims for name in names)
        u = (
            np.random.default_rng(seed).random((n, dims))
            if self.mode == "random"
            else halton(n, dims)
        )
        columns: list[list[Any]] = []
        at = 0
        for name in names:
            d = self.axes[name].dims
            columns.append(self.axes[name].draw(u[:, at : at + d]))
            at += d
        return [{name: col[i] for name, col in zip(names, columns, strict=True)} for i in range(n)]


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73)


def halton(n: int, dims: int) -> np.ndarray:
    """The first ``n`` points (from index 1) of the Halton sequence in ``dims`` dimensions."""
    if dims > len(_PRIMES):
        raise ValueError(f"halton mode supports at most {len(_PRIMES)} dimensions")
    out = np.zeros((n, dims))
    for d in range(dims):
        base = _PRIMES[d]
        idx = np.arange(1, n + 1)
        f, r = 1.0, np.zeros(n)
        while idx.any():
            f /= base
            r += f * (idx % base)
            idx //= base
        out[:, d] = r
    return out
