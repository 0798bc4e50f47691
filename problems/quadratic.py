"""An ill-conditioned quadratic bowl: the classic case for momentum.

As in Distill's "Why Momentum Really Works": gradient descent zig-zags across the
steep direction while it crawls along the shallow one.  The eigenvalues are scaled
so that λ_max = 1 and λ_min = 1/κ: plain gradient descent is stable for lr < 2
whatever the condition number, so lr values compare across κ.
"""

from __future__ import annotations

import math
from typing import Any

from optlab.problem import Field, Surface, SurfaceParams


class QuadraticParams(SurfaceParams):
    condition: float = Field(
        50.0,
        ge=1.0,
        le=1e6,
        allow_inf_nan=False,
        description="condition number κ = λ_max / λ_min of the Hessian",
    )
    angle: float = Field(
        30.0,
        ge=-180.0,
        le=180.0,
        allow_inf_nan=False,
        description="direction of the valley (the shallow axis), degrees from the x-axis",
    )


class Quadratic(Surface):
    name = "quadratic"
    title = "Ill-conditioned quadratic"
    description = "A long narrow valley at `angle`: 0.5·(u²/κ + v²), so λ_max = 1 and λ_min = 1/κ."
    formula = (
        r"f = \tfrac12\left(\tfrac{1}{\kappa} u^2 + v^2\right),\;"
        r"u = x\cos\theta + y\sin\theta,\; v = -x\sin\theta + y\cos\theta"
    )
    Params = QuadraticParams
    params: QuadraticParams
    # Far along the valley and off its floor, for angle 0 and for the default 30°.
    default_start = (-1.8, -0.5)
    bounds = ((-2.5, 2.5), (-2.5, 2.5))
    log_scale = True
    quadratic = True

    def __init__(self, params: QuadraticParams | None = None) -> None:
        super().__init__(params)
        theta = math.radians(self.params.angle)
        self._cos, self._sin = math.cos(theta), math.sin(theta)
        self._lambda_min, self._lambda_max = 1.0 / self.params.condition, 1.0

    def value(self, x: Any, y: Any) -> Any:
        u = self._cos * x + self._sin * y
        v = -self._sin * x + self._cos * y
        return 0.5 * (self._lambda_min * u**2 + self._lambda_max * v**2)

    def code(self) -> str:
        c, s, lo, hi = self._cos, self._sin, self._lambda_min, self._lambda_max
        return (
            f"u = {c!r} * x + {s!r} * y\n"
            f"v = {-s!r} * x + {c!r} * y\n"
            f"return 0.5 * ({lo!r} * u**2 + {hi!r} * v**2)"
        )

    def minima(self) -> list[tuple[float, float]]:
        return [(0.0, 0.0)]
