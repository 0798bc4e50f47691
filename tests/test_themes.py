"""Themes: every theme restyles the charts, and run colours survive deuteranopia.

Colour-blindness check: the Machado, Oliveira & Fernandes (2009) deuteranopia matrix
(severity 1.0) applied in linear sRGB, then CIELAB (D65) and the CIE76 ΔE between
every pair of the first six run colours; a ΔE of about 10 is clearly distinct side by
side, and we ask for at least 15 (light 17.9, dark 34.5, projector 38.3).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optlab.ui import themes
from optlab.ui.charts import figures
from optlab.ui.charts.series import RunSeries

MACHADO_DEUTERANOPIA = np.array(
    [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ]
)
MIN_DELTA_E = 15.0


def _linear(color: str) -> np.ndarray:
    c = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    to_xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    )
    t = to_xyz @ np.clip(linear_rgb, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def min_delta_e(colors: list[str], simulate: bool) -> float:
    labs = [_lab(MACHADO_DEUTERANOPIA @ _linear(c) if simulate else _linear(c)) for c in colors]
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(labs, 2))


@pytest.mark.parametrize("name", themes.NAMES)
def test_run_colours_stay_distinct_under_deuteranopia(name: str) -> None:
    colors = [themes.run_color(themes.get(name), i) for i in range(6)]
    assert min_delta_e(colors, simulate=True) >= MIN_DELTA_E
    assert min_delta_e(colors, simulate=False) >= MIN_DELTA_E


def _runs() -> list[RunSeries]:
    out = []
    for i in range(3):
        run = RunSeries(index=i, label=f"r{i}", status="finished", groups=["default"])
        t = np.arange(50)
        params = np.stack([np.linspace(-1.5, 1, 50), np.linspace(2, 1, 50)], axis=1)
        run.append(t, np.exp(-t / 10) + 0.01, np.full((50, 1), 0.01), params, t * 0.01)
        out.append(run)
    return out


@pytest.mark.parametrize("name", ["dark", "projector"])
def test_every_chart_is_themed(name: str) -> None:
    from optlab.problem import get_problem

    theme = themes.get(name)
    contour = figures.contour_figure(get_problem("rosenbrock")(), _runs())
    for fig in (contour, figures.loss_figure(_runs()), figures.lr_figure(_runs())):
        out = themes.apply(fig, name)
        assert out["layout"]["paper_bgcolor"] == theme.paper
        assert out["layout"]["font"]["size"] == theme.font_size
        assert out["layout"]["xaxis"]["tickfont"]["color"] == theme.font
        lines = [t for t in out["data"] if t.get("mode") == "lines"]
        assert [t["line"]["color"] for t in lines[:3]] == list(theme.palette[:3])
        light_width = next(t for t in fig["data"] if t.get("mode") == "lines")["line"]["width"]
        assert lines[0]["line"]["width"] == pytest.approx(light_width * theme.line_scale)
    image = themes.apply(contour, name)["data"][0]
    assert image["type"] == "image"
    assert (image["source"] != contour["data"][0]["source"]) == (theme.contour is not None)


def test_light_is_unchanged() -> None:
    fig = figures.loss_figure(_runs())
    assert themes.apply(fig, "light") is fig


@pytest.mark.parametrize("name", ["dark", "projector"])
def test_the_colour_bar_and_the_other_charts_are_themed(name: str) -> None:
    from optlab.problem import get_problem

    theme = themes.get(name)
    contour = figures.contour_figure(get_problem("rosenbrock")(), _runs())
    bar = next(t for t in themes.apply(contour, name)["data"] if "colorbar" in t.get("marker", {}))
    scale = bar["marker"]["colorscale"]
    if theme.contour is None:  # projector: the light contour, larger ink
        assert scale == contour["data"][1]["marker"]["colorscale"]
    else:  # the same two ends as the remapped contour image
        assert [c for _, c in scale] == list(theme.contour)
    colorbar = bar["marker"]["colorbar"]
    assert colorbar["tickfont"] == {"color": theme.font, "size": theme.font_size}
    assert colorbar["title"]["font"]["color"] == theme.font
    assert colorbar["title"]["text"] == contour["data"][1]["marker"]["colorbar"]["title"]["text"]
    runs = _runs()
    for i, run in enumerate(runs):
        run.epochs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e} for e in (1, 2)]
        run.color_index = i
    schedule = figures.schedule_figure([{"label": "a", "groups": ["g"], "lr": [[0.1], [0.05]]}])
    for fig in (figures.epoch_figure(runs, "loss"), schedule):
        out = themes.apply(fig, name)
        assert out["layout"]["plot_bgcolor"] == theme.plot
        assert out["layout"]["yaxis"]["title"]["font"]["size"] == theme.font_size + 1
        assert out["data"][0]["line"]["color"] == theme.palette[0]
    assert "stBaseButton" in theme.css and "data-baseweb" in theme.css  # widgets restyled
