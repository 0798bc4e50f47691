"""The dashboard in a real Chromium against a real `streamlit run app.py` with real workers.

Each test uses its own browser context (its own client id, as another student would).
Long runs are cancelled at the end so the next test's experiment does not queue
behind them (one worker on a small machine).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest

from optlab.ui import presets
from optlab.ui.state import share
from tests.browser import wait_until

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the browser fixtures skip these tests
    PlaywrightError = RuntimeError  # type: ignore[misc,assignment]

pytestmark = pytest.mark.browser

# Per chart: the y-axis title, and per line trace its name, point count and last x.
CHARTS = """() => Array.from(document.querySelectorAll('.optlab-live-chart.js-plotly-plot'))
  .map(el => ({
    y: (((el._fullLayout || {}).yaxis || {}).title || {}).text || '',
    lines: (el._fullData || []).filter(t => t.mode === 'lines').map(t => ({
      name: t.name, n: t.x ? t.x.length : 0,
      last: t.x && t.x.length ? Number(t.x[t.x.length - 1]) : null,
    })),
  }))"""
INSTRUMENT = """el => {
  el.__marker = 4242;
  window.__reacts = 0;
  const original = window.Plotly.react;
  window.Plotly.react = function (gd, ...rest) {
    if (gd === el) window.__reacts += 1;  // updates of the contour only
    return original.call(this, gd, ...rest);
  };
}"""
SAME = "el => el.isConnected && el.__marker === 4242"


def charts(page: Any) -> dict[str, dict[str, Any]]:
    """{'y': {...contour...}, 'loss': {...}, 'learning rate': {...}} by y-axis title."""
    return {c["y"]: c for c in page.evaluate(CHARTS)}


def loss_steps(page: Any) -> dict[str, float]:
    loss = charts(page).get("loss", {"lines": []})
    return {t["name"]: t["last"] or 0 for t in loss["lines"]}


def trajectory_points(page: Any) -> dict[str, int]:
    contour = charts(page).get("y", {"lines": []})
    return {t["name"]: t["n"] for t in contour["lines"]}


def status(page: Any) -> str:
    return str(
        page.evaluate(
            "() => (document.querySelector(\"[data-testid='optlab-run-status']\") || {})"
            ".innerText || ''"
        )
    )


def url_form(page: Any) -> dict[str, Any]:
    """The form as the page's URL holds it (``?s=``), {} when there is none."""
    from urllib.parse import parse_qs, urlparse

    value = parse_qs(urlparse(page.url).query).get(share.FORM_PARAM, [""])[0]
    return share.decode_form(value) or {}


def set_number(page: Any, label: str, value: int, *, key: str) -> None:
    """Type into a number box, then wait until the form (in the URL) has the value.

    Typing while the page is still finishing a rerun can be lost when the box is
    redrawn, so it is retried a few times.
    """
    for _ in range(4):
        wait_until(page, lambda: page.get_by_label(label, exact=True).count() == 1, 30, label)
        box = page.get_by_label(label, exact=True)
        try:
            box.fill(str(value), timeout=5_000)
            box.press("Enter", timeout=5_000)
            wait_until(page, lambda: url_form(page).get(key) == value, 8, f"{label} = {value}")
            return
        except (AssertionError, PlaywrightError):
            continue
    raise AssertionError(f"could not set {label} to {value}")


def open_surfaces(page: Any, url: str, preset: str, steps: int | None = None) -> None:
    page.goto(url)
    title = presets.get_by_title(preset).spec["name"]
    page.get_by_role("button", name=preset).click()
    wait_until(page, lambda: url_form(page).get("name") == title, 60, f"the preset {preset!r}")
    if steps is not None:
        set_number(page, "Steps", steps, key="steps")


def run(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Run").first.click()
    expect(page.locator("[data-testid='optlab-run-status']")).to_be_visible(timeout=30_000)
    page.wait_for_url(re.compile(r"[?&]exp=[0-9a-f]+"), timeout=30_000)


def cancel(page: Any) -> None:
    button = page.get_by_role("button", name="Cancel")
    if button.count():
        button.first.click()
        wait_until(page, lambda: "running" not in status(page), 20, "the cancel")


def test_sgdm_vs_adam_trajectories_grow_and_finish(dashboard_url: str, page: Any) -> None:
    open_surfaces(page, dashboard_url, "SGD-momentum vs Adam (Rosenbrock)", steps=8000)
    run(page)
    wait_until(page, lambda: min(loss_steps(page).values() or [0]) > 0, 60, "the first points")
    seen = [loss_steps(page)]
    wait_until(
        page, lambda: "finished" in status(page) and "running" not in status(page), 120, "the end"
    )
    # the status can turn "finished" one poll before the last points are drawn
    wait_until(
        page,
        lambda: sorted(loss_steps(page).values()) == [7999, 7999],
        30,
        "the last step drawn for both runs",
    )
    final = loss_steps(page)
    assert set(final) == {"SGD-momentum", "Adam"}
    assert all(seen[0][k] < final[k] for k in final), (seen, final)  # they grew
    points = trajectory_points(page)
    assert 1000 < points["SGD-momentum"] <= 2001 and 1000 < points["Adam"] <= 2001  # decimated
    assert status(page).count("finished") == 2
    player = page.locator("[data-testid='optlab-player']")
    wait_until(page, lambda: player.count() > 0, 10, "the player (replay in the browser)")
    assert page.get_by_text("Replay: step").count() == 0  # the player replaced the slider


def test_reload_mid_run_keeps_streaming(dashboard_url: str, page: Any) -> None:
    open_surfaces(page, dashboard_url, "Momentum on Rosenbrock", steps=40_000)
    run(page)
    wait_until(page, lambda: min(loss_steps(page).values() or [0]) > 200, 60, "streaming")
    url = page.url
    page.reload()
    assert page.url == url
    wait_until(page, lambda: len(loss_steps(page)) == 3, 60, "the charts after the reload")
    first = loss_steps(page)
    wait_until(
        page,
        lambda: all(loss_steps(page)[k] > first[k] for k in first) or "running" not in status(page),
        30,
        "new points after the reload",
    )
    assert "running" in status(page) or "finished" in status(page)
    cancel(page)


def test_share_link_opens_the_same_experiment(dashboard_url: str, page: Any, chromium: Any) -> None:
    open_surfaces(page, dashboard_url, "Saddle-point escape")
    run(page)
    exp_id = re.search(r"exp=([0-9a-f]+)", page.url).group(1)  # type: ignore[union-attr]
    wait_until(
        page, lambda: "running" not in status(page) and "queued" not in status(page), 90, "end"
    )
    other = chromium.new_context(viewport={"width": 1200, "height": 900})
    try:
        second = other.new_page()
        second.goto(f"{dashboard_url}/?exp={exp_id}")
        wait_until(second, lambda: exp_id in second.content() and status(second), 60, "shared view")
        assert status(second).count("finished") == 3
        wait_until(page, lambda: len(trajectory_points(page)) == 3, 30, "the first trajectories")
        mine = trajectory_points(page)
        wait_until(second, lambda: trajectory_points(second) == mine, 30, "the same trajectories")
    finally:
        other.close()


def test_plot_is_the_same_dom_node_through_five_seconds_of_streaming(
    dashboard_url: str, page: Any, record_property: Any
) -> None:
    open_surfaces(page, dashboard_url, "SGD-momentum vs Adam (Rosenbrock)", steps=60_000)
    run(page)
    wait_until(page, lambda: min(loss_steps(page).values() or [0]) > 100, 60, "streaming")
    contour = page.locator(".optlab-live-chart.js-plotly-plot").first.element_handle()
    contour.evaluate(INSTRUMENT)
    start, t0 = loss_steps(page), time.monotonic()
    same = []
    while time.monotonic() - t0 < 5.0:
        page.wait_for_timeout(500)
        same.append(contour.evaluate(SAME))
    seconds = time.monotonic() - t0
    reacts = page.evaluate("window.__reacts")
    end = loss_steps(page)
    cancel(page)
    assert all(same), "the contour's DOM node was replaced while streaming"
    assert all(end[k] > start[k] for k in start), (start, end)
    rate = reacts / seconds
    record_property("dashboard_contour_updates_per_s", round(rate, 1))
    print(f"\ncontour updates while streaming: {rate:.1f}/s")
    # Steady streaming; the 5/s aim is what benchmarks/bench_ui.py measures and reports
    # (on a 2-core machine the worker, the server and Chromium share the CPU).
    # Under a load average above twice the cores (other jobs on the machine) only
    # steady streaming is required: at least one update a second.
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    floor = 1.5 if load <= 2 * cores else 1.0
    assert rate >= floor, f"{rate:.1f} contour updates per second (load {load:.1f})"


def test_invalid_learning_rate_shows_a_message(dashboard_url: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(dashboard_url)
    box = page.get_by_label("lr (exact)").first
    expect(box).to_be_visible(timeout=60_000)
    box.fill("-1")
    box.press("Enter")
    expect(page.get_by_text("greater than or equal to 0").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text(re.compile(r"1 setting to fix"))).to_be_visible()
    expect(page.get_by_role("button", name="Run").first).to_be_disabled()


def test_cifar_preset_on_the_sample_runs_an_epoch_and_shows_accuracy(
    dashboard_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{dashboard_url}/training")
    page.get_by_role("button", name="SGD-momentum vs Adam on CIFAR-10").click()
    expect(page.get_by_text("Bundled sample")).to_be_visible(timeout=60_000)
    wait_until(
        page, lambda: url_form(page).get("problem", {}).get("name") == "cifar10_cnn", 60, "preset"
    )
    set_number(page, "Epochs", 1, key="epochs")
    page.get_by_text("CIFAR-10 CNN settings").click()
    for label, value in (("train limit", 1024), ("val limit", 512)):
        wait_until(
            page, lambda label=label: page.get_by_label(label, exact=True).count() == 1, 30, label
        )
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        field = label.replace(" ", "_")
        wait_until(
            page,
            lambda field=field, value=value: url_form(page)["problem"].get(field) == value,
            30,
            f"{label} in the form",
        )
    run(page)
    wait_until(page, lambda: status(page).count("val acc") == 2, 180, "validation accuracy")
    text = status(page)
    accs = [float(a) for a in re.findall(r"val acc ([\d.]+) %", text)]
    assert len(accs) == 2 and all(0 <= a <= 100 for a in accs), text
    wait_until(page, lambda: "validation accuracy" in charts(page), 30, "the accuracy chart")


def test_clicking_the_contour_moves_the_start_point(dashboard_url: str, page: Any) -> None:
    open_surfaces(page, dashboard_url, "Momentum on Rosenbrock")
    area = page.locator(".optlab-live-chart .nsewdrag").first
    wait_until(page, lambda: area.count() == 1 and area.bounding_box() is not None, 30, "plot")
    box = area.bounding_box()
    # the plot box of Rosenbrock is x in [-2, 2], y in [-1, 3]: its centre is (0, 1)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_until(page, lambda: url_form(page)["problem"]["start"] != [-1.5, 2.0], 30, "new start")
    x, y = url_form(page)["problem"]["start"]
    assert x == pytest.approx(0.0, abs=0.05) and y == pytest.approx(1.0, abs=0.05)
    assert page.get_by_label("x", exact=True).input_value() == f"{x:g}"


def test_uploading_a_spec_fills_the_form(dashboard_url: str, page: Any, tmp_path: Any) -> None:
    import json

    spec = presets.get("ill_conditioned").spec
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**spec, "name": "uploaded", "steps": 123}))
    page.goto(dashboard_url)
    wait_until(page, lambda: bool(url_form(page)), 60, "the page")
    page.locator("input[type=file]").set_input_files(str(path))
    wait_until(page, lambda: url_form(page).get("name") == "uploaded", 30, "the uploaded spec")
    assert url_form(page)["steps"] == 123
    assert url_form(page)["problem"]["name"] == "quadratic"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**spec, "steps": 0}))
    page.locator("input[type=file]").set_input_files(str(bad))
    expect_text = page.get_by_text("is not a valid spec")
    wait_until(page, lambda: expect_text.count() > 0, 30, "the upload's error message")


DASHES = """() => Array.from(document.querySelectorAll('.optlab-live-chart.js-plotly-plot'))
  .flatMap(el => (el._fullData || []).filter(t => t.mode === 'lines').map(t => ({
    name: t.name, dash: (t.line || {}).dash, color: (t.line || {}).color,
    n: t.x ? t.x.length : 0,
  })))"""


def test_averaged_path_and_effective_lr_are_dashed_lines(dashboard_url: str, page: Any) -> None:
    """Issue 9: a Schedule-Free run with warm-up, through the real worker and store."""
    draft = {
        "name": "averaged and effective",
        "problem": {"name": "rosenbrock"},
        "steps": 300,
        "runs": [
            {
                "label": "SF",
                "optimizer": {"name": "ScheduleFreeAdamW", "lr": 0.01, "warmup_steps": 50},
            }
        ],
    }
    page.goto(f"{dashboard_url}/?{share.share_query(draft=draft)}")
    wait_until(page, lambda: url_form(page).get("name") == draft["name"], 60, "the form")
    run(page)
    wait_until(
        page, lambda: "finished" in status(page) and "running" not in status(page), 90, "the end"
    )

    def lines() -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in page.evaluate(DASHES)}

    wait_until(page, lambda: lines().get("SF (averaged)", {}).get("n") == 301, 30, "the path")
    drawn = lines()
    assert drawn["SF (averaged)"]["dash"] == "dash"
    assert drawn["SF (averaged)"]["color"] == drawn["SF"]["color"]
    assert drawn["SF (effective)"]["dash"] == "dash"
