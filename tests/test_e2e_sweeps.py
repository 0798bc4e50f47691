"""The Sweeps page in a real Chromium against a real `streamlit run app.py` (issue 10)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from optlab.ui.state import share
from tests.browser import wait_until

pytestmark = pytest.mark.browser

BASINS: dict[str, Any] = {
    "name": "basins e2e",
    "problem": {"name": "himmelblau"},
    "steps": 4000,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.005}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
    ],
    "sweep": {
        "axes": {"problem.start": {"grid": [[-4.5, 4.5], [-4.5, 4.5]], "num": [40, 40]}},
        "threshold": 1e-4,
    },
}
LR_MOM: dict[str, Any] = {
    "name": "lr momentum e2e",
    "problem": {"name": "quadratic", "condition": 50, "angle": 0.0},
    "steps": 100,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.5}},
        {"label": "SGD wd", "optimizer": {"name": "SGD", "lr": 0.1, "weight_decay": 0.05}},
    ],
    "sweep": {
        "axes": {
            "optimizer.lr": {"log": [0.05, 4.0], "num": 10},
            "optimizer.momentum": {"linear": [0.0, 0.95], "num": 8},
        },
        "threshold": 1e-4,
    },
}

# Per plotly chart on the page: its title, and per trace its name, type, point count.
PLOTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
  title: (((el._fullLayout || {}).title || {}).text) || '',
  traces: (el._fullData || []).map(t => ({
    name: t.name || '', type: t.type, n: t.x ? t.x.length : 0,
    square: !!(t.marker && t.marker.symbol === 'square'),
  })),
}))"""
# The page coordinates of the first cell of the first basin panel.
FIRST_CELL = """() => {
  const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(e => ((e._fullLayout.title || {}).text || '').includes("Basins"));
  el.scrollIntoView({block: "center"});
  const t = el._fullData.find(t => t.marker && t.marker.symbol === 'square' && t.x.length);
  const xa = el._fullLayout[t.xaxis.replace('x', 'xaxis')];
  const ya = el._fullLayout[t.yaxis.replace('y', 'yaxis')];
  const box = el.getBoundingClientRect();
  const k = Math.floor(t.x.length / 2);
  return {x: box.left + xa._offset + xa.l2p(t.x[k]), y: box.top + ya._offset + ya.l2p(t.y[k])};
}"""


def plots(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(PLOTS))


def basin_cells(page: Any) -> int:
    return sum(
        t["n"] for p in plots(page) if "Basins" in p["title"] for t in p["traces"]
        if t["square"]
    )  # fmt: skip


def open_sweep(page: Any, url: str, spec: dict[str, Any]) -> None:
    page.goto(f"{url}/sweeps?{share.FORM_PARAM}={share.encode_form(spec)}")
    run = page.get_by_role("button", name="Run sweep")
    wait_until(page, lambda: run.count() == 1, 60, "the Run sweep button")
    run.click()


def test_basin_map_fills_in_live_and_a_click_opens_the_run(dashboard_url: str, page: Any) -> None:
    open_sweep(page, dashboard_url, BASINS)
    first = wait_until(page, lambda: basin_cells(page), 120, "the first basin cells")
    seen = {first}
    wait_until(
        page,
        lambda: seen.add(basin_cells(page)) or basin_cells(page) == 3200,
        240,
        "every basin cell",
    )
    assert min(seen) < 3200 and len(seen) >= 2, seen  # it filled in, not all at once
    wait_until(page, lambda: page.get_by_text("3200 / 3200 trials").count(), 30, "the end")
    cell = page.evaluate(FIRST_CELL)
    page.mouse.click(cell["x"], cell["y"])
    # the Surfaces page is the home page: its URL is /?exp=<the single run>
    wait_until(page, lambda: "/sweeps" not in page.url and "exp=" in page.url, 60, "the run")
    exp_id = re.search(r"exp=([0-9a-f]+)", page.url)
    assert exp_id
    wait_until(
        page,
        lambda: page.locator(".optlab-live-chart.js-plotly-plot").count() > 0,
        60,
        "the single run's live chart",
    )


def test_lr_momentum_map_shows_the_stability_boundary(dashboard_url: str, page: Any) -> None:
    open_sweep(page, dashboard_url, LR_MOM)
    wait_until(page, lambda: page.get_by_text("160 / 160 trials").count(), 180, "the sweep's end")

    def traces() -> list[dict[str, Any]]:
        return [t for p in plots(page) if "(lr, momentum)" in p["title"] for t in p["traces"]]

    def boundaries() -> list[dict[str, Any]]:
        return [t for t in traces() if t["name"].startswith("stability boundary (heavy ball")]

    got = wait_until(page, lambda: len(boundaries()) == 2 and boundaries(), 30, "boundaries")
    assert all(t["n"] >= 60 for t in got)  # one per panel, each with its own weight decay
    assert len({t["name"] for t in got}) == 2
    assert sum(t["name"].startswith("optimal lr=") for t in traces()) == 2
    heat = [t for t in traces() if t["type"] == "heatmap"]
    assert [t["name"] for t in heat] == ["SGD: steps to threshold", "SGD wd: steps to threshold"]
    assert all(t["n"] == 10 for t in heat)
    drawn = page.evaluate(
        "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace path.js-line')"
        ".length"
    )
    assert drawn >= 2


def test_axes_editor_changes_the_sweep(dashboard_url: str, page: Any) -> None:
    page.goto(f"{dashboard_url}/sweeps?{share.FORM_PARAM}={share.encode_form(LR_MOM)}")
    wait_until(page, lambda: page.get_by_text("160 trials").count(), 60, "the trial count")
    points = page.get_by_label("points").first
    points.fill("4")
    points.press("Enter")
    wait_until(page, lambda: page.get_by_text("64 trials").count(), 30, "the new count")
    frm = page.get_by_label("from", exact=True).first
    frm.fill("-1")
    frm.press("Enter")
    wait_until(
        page, lambda: page.get_by_text("sweep.axes.optimizer.lr").count(), 30, "the axis error"
    )
    # the rerun that shows the error also drops the button: wait for it, not just the text
    wait_until(
        page,
        lambda: page.get_by_role("button", name="Run sweep").count() == 0,
        30,
        "Run sweep gone while the axis is invalid",
    )


def test_cifar_seed_bands_fill_in(dashboard_url: str, page: Any) -> None:
    from tests.test_ui_sweeps_views import _small_cifar

    open_sweep(page, dashboard_url, _small_cifar())
    wait_until(page, lambda: page.get_by_text("10 / 10 trials").count(), 400, "the sweep's end")

    def bands(name: str) -> list[dict[str, Any]]:
        found = [p for p in plots(page) if f"{name} per epoch" in p["title"]]
        return list(found[0]["traces"]) if found else []

    for name in ("val_loss", "val_acc"):
        got = wait_until(page, lambda n=name: bands(n), 60, f"the {name} bands")
        medians = sorted(t["name"] for t in got if "median of 3" in t["name"])
        assert medians == ["Adam (median of 3)", "SGDM (median of 3)"]
        assert all(t["n"] == 2 for t in got if "median" in t["name"])
    assert page.get_by_text("epochs to target: metric").count() >= 1  # the table is a canvas


def test_resume_button_finishes_an_interrupted_sweep(
    streamlit_app: Any, tmp_path: Any, page: Any
) -> None:
    from optlab.engine.sweep import run_trials
    from optlab.engine.sweep_plan import plan
    from optlab.engine.sweep_work import total_trials
    from optlab.spec import parse_spec
    from optlab.store.db import Store

    spec = parse_spec({k: v for k, v in LR_MOM.items() if k != "name"})
    store = Store(tmp_path / "optlab.db")
    exp_id = store.create_experiment(
        spec, kind="sweep", trials_total=total_trials(spec), status="running", source="cli"
    )
    first = run_trials(spec, plan(spec)[:7])
    first[0].final_loss = 123.0  # a trial run again would lose this number
    store.write_trials(exp_id, first)
    store.set_status(exp_id, "interrupted", "the server stopped")
    url = streamlit_app("app.py", env={"OPTLAB_HOME": str(tmp_path), "OPTLAB_WORKERS": "1"})
    page.goto(f"{url}/sweeps?exp={exp_id}")
    wait_until(page, lambda: page.get_by_text("7 / 160 trials").count(), 60, "the stored part")
    page.get_by_role("button", name="Resume").click()
    wait_until(page, lambda: page.get_by_text("160 / 160 trials").count(), 180, "the end")
    result = Store(tmp_path / "optlab.db").sweep_result(exp_id)
    assert result["progress"] == {"done": 160, "total": 160}
    assert result["trials"][0]["final_loss"] == 123.0


# The plot area's fill and the stroke of each line trace of the LR-sensitivity chart.
LR_COLOURS = """() => {
  const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(e => ((e._fullLayout.title || {}).text || '').includes(" vs "));
  if (!el) return null;
  const bg = el.querySelector('rect.bg');
  const lines = Array.from(el.querySelectorAll('.scatterlayer .trace path.js-line'))
    .map(p => getComputedStyle(p).stroke);
  return {plot: bg ? getComputedStyle(bg).fill : '', lines};
}"""


def test_sweeps_page_in_the_dark_theme(dashboard_url: str, page: Any) -> None:
    """?theme=dark: the finished sweep's chart has the dark plot background and its median
    lines the dark theme's run colours (the same as on the other pages)."""
    from optlab.ui import themes

    spec = {
        "name": "dark sweep e2e",
        "problem": {"name": "quadratic", "condition": 10},
        "steps": 20,
        "runs": [
            {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.05}},
            {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.1}},
        ],
        "sweep": {"axes": {"optimizer.lr": [0.01, 0.1]}},
    }
    page.goto(f"{dashboard_url}/sweeps?theme=dark&{share.FORM_PARAM}={share.encode_form(spec)}")
    run = page.get_by_role("button", name="Run sweep")
    wait_until(page, lambda: run.count() == 1, 60, "the Run sweep button")
    run.click()
    wait_until(page, lambda: page.get_by_text("4 / 4 trials").count(), 120, "the sweep's end")
    got = wait_until(
        page, lambda: (c := page.evaluate(LR_COLOURS)) and len(c["lines"]) == 2 and c, 30, "lines"
    )
    dark = themes.get("dark")

    def rgb(color: str) -> str:
        return "rgb({}, {}, {})".format(*(int(color[i : i + 2], 16) for i in (1, 3, 5)))

    assert got["plot"] == rgb(dark.plot)
    assert got["lines"] == [rgb(themes.run_color(dark, i)) for i in range(2)]
