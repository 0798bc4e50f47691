"""Rosenbrock's banana valley: easy to find, slow to follow to the minimum."""

from __future__ import annotations

from typing import Any

from optlab.problem import Field, Surface, SurfaceParams


class RosenbrockParams(SurfaceParams):
    a: float = Field(
        1.0,
        ge=-1.5,
        le=1.5,
        allow_inf_nan=False,
        description="minimum at (a, a²); kept inside the plot box",
    )
    b: float = Field(
        100.0,
        gt=0.0,
        le=1000.0,
        allow_inf_nan=False,
        description="steepness of the valley walls (larger = narrower valley)",
    )


class Rosenbrock(Surface):
    name = "rosenbrock"
    title = "Rosenbrock"
    description = "A curved, narrow valley: reaching it is easy, following it to (a, a²) is not."
    formula = r"f(x, y) = (a - x)^2 + b\,(y - x^2)^2"
    Params = RosenbrockParams
    params: RosenbrockParams
    default_start = (-1.5, 2.0)
    bounds = ((-2.0, 2.0), (-1.0, 3.0))
    log_scale = True

    def value(self, x: Any, y: Any) -> Any:
        a, b = self.params.a, self.params.b
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def code(self) -> str:
        a, b = self.params.a, self.params.b
        return f"return ({a!r} - x) ** 2 + {b!r} * (y - x**2) ** 2"

    def minima(self) -> list[tuple[float, float]]:
        a = self.params.a
        return [(a, a * a)]
