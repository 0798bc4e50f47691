"""Sweeps-page figures follow the chosen theme, with the other pages' run colours.

Each figure is built from a real (tiny) sweep run by the engine, then re-themed by
``themes.apply`` as the page does.  References: the theme's own colours, and the run
colour that the Surfaces/Training figures (``figures.loss_figure``) give the same run
index after the same ``themes.apply``.  Visibility on dark: the WCAG 2 contrast ratio
of the stability boundary and the optimum marker against the theme's plot background.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from optlab.engine.sweep import run_sweep
from optlab.spec import parse_spec
from optlab.ui import themes
from optlab.ui.charts import figures, momentum_map
from optlab.ui.charts import sweep_figures as sf
from optlab.ui.charts.series import RunSeries

RUNS = [
    {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.05}},
    {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.1}},
    {"label": "RMSprop", "optimizer": {"name": "RMSprop", "lr": 0.01}},
]
LR_MOM: dict[str, Any] = {
    "problem": {"name": "quadratic", "condition": 20, "angle": 0.0},
    "steps": 30,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.5}},
        {
            "label": "SGD nesterov",
            "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.5, "nesterov": True},
        },
    ],
    "sweep": {
        "axes": {
            "optimizer.lr": {"log": [0.01, 0.5], "num": 3},
            "optimizer.momentum": {"linear": [0.0, 0.9], "num": 3},
        },
        "threshold": 1e-2,
    },
}
LR: dict[str, Any] = {
    "problem": {"name": "quadratic", "condition": 10},
    "steps": 30,
    "runs": RUNS,
    "sweep": {"axes": {"optimizer.lr": {"log": [0.001, 3.0], "num": 4}}, "seeds": 2},
}
BASINS: dict[str, Any] = {
    "problem": {"name": "himmelblau"},
    "steps": 40,
    "runs": RUNS[:2],
    "sweep": {"axes": {"problem.start": {"grid": [[-4.0, 4.0], [-4.0, 4.0]], "num": [3, 3]}}},
}
MODELS: dict[str, Any] = {
    "problem": {"name": "mse_regression"},
    "epochs": 2,
    "batch_size": 64,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.001}},
        {"label": "AdamW", "optimizer": {"name": "AdamW", "lr": 0.001}},
    ],
    "sweep": {"axes": {"optimizer.lr": [0.001]}, "seeds": [0, 1]},
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    return {k: run_sweep(parse_spec(v)) for k, v in
            {"lr_mom": LR_MOM, "lr": LR, "basins": BASINS, "models": MODELS}.items()}  # fmt: skip


def _other_pages_colours(name: str, n: int) -> list[str]:
    """Run colours of runs 0..n-1 in the Training/Surfaces loss chart, themed."""
    runs = []
    for i in range(n):
        run = RunSeries(index=i, label=f"r{i}", status="finished", groups=["default"])
        t = np.arange(5)
        run.append(t, np.exp(-t / 3.0), np.full((5, 1), 0.01), np.zeros((5, 2)), t * 0.01)
        runs.append(run)
    out = themes.apply(figures.loss_figure(runs), name)
    return [t["line"]["color"] for t in out["data"] if t.get("mode") == "lines"][:n]


def _rgb(color: str) -> tuple[float, float, float, float]:
    """``#rgb``, ``#rrggbb`` or ``rgba(r,g,b,a)`` as (r, g, b) in 0..1 and alpha."""
    if color.startswith("rgba("):
        r, g, b, a = color[5:-1].split(",")
        return int(r) / 255, int(g) / 255, int(b) / 255, float(a)
    h = color.lstrip("#")
    h = "".join(c * 2 for c in h) if len(h) == 3 else h
    return int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, 1.0


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""

    def lum(c: str) -> float:
        lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in _rgb(c)[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _figures(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from optlab.problem import get_problem

    himmelblau = get_problem("himmelblau")()
    quad = get_problem("quadratic")(get_problem("quadratic").Params(condition=20, angle=0.0))
    eig = momentum_map.hessian_eigenvalues(quad, quad.minima()[0])
    built = {
        "lr sensitivity": sf.lr_sensitivity(results["lr"], "optimizer.lr"),
        "basins (minimum)": sf.basin_map(
            results["basins"], "minimum", himmelblau.minima(), himmelblau.bounds
        ),
        "basins (loss)": sf.basin_map(results["basins"], "final_loss", himmelblau.minima()),
        "lr momentum": momentum_map.lr_momentum_map(results["lr_mom"], eigenvalues=eig,
                                                    optimal=True),
        "seed bands": sf.seed_bands(results["models"], "val_loss"),
    }  # fmt: skip
    return {k: v.to_dict() for k, v in built.items()}


@pytest.mark.parametrize("name", themes.NAMES)
def test_every_sweep_figure_follows_the_theme(
    name: str, results: dict[str, dict[str, Any]]
) -> None:
    theme = themes.get(name)
    for title, fig in _figures(results).items():
        out = themes.apply(fig, name)
        layout = out["layout"]
        assert layout["paper_bgcolor"] == theme.paper, title
        assert layout["plot_bgcolor"] == theme.plot, title
        assert layout["font"]["color"] == theme.font and layout["font"]["size"] == theme.font_size
        axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
        assert len(axes) >= 2, title
        for key in axes:
            tickfont = {**layout["font"], **layout[key].get("tickfont", {})}  # light: inherits
            assert (tickfont["color"], tickfont["size"]) == (theme.font, theme.font_size), title
            assert layout[key]["gridcolor"] == theme.grid and layout[key]["linecolor"] == theme.axis
        for trace in out["data"]:  # every colour bar in the theme's ink and size
            for holder in (trace, trace.get("marker") or {}):
                if "colorbar" in holder and holder.get("showscale") is not False:
                    bar = holder["colorbar"]
                    if name != "light":  # light: Plotly's default ink inherits the layout's
                        assert bar["tickfont"] == {"color": theme.font, "size": theme.font_size}
                        assert bar["title"]["font"]["color"] == theme.font
                    assert bar["title"]["text"], title


@pytest.mark.parametrize("name", themes.NAMES)
def test_sweep_run_colours_equal_the_other_pages(
    name: str, results: dict[str, dict[str, Any]]
) -> None:
    expected = _other_pages_colours(name, 3)
    assert expected == [themes.run_color(themes.get(name), i) for i in range(3)]
    figs = _figures(results)
    for title in ("lr sensitivity", "seed bands"):
        data = themes.apply(figs[title], name)["data"]
        medians = [t for t in data if "(median" in t.get("name", "")]
        assert [t["line"]["color"] for t in medians] == expected, title
        assert [t["marker"]["color"] for t in medians] == expected, title
        bands = [t for t in data if t.get("fill") == "toself"]
        assert len(bands) == 3, title
        for band, colour in zip(bands, expected, strict=True):  # the run colour, translucent
            r, g, b, alpha = _rgb(band["fillcolor"])
            assert (r, g, b) == _rgb(colour)[:3] and 0 < alpha < 1, title
            assert "opacity" not in band and band["mode"] == "none", title
    lr_data = themes.apply(figs["lr sensitivity"], name)["data"]
    crosses = [t for t in lr_data if t.get("name", "").endswith("diverged")]
    assert crosses, "lr 3.0 should diverge on the quadratic"
    for t in crosses:
        run = [r["label"] for r in RUNS].index(t["name"].removesuffix(" diverged"))
        assert t["marker"]["color"] == expected[run]


@pytest.mark.parametrize("name", themes.NAMES)
def test_boundary_and_optimum_stay_visible(name: str, results: dict[str, dict[str, Any]]) -> None:
    theme = themes.get(name)
    figs = _figures(results)
    data = themes.apply(figs["lr momentum"], name)["data"]
    boundary = [t for t in data if t.get("name", "").startswith("stability boundary")]
    stars = [t for t in data if t.get("name", "").startswith("optimal lr=")]
    assert len(boundary) == len(stars) == 2  # one per run panel
    for line in boundary:
        assert contrast(line["line"]["color"], theme.plot) >= 3.0
    for star in stars:
        fill, ring = star["marker"]["color"], star["marker"]["line"]["color"]
        assert contrast(fill, theme.plot) >= 4.5  # the star on the background
        assert contrast(fill, ring) >= 4.5  # and its ring, which parts it from any cell
    minima = [t for t in themes.apply(figs["basins (minimum)"], name)["data"]
              if t.get("name", "").startswith("minimum ")]  # fmt: skip
    assert minima and all(contrast(t["marker"]["color"], theme.plot) >= 4.5 for t in minima)


def test_sweeps_page_draws_its_charts_in_the_dark_theme(ui_page: Any) -> None:
    """The real page (AppTest) with a finished sweep: the chart it sends is themed."""
    from optlab.ui.state import share
    from tests.test_ui_sweeps import _charts, _run_until_done

    spec = {**LR, "sweep": {"axes": {"optimizer.lr": [0.01, 0.1]}}}
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(spec)})
    at.session_state[themes.STATE_KEY] = "dark"
    at.button(key="run-sweep").click().run()
    _run_until_done(at)
    [fig] = [c for c in _charts(at) if "vs optimizer.lr" in str(c["layout"].get("title"))]
    dark = themes.get("dark")
    assert fig["layout"]["paper_bgcolor"] == fig["layout"]["plot_bgcolor"] == dark.paper
    assert fig["layout"]["xaxis"]["tickfont"]["color"] == dark.font
    medians = [t for t in fig["data"] if "(median" in t.get("name", "")]
    assert [t["line"]["color"] for t in medians] == _other_pages_colours("dark", 3)
