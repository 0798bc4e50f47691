"""Himmelblau's function: four equal minima, so the start decides which one a run finds."""

from __future__ import annotations

from typing import Any

from optlab.problem import Surface, SurfaceParams

# The three irrational minima, refined by Newton's method in float64.
_MINIMA = [
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.283185991286169),
    (3.5844283403304917, -1.8481265269644034),
]


class HimmelblauParams(SurfaceParams):
    pass


class Himmelblau(Surface):
    name = "himmelblau"
    title = "Himmelblau"
    description = "Four minima of value 0: which basin does each optimizer end up in?"
    formula = r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2"
    Params = HimmelblauParams
    params: HimmelblauParams
    default_start = (0.0, 0.0)
    bounds = ((-5.0, 5.0), (-5.0, 5.0))
    log_scale = True

    def value(self, x: Any, y: Any) -> Any:
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def code(self) -> str:
        return "return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2"

    def minima(self) -> list[tuple[float, float]]:
        return list(_MINIMA)
