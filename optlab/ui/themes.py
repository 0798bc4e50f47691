"""Chart themes: ``light`` (the default look of ``theme.py``), ``dark`` and ``projector``.

Figures are built in the light look (``optlab.ui.charts.figures``); :func:`apply`
re-themes a finished figure dict just before it is sent (``live_chart``): paper and
plot colours, fonts, axis and grid colours, line widths and marker sizes, run
colours (light palette → the theme's palette, by position) and the contour image
(its PNG palette remapped, cached).  Pure: no Streamlit here.

Run colours stay distinct under deuteranopia: ``tests/test_themes.py`` simulates it
with the Machado et al. (2009) matrix (severity 1.0, applied in linear RGB) and
asserts a minimum pairwise CIELAB ΔE between the first six run colours of each theme.
"""

from __future__ import annotations

import base64
import copy
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from optlab.ui import theme as light
from optlab.ui.theme_css import DARK_CSS, LIGHT_CSS, PROJECTOR_CSS

NAMES = ("light", "dark", "projector")
#: the session-state key of the chosen theme (``optlab.ui.frame.look``)
STATE_KEY = "optlab:theme"


@dataclass(frozen=True)
class Theme:
    name: str
    palette: tuple[str, ...]
    paper: str = "#ffffff"
    plot: str = "#ffffff"
    font: str = "#1a1a1a"
    axis: str = "#444"
    grid: str = "#e6e6e6"
    font_size: int = light.FONT_SIZE
    line_scale: float = 1.0
    #: contour image: (colour of the lowest band, colour of the highest band); None keeps it
    contour: tuple[str, str] | None = None
    css: str = ""
    extra: dict[str, str] = field(default_factory=dict)


THEMES: dict[str, Theme] = {
    "light": Theme("light", light.PALETTE, css=LIGHT_CSS),
    "dark": Theme(
        "dark",
        ("#648FFF", "#F0E442", "#009E73", "#FFFFFF", "#88CCEE", "#999933", "#DC267F", "#FE6100"),
        paper="#0e1117",
        plot="#0e1117",
        font="#e8e8e8",
        axis="#9aa0aa",
        grid="#2a2f3a",
        contour=("#141a26", "#3d4f6e"),
        css=DARK_CSS,
    ),
    "projector": Theme(
        "projector",
        ("#332288", "#D55E00", "#117733", "#CC79A7", "#000000", "#648FFF", "#E69F00", "#882255"),
        font="#000000",
        axis="#000000",
        grid="#cfcfcf",
        font_size=22,
        line_scale=1.7,
        css=PROJECTOR_CSS,
    ),
}


def get(name: str | None) -> Theme:
    return THEMES.get(str(name or "light"), THEMES["light"])


def run_color(theme: Theme, index: int) -> str:
    return theme.palette[index % len(theme.palette)]


_LIGHT_INDEX = {c.lower(): i for i, c in enumerate(light.PALETTE)}
_RGBA = re.compile(r"rgba\((\d+),(\d+),(\d+),([\d.]+)\)")


def map_color(theme: Theme, color: Any) -> Any:
    """A light-theme run colour (hex or ``theme.rgba``) in ``theme``'s palette."""
    if not isinstance(color, str) or theme.name == "light":
        return color
    i = _LIGHT_INDEX.get(color.lower())
    if i is not None:
        return run_color(theme, i)
    m = _RGBA.fullmatch(color.replace(" ", ""))
    if m:
        hexed = "#{:02X}{:02X}{:02X}".format(*(int(v) for v in m.groups()[:3]))
        j = _LIGHT_INDEX.get(hexed.lower())
        if j is not None:
            return light.rgba(run_color(theme, j), float(m.group(4)))
    if theme.name == "dark" and color.lower() in ("#111", "#222", "#000", "#000000"):
        return theme.font  # start cross, outlines: dark ink becomes light ink
    return color


def _recolor_trace(trace: dict[str, Any], theme: Theme) -> None:
    if "fillcolor" in trace:  # seed bands, ranges
        trace["fillcolor"] = map_color(theme, trace["fillcolor"])
    for part in ("line", "marker"):
        spec = trace.get(part)
        if not isinstance(spec, dict):
            continue
        spec = trace[part] = dict(spec)
        if "color" in spec:
            spec["color"] = map_color(theme, spec["color"])
        if isinstance(spec.get("line"), dict):
            inner = spec["line"] = dict(spec["line"])
            if inner.get("color") == "#ffffff" and theme.name == "dark":
                inner["color"] = theme.paper
            if "color" in inner:
                inner["color"] = map_color(theme, inner["color"])
        if part == "line" and isinstance(spec.get("width"), int | float):
            spec["width"] = spec["width"] * theme.line_scale
        if part == "marker" and isinstance(spec.get("size"), int | float):
            spec["size"] = spec["size"] * (1 + (theme.line_scale - 1) * 0.5)
    if trace.get("type") == "image" and theme.contour and str(trace.get("source", "")):
        trace["source"] = _contour_source(trace["source"], theme.contour)
    _recolor_scale(trace, theme)


def _recolor_scale(trace: dict[str, Any], theme: Theme) -> None:
    """The contour's colour bar in the theme's contour colours; every colour bar's text
    in the theme's ink and size."""
    for holder in (trace, trace.get("marker")):
        if not isinstance(holder, dict):
            continue
        scale = holder.get("colorscale")
        if theme.contour and _is_contour_scale(scale):
            holder["colorscale"] = [[0.0, theme.contour[0]], [1.0, theme.contour[1]]]
        bar = holder.get("colorbar")
        if isinstance(bar, dict) or (scale is not None and holder.get("showscale") is not False):
            bar = dict(bar or {})
            font = {"color": theme.font, "size": theme.font_size}
            bar["tickfont"] = {**(bar.get("tickfont") or {}), **font}
            title = bar.get("title")
            title = dict(title) if isinstance(title, dict) else {"text": title or ""}
            title["font"] = {**(title.get("font") or {}), **font}
            bar["title"] = title
            bar["outlinecolor"] = theme.axis
            if theme.line_scale != 1.0:
                bar["thickness"] = max(int(bar.get("thickness") or 14), 22)
            holder["colorbar"] = bar


def _is_contour_scale(scale: Any) -> bool:
    if not isinstance(scale, list | tuple) or len(scale) != len(light.CONTOUR_SCALE):
        return False
    try:
        return all(
            str(c).lower() == str(ref[1]).lower()
            for (_, c), ref in zip(scale, light.CONTOUR_SCALE, strict=True)
        )
    except (TypeError, ValueError):
        return False


def _axis(axis: dict[str, Any], theme: Theme) -> dict[str, Any]:
    out = dict(axis)
    out.update(linecolor=theme.axis, gridcolor=theme.grid, tickcolor=theme.axis)
    out["tickfont"] = {**(out.get("tickfont") or {}), "color": theme.font, "size": theme.font_size}
    title = dict(out.get("title") or {})
    title["font"] = {**(title.get("font") or {}), "color": theme.font, "size": theme.font_size + 1}
    out["title"] = title
    if theme.line_scale != 1.0:
        out["linewidth"] = 2
    return out


def apply(figure: dict[str, Any], name: str | None) -> dict[str, Any]:
    """``figure`` (a plotly dict built in the light look) in theme ``name`` (a copy)."""
    theme = get(name)
    if theme.name == "light":
        return figure
    fig = {**figure, "data": [copy.copy(t) for t in figure.get("data") or []]}
    for trace in fig["data"]:
        _recolor_trace(trace, theme)
    layout = copy.deepcopy(figure.get("layout") or {})
    layout.update(paper_bgcolor=theme.paper, plot_bgcolor=theme.plot)
    layout["font"] = {**(layout.get("font") or {}), "color": theme.font, "size": theme.font_size}
    if isinstance(layout.get("legend"), dict):
        layout["legend"]["font"] = {**(layout["legend"].get("font") or {}), "size": theme.font_size}
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        layout[key] = _axis(layout[key], theme)
    for shape in layout.get("shapes") or []:
        if isinstance(shape.get("line"), dict):
            shape["line"] = {**shape["line"], "color": theme.font}
    fig["layout"] = layout
    return fig


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


@lru_cache(maxsize=32)
def _contour_source(source: str, target: tuple[str, str]) -> str:
    """The contour PNG with its palette moved from the pale scale to ``target``'s."""
    from PIL import Image

    head, _, b64 = source.partition(",")
    if not head.startswith("data:image/png"):
        return source
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    if image.mode != "P":
        return source
    lo_light = _hex(light.CONTOUR_SCALE[0][1])
    hi_light = _hex(light.CONTOUR_SCALE[-1][1])
    lo, hi = _hex(target[0]), _hex(target[1])
    palette = image.getpalette() or []
    out: list[int] = []
    for i in range(0, len(palette) - 2, 3):
        # position along the light scale by brightness (darkened iso-lines land past 1)
        v = sum(palette[i : i + 3]) / 3
        v0, v1 = sum(lo_light) / 3, sum(hi_light) / 3
        t = (v0 - v) / max(v0 - v1, 1e-9)
        out.extend(max(0, min(255, round(a + t * (b - a)))) for a, b in zip(lo, hi, strict=True))
    image.putpalette(out)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
