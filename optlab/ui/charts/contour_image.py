"""A surface's contour drawn once as an image: filled bands plus darker iso-lines.

Why not a plotly ``contour`` trace: plotly.js redraws it on every ``Plotly.react``
even when it did not change; measured in headless Chromium, a 180² contour made each
live update of the trajectory chart cost ~80 ms instead of ~25 ms with this image
(an ``image`` trace the browser decodes once).  The bands are the same
(log-scaled where the problem says so); a dummy marker trace carries the colour bar.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from typing import Any

import numpy as np

from optlab.ui import theme

PIXELS = 600
#: drawn this many times larger, then shrunk: smooth (anti-aliased) iso-lines
SUPERSAMPLE = 2
LEVELS = 24
LINE_DARKEN = 0.72


def _colours(t: np.ndarray) -> np.ndarray:
    """RGB of the pale contour scale at positions ``t`` in [0, 1]."""
    stops = np.array([s for s, _ in theme.CONTOUR_SCALE])
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in theme.CONTOUR_SCALE])
    return np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], axis=-1)


def field(problem: Any, pixels: int = PIXELS) -> tuple[np.ndarray, str]:
    """The plotted field on a pixel grid (row 0 = top = largest y) and its title."""
    (x0, x1), (y0, y1) = problem.bounds
    xx, yy = np.meshgrid(np.linspace(x0, x1, pixels), np.linspace(y1, y0, pixels))
    z = np.asarray(problem.value(xx, yy), dtype=np.float64)
    z = np.where(np.isfinite(z), z, np.nan)
    if problem.log_scale:
        floor = np.nanmin(z)
        span = max(float(np.nanmax(z) - floor), 1e-12)
        return np.log10(z - floor + span * 1e-5), "log₁₀ f"
    return z, "f"


def png(z: np.ndarray, size: int = PIXELS) -> tuple[bytes, float, float]:
    """PNG (``size``² pixels) of the banded field with iso-lines at the band edges.

    Returns (bytes, zmin, zmax); ``z`` may be larger than ``size`` (supersampled).
    """
    from PIL import Image

    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    scaled = np.nan_to_num((z - lo) / max(hi - lo, 1e-12), nan=1.0)
    band = np.clip((scaled * LEVELS).astype(int), 0, LEVELS - 1)
    rgb = _colours(band / (LEVELS - 1))
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge] *= LINE_DARKEN
    buffer = io.BytesIO()
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    # A palette of 64 colours keeps the smooth edges and the file small (tens of kB).
    image = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue(), lo, hi


@lru_cache(maxsize=32)
def traces(problem_name: str, params_json: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(image trace, colour-bar trace) of a surface, computed once per parameters."""
    from optlab.problem import Surface, get_problem

    cls = get_problem(problem_name)
    assert issubclass(cls, Surface), problem_name
    problem = cls(cls.Params.model_validate_json(params_json))
    z, title = field(problem, PIXELS * SUPERSAMPLE)
    data, lo, hi = png(z, PIXELS)
    (x0, x1), (y0, y1) = problem.bounds
    n = PIXELS
    image = {
        "type": "image",
        "source": "data:image/png;base64," + base64.b64encode(data).decode(),
        "x0": x0,
        "dx": (x1 - x0) / (n - 1),
        "y0": y1,
        "dy": -(y1 - y0) / (n - 1),
        "hoverinfo": "skip",
        "name": "f",
    }
    colorbar = {
        "type": "scatter",
        "mode": "markers",
        "x": [None],
        "y": [None],
        "hoverinfo": "skip",
        "showlegend": False,
        "name": "colour scale",
        "marker": {
            "color": [lo],
            "cmin": lo,
            "cmax": hi,
            "colorscale": theme.CONTOUR_SCALE,
            "showscale": True,
            "colorbar": {"title": {"text": title, "side": "top"}, "thickness": 14, "len": 0.9},
        },
    }
    return image, colorbar
