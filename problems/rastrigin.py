"""Rastrigin's function: a bowl covered in regularly spaced local minima."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from optlab.problem import Field, Surface, SurfaceParams


def _cos(x: Any) -> Any:
    """cos for torch tensors (keeps autograd) and for numpy arrays or floats."""
    return torch.cos(x) if isinstance(x, torch.Tensor) else np.cos(x)


class RastriginParams(SurfaceParams):
    A: float = Field(
        10.0,
        ge=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="amplitude of the ripples (0 = a plain bowl)",
    )


class Rastrigin(Surface):
    name = "rastrigin"
    title = "Rastrigin"
    description = "A bowl with a local minimum near every integer point; global minimum at (0, 0)."
    formula = r"f(x, y) = 2A + \sum_{z \in \{x, y\}} \left(z^2 - A\cos(2\pi z)\right)"
    Params = RastriginParams
    params: RastriginParams
    default_start = (-4.3, 3.7)
    bounds = ((-5.12, 5.12), (-5.12, 5.12))
    log_scale = False

    def value(self, x: Any, y: Any) -> Any:
        a, w = self.params.A, 2.0 * math.pi
        return 2.0 * a + (x**2 - a * _cos(w * x)) + (y**2 - a * _cos(w * y))

    def code(self) -> str:
        a, w = self.params.A, 2.0 * math.pi
        return (
            f"return 2.0 * {a!r} + (x**2 - {a!r} * torch.cos({w!r} * x))"
            f" + (y**2 - {a!r} * torch.cos({w!r} * y))"
        )

    def minima(self) -> list[tuple[float, float]]:
        return [(0.0, 0.0)]
