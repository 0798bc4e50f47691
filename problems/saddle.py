"""A saddle point: zero gradient that is not a minimum."""

from __future__ import annotations

from typing import Any, ClassVar

from optlab.problem import Surface, SurfaceParams


class SaddleParams(SurfaceParams):
    pass


class Saddle(Surface):
    name = "saddle"
    title = "Saddle"
    description = (
        "x² − y²: starting just off the ridge, how fast does each optimizer escape along y?"
    )
    formula = r"f(x, y) = x^2 - y^2"
    Params = SaddleParams
    params: SaddleParams
    # Almost on the x-axis: the y-gradient (−2y) starts tiny and grows geometrically,
    # so the escape from the saddle point at the origin is slow and visible.
    default_start = (-1.5, 1e-3)
    bounds = ((-2.0, 2.0), (-2.0, 2.0))
    log_scale = False
    # The surface is unbounded below: every escaping run ends "diverged". With the
    # default factor (50, a box of ±100) the loss would fall to about −10⁴ and flatten
    # the loss chart; ±10 stops escaped runs a little past the plot at a loss near −100.
    divergence_factor: ClassVar[float] = 5.0

    def code(self) -> str:
        return "return x**2 - y**2"

    def value(self, x: Any, y: Any) -> Any:
        return x**2 - y**2
