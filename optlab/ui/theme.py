"""Colours, fonts and the base chart layout: one look for every chart, readable on a projector.

Run ``i`` always gets ``run_color(i)``, in every chart and table of an experiment, so
a run is recognised at a glance.  The palette is Okabe–Ito-like (distinct for common
colour-vision deficiencies) with strong tones that survive a washed-out projector.
"""

from __future__ import annotations

from typing import Any

PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # green
    "#CC79A7",  # purple-pink
    "#E69F00",  # orange
    "#56B4E9",  # sky
    "#7B3294",  # violet
    "#8C564B",  # brown
    "#000000",  # black
    "#B8860B",  # dark gold
    "#1B9E9E",  # teal
    "#E7298A",  # magenta
)

#: dash styles for the parameter groups of one run (lr chart)
GROUP_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")

FONT_FAMILY = "Inter, 'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif"
FONT_SIZE = 17
CHART_HEIGHT = 430
CONTOUR_HEIGHT = 560
#: the contour beside a side column (presenter mode, lessons): with the status lines and
#: the player bar above it, its whole plot area fits a 1280x720 projector screen
FIT_CONTOUR_HEIGHT = 410

#: a pale contour scale: trajectories in strong colours stay readable on top of it
CONTOUR_SCALE: list[tuple[float, str]] = [
    (0.0, "#fbfcfd"),
    (0.35, "#e1e9f2"),
    (0.7, "#bfd0e2"),
    (1.0, "#98b0cb"),
]

#: colours of the run states in status chips
STATUS_COLORS = {
    "queued": "#6b7280",
    "running": "#0072B2",
    "finished": "#0a7f45",
    "diverged": "#C05A00",
    "failed": "#C62828",
    "cancelled": "#6b7280",
    "interrupted": "#8a6d00",
}


def run_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    """``#RRGGBB`` with an alpha, for translucent fills and ghost traces."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def base_layout(
    *,
    xaxis_title: str = "",
    yaxis_title: str = "",
    log_y: bool = False,
    legend: bool = True,
) -> dict[str, Any]:
    """The shared layout: white background, large fonts, legend above the plot."""
    axis: dict[str, Any] = {
        "showline": True,
        "linecolor": "#444",
        "mirror": True,
        "gridcolor": "#e6e6e6",
        "zeroline": False,
        "ticks": "outside",
        "automargin": True,
        "title": {"font": {"size": FONT_SIZE + 1}},
    }
    return {
        "font": {"family": FONT_FAMILY, "size": FONT_SIZE, "color": "#1a1a1a"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 70, "r": 20, "t": 48, "b": 60},
        "showlegend": legend,
        "legend": {
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.01,
            "xanchor": "left",
            "x": 0.0,
            "font": {"size": FONT_SIZE},
        },
        "hovermode": "closest",
        "hoverlabel": {"font": {"size": FONT_SIZE - 1}},
        "xaxis": {**axis, "title": {**axis["title"], "text": xaxis_title}},
        "yaxis": {
            **axis,
            "title": {**axis["title"], "text": yaxis_title},
            "type": "log" if log_y else "linear",
            "exponentformat": "power" if log_y else "B",
            "nticks": 7,
        },
    }


PAGE_CSS = """
<style>
  /* Larger type for projectors; compact vertical rhythm for the run editor. */
  html, body, [data-testid="stAppViewContainer"] { font-size: 17px; }
  [data-testid="stMetricValue"] { font-size: 1.6rem; }
  [data-testid="stExpander"] summary p { font-size: 1.02rem; }
  .optlab-status { font-size: 1.05rem; line-height: 1.6; }
</style>
"""
