"""Beale's function: flat plateaus and sharp ridges around a minimum at (3, 0.5)."""

from __future__ import annotations

from typing import Any

from optlab.problem import Surface, SurfaceParams


class BealeParams(SurfaceParams):
    pass


class Beale(Surface):
    name = "beale"
    title = "Beale"
    description = (
        "Flat plateaus and steep ridges: a test of adaptive step sizes; minimum at (3, 0.5)."
    )
    formula = r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"
    Params = BealeParams
    params: BealeParams
    default_start = (1.0, 1.5)
    bounds = ((-4.5, 4.5), (-4.5, 4.5))
    log_scale = True

    def value(self, x: Any, y: Any) -> Any:
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    def code(self) -> str:
        return (
            "return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2"
            " + (2.625 - x + x * y**3) ** 2"
        )

    def minima(self) -> list[tuple[float, float]]:
        return [(3.0, 0.5)]
