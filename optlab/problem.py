"""The problem interface and the registry that discovers problems.

A problem is either a 2-D *surface* (a float64 function of a point, drawn as a
contour) or a *model* problem (an ``nn.Module`` trained on minibatches).  Each
lives in its own module under ``problems/`` (or in ``OPTLAB_PROBLEMS_DIR``), so a
user adds one by dropping in a file that subclasses :class:`Surface` or
:class:`ModelProblem`.  Problem modules import only this interface, torch and numpy.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from optlab.problem_data import (
    DataError,
    DataSource,
    check_data_dir,
)

__all__ = [
    "DataError",
    "DataSource",
    "ExportCode",
    "Field",
    "ModelData",
    "ModelParams",
    "ModelProblem",
    "Problem",
    "ProblemParams",
    "Surface",
    "SurfaceParams",
    "check_data_dir",
    "field_validator",
    "get_problem",
    "list_problems",
    "source",
]


class ProblemParams(BaseModel):
    """A problem's own fields; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem:
    """Base of every problem: a name, a title for the UI and its parameter model."""

    name: ClassVar[str]
    kind: ClassVar[Literal["surface", "model"]]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[ProblemParams]] = ProblemParams

    def __init__(self, params: ProblemParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def parameter_names(self) -> list[str]:
        """Names of the trainable parameters, as ``named_parameters()`` gives them."""
        raise NotImplementedError


# --------------------------------------------------------------------------- surfaces


class SurfaceParams(ProblemParams):
    start: tuple[float, float] | None = Field(
        None, description="starting point (x, y); the problem's default when omitted"
    )
    noise: float = Field(
        0.0,
        ge=0.0,
        le=1000.0,
        description="std of seeded Gaussian gradient noise (0 = deterministic)",
    )


class Surface(Problem):
    """A 2-D loss surface f(x, y), computed in float64.

    ``value`` must be elementwise and work on torch tensors *and* numpy arrays
    (use only operators and ``self.lib(x)``-free expressions, or override
    ``value_numpy``): the engine evaluates all runs' points in one call, the UI
    evaluates a grid for the contour.
    """

    kind: ClassVar[Literal["surface"]] = "surface"
    Params: ClassVar[type[ProblemParams]] = SurfaceParams
    formula: ClassVar[str] = ""  # LaTeX
    default_start: ClassVar[tuple[float, float]] = (0.0, 0.0)
    #: box drawn by the contour ((xmin, xmax), (ymin, ymax))
    bounds: ClassVar[tuple[tuple[float, float], tuple[float, float]]] = ((-2.0, 2.0), (-2.0, 2.0))
    #: whether the contour reads better with log-scaled levels
    log_scale: ClassVar[bool] = False
    #: a run that leaves the plot box widened by this factor (around its centre) diverged
    divergence_factor: ClassVar[float] = 50.0
    #: f is a quadratic form: its Hessian is the same everywhere, so the linearized
    #: stability limits and Distill's optimal heavy ball hold globally (``optlab analyze``)
    quadratic: ClassVar[bool] = False

    def value(self, x: Any, y: Any) -> Any:
        """f(x, y) elementwise, for torch tensors or numpy arrays."""
        raise NotImplementedError

    def code(self) -> str:
        """Body of ``def f(x, y):`` computing ``value`` with the same operations, for export.

        Constants are written with ``repr`` (exact round trip) and functions as ``torch.*``,
        so the exported script reproduces the engine's numbers bit for bit.
        """
        raise NotImplementedError(f"{self.name} cannot be exported as a script")

    def minima(self) -> list[tuple[float, float]]:
        """Known global minima (for the plot), as points."""
        return []

    @property
    def start(self) -> tuple[float, float]:
        start = getattr(self.params, "start", None)
        return tuple(start) if start is not None else self.default_start

    @property
    def noise(self) -> float:
        return float(getattr(self.params, "noise", 0.0))

    def parameter_names(self) -> list[str]:
        return ["xy"]

    def divergence_box(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The box a trajectory must stay inside; leaving it marks the run diverged."""
        box = []
        for lo, hi in self.bounds:
            centre, half = (lo + hi) / 2, (hi - lo) / 2 * self.divergence_factor
            box.append((centre - half, centre + half))
        return box[0], box[1]

    def grid(self, n: int = 200) -> tuple[Any, Any, Any]:
        """(xs, ys, Z) for a contour: Z[i, j] = f(xs[j], ys[i]), numpy float64."""
        import numpy as np

        (x0, x1), (y0, y1) = self.bounds
        xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        xx, yy = np.meshgrid(xs, ys)
        return xs, ys, np.asarray(self.value(xx, yy), dtype=np.float64)


# --------------------------------------------------------------------------- models


class ModelParams(ProblemParams):
    pass


def source(obj: Any) -> str:
    """The dedented source of a class or function, for :meth:`ModelProblem.export_code`
    (copying the problem's own code keeps the exported arithmetic identical)."""
    return textwrap.dedent(inspect.getsource(obj)).strip()


@dataclass(frozen=True)
class ExportCode:
    """A model problem's part of an exported training script.

    ``code`` is module-level Python defining, with the problem's own arithmetic:

    - ``load_data()`` returning ``(train_x, train_y, val_x, val_y)`` on ``DEVICE``;
    - ``build_model()`` (torch is seeded just before) and ``prepare(model)``;
    - ``train_batch(train_x, train_y, index, aug)`` (``aug``: the seeded augmentation
      generator) and ``val_batch(val_x, val_y, index)``, each returning ``(x, y)``;
    - ``loss_fn(output, target)``;

    plus the constants and helpers these use.  The script around it provides ``torch``,
    ``math``, ``SEED``, ``EPOCHS``, ``BATCH_SIZE``, ``EVAL_BATCH`` and ``DEVICE``.
    ``imports`` are third-party import lines (placed after ``import torch``),
    ``std_imports`` standard-library ones.
    """

    code: str
    imports: tuple[str, ...] = ()
    std_imports: tuple[str, ...] = ()


@dataclass
class ModelData:
    """A dataset held as whole tensors (no DataLoader): batches are index slices."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])


class ModelProblem(Problem):
    """A model trained on minibatches: regression or classification."""

    kind: ClassVar[Literal["model"]] = "model"
    Params: ClassVar[type[ProblemParams]] = ModelParams
    task: ClassVar[Literal["regression", "classification"]] = "regression"
    default_epochs: ClassVar[int] = 5
    default_batch_size: ClassVar[int] = 32

    def build_model(self) -> torch.nn.Module:
        """A fresh model; the engine seeds torch before calling this."""
        raise NotImplementedError

    def load_data(self, device: torch.device, seed: int) -> ModelData:
        """The whole dataset as tensors on ``device`` (deterministic for ``seed``)."""
        raise NotImplementedError

    def batch(
        self,
        data: ModelData,
        index: torch.Tensor,
        train: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets for the examples at ``index`` (augment when ``train``)."""
        if train:
            return data.train_x[index], data.train_y[index]
        return data.val_x[index], data.val_y[index]

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prepare_model(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """Move the model to ``device`` (and a faster memory format where it helps)."""
        return model.to(device)

    def train_size(self, seed: int) -> int:
        """Training examples for ``seed`` (what makes an epoch); the default loads the data
        on the CPU, override it when the number is known more cheaply."""
        return self.load_data(torch.device("cpu"), seed).n_train

    def known_train_size(self, seed: int) -> int | None:
        """:meth:`train_size` when it is known without reading any data file, else None.

        The dashboard shows exported code with this (rendering a page never reads a
        dataset); a problem that makes its data itself returns :meth:`train_size`.
        """
        return None

    def export_code(self) -> ExportCode:
        """This problem's pieces of an exported script (see :class:`ExportCode`).

        Implementing this alone makes a model problem exportable.
        """
        raise NotImplementedError(f"export of the model problem {self.name!r} is not supported yet")

    @classmethod
    def data_source(cls) -> DataSource | None:
        """Where the dataset comes from (see :class:`DataSource`); None: the problem makes
        its data itself and the UI offers no data choice."""
        return None

    def parameter_names(self) -> list[str]:
        torch.manual_seed(0)
        return [name for name, _ in self.build_model().named_parameters()]

    def parameter_table(self) -> list[dict[str, Any]]:
        """name, shape and parameter count of every parameter (the layer editor's rows)."""
        torch.manual_seed(0)
        return [
            {"name": name, "shape": list(p.shape), "count": p.numel()}
            for name, p in self.build_model().named_parameters()
        ]


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Problem]] | None = None


def _problem_classes(module: Any) -> list[type[Problem]]:
    found = []
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Problem)
            and value not in (Problem, Surface, ModelProblem)
            and value.__module__ == module.__name__
            and isinstance(getattr(value, "name", None), str)
        ):
            found.append(value)
    return found


_USER_PACKAGE = "optlab_user_problems"


def _load_user_dir(path: Path) -> list[Any]:
    """The ``*.py`` files and packages (folders with ``__init__.py``) in ``path``, loaded as
    ``optlab_user_problems.<name>`` (a package's modules import each other relatively)."""
    sys.modules.setdefault(_USER_PACKAGE, types.ModuleType(_USER_PACKAGE))
    modules = []
    for entry in sorted(path.iterdir()) if path.is_dir() else []:
        if entry.name.startswith("_"):
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file():
            file, search = entry / "__init__.py", [str(entry)]
        elif entry.suffix == ".py" and entry.is_file():
            file, search = entry, None
        else:
            continue
        mod_name = f"{_USER_PACKAGE}.{entry.stem if search is None else entry.name}"
        spec = importlib.util.spec_from_file_location(
            mod_name, file, submodule_search_locations=search
        )
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def _discover() -> dict[str, type[Problem]]:
    package = importlib.import_module("problems")
    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    extra = os.environ.get("OPTLAB_PROBLEMS_DIR")
    if extra:
        modules += _load_user_dir(Path(extra))
    registry: dict[str, type[Problem]] = {}
    for module in modules:
        for cls in _problem_classes(module):
            registry[cls.name.lower()] = cls
    return dict(sorted(registry.items()))


def registry() -> dict[str, type[Problem]]:
    """All problems by (lower-case) name, discovered once per process."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _discover()
    return _REGISTRY


def list_problems() -> list[type[Problem]]:
    return list(registry().values())


def get_problem(name: str) -> type[Problem]:
    """The problem class called ``name`` (case-insensitive); ValueError lists the known ones."""
    cls = registry().get(str(name).lower())
    if cls is None:
        known = ", ".join(registry())
        raise ValueError(f"unknown problem {name!r}; known problems: {known}")
    return cls
