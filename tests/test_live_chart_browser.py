"""The live chart in a real Chromium against a real `streamlit run` of the demo app.

One streaming session, checked in phases: the plot's DOM node survives while its
traces grow, a user's zoom survives updates, Plotly.react runs >= 5 times a second,
plotly.js is fetched once and updates stay small on the websocket, a click returns
data coordinates to Python, and polling stops when the demo is done.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from typing import Any

import pytest

from tests.browser import WebSocketLog

pytestmark = pytest.mark.browser

APP = "tests/e2e_apps/live_chart_demo.py"
UPDATES = 120
ENV = {
    "LIVE_CHART_DEMO_UPDATES": str(UPDATES),
    "LIVE_CHART_DEMO_INTERVAL": "0.1",
    "LIVE_CHART_DEMO_POINTS": "25",  # 3000 points per run at the end, decimated
}
MAX_UPDATE_FRAME = 300_000
MIN_RATE = 5.0

# Wrap Plotly.react to count calls, and mark the node to prove it is never replaced.
INSTRUMENT = """el => {
  el.__marker = 42;
  window.__reacts = [];
  const original = window.Plotly.react;
  window.Plotly.react = function (...args) {
    window.__reacts.push(performance.now());
    return original.apply(this, args);
  };
}"""
# gd.data keeps the base64 typed-array specs; gd._fullData holds the decoded arrays.
SAMPLE = """el => ({
  same: el.isConnected && el.__marker === 42
        && document.querySelectorAll('.js-plotly-plot').length === 1
        && document.querySelector('.js-plotly-plot') === el,
  points: el._fullData[1].x.length,
  traces: el._fullData.length,
  reacts: window.__reacts.length,
  now: performance.now(),
  xrange: el._fullLayout.xaxis.range.slice(),
  yrange: el._fullLayout.yaxis.range.slice(),
})"""


def _min_rate() -> float:
    """The required Plotly.react rate: 5/s, unless other jobs overload this machine.

    The rate is bounded by CPU (Streamlit's per-rerun overhead, mostly): with the load
    average above twice the cores it can drop below 5/s for reasons outside this code,
    so then only steady streaming (2/s) is required, with a warning.
    """
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load <= 2 * cores:
        return MIN_RATE
    msg = f"load average {load:.1f} on {cores} cores: react rate floor lowered to 2/s"
    warnings.warn(msg, stacklevel=2)
    return 2.0


def _wait_for_reacts(handle: Any, at_least: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sample = handle.evaluate(SAMPLE)
        if sample["reacts"] >= at_least or time.monotonic() > deadline:
            return sample
        time.sleep(0.1)


def test_live_chart_updates_in_place(streamlit_app: Any, page: Any, record_property: Any) -> None:
    from playwright.sync_api import expect

    url = streamlit_app(APP, env=ENV)
    frames = WebSocketLog(marker=b'"content":').attach(page)  # marks static content
    plotly_fetches: list[str] = []
    page.on("request", lambda r: "plotly" in r.url and plotly_fetches.append(r.url))
    page.goto(url)

    plot = page.locator(".optlab-live-chart.js-plotly-plot")
    expect(plot).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"updates: \d+"))).to_be_visible()
    handle = plot.element_handle()
    handle.evaluate(INSTRUMENT)
    first_frames = frames.mark()  # frames so far include the one with the contour
    assert handle.evaluate(SAMPLE)["traces"] == 7  # contour (static) + 6 runs

    # (1) + (3): >= 5 s of streaming, the same node, growing traces, >= 5 reacts/s.
    samples = [handle.evaluate(SAMPLE)]
    while samples[-1]["now"] - samples[0]["now"] < 5_000:
        page.wait_for_timeout(500)
        samples.append(handle.evaluate(SAMPLE))
    assert all(s["same"] for s in samples), "the Plotly div was replaced during streaming"
    points = [s["points"] for s in samples]
    # decimation may halve a trace's drawn points when a run crosses max_points: growth, not order
    assert max(points) > points[0], points
    seconds = (samples[-1]["now"] - samples[0]["now"]) / 1000
    rate = (samples[-1]["reacts"] - samples[0]["reacts"]) / seconds
    assert rate >= _min_rate(), f"{rate:.1f} Plotly.react calls per second"

    # (2) a user's box zoom survives later updates (uirevision).
    area = page.locator(".optlab-live-chart .nsewdrag").bounding_box()
    assert area is not None
    x0, y0, w, h = area["x"], area["y"], area["width"], area["height"]
    page.mouse.move(x0 + 0.3 * w, y0 + 0.3 * h)
    page.mouse.down()
    page.mouse.move(x0 + 0.5 * w, y0 + 0.5 * h, steps=5)
    page.mouse.move(x0 + 0.6 * w, y0 + 0.6 * h, steps=5)
    page.mouse.up()
    zoomed = handle.evaluate(SAMPLE)
    assert zoomed["xrange"][1] - zoomed["xrange"][0] < 3.0, zoomed["xrange"]  # was [-3, 3]
    later = _wait_for_reacts(handle, zoomed["reacts"] + 5)
    assert later["reacts"] >= zoomed["reacts"] + 5, "updates stopped"
    assert later["same"]
    assert later["xrange"] == pytest.approx(zoomed["xrange"])
    assert later["yrange"] == pytest.approx(zoomed["yrange"])

    # A page that lost the static contour asks for it again (missing_static trigger).
    handle.evaluate("() => window.__optlabLiveChart.cache.clear()")
    deadline = time.monotonic() + 10
    seen_without = False
    while time.monotonic() < deadline:
        sample = handle.evaluate(SAMPLE)
        seen_without |= sample["traces"] == 6
        if seen_without and sample["traces"] == 7:
            break
        time.sleep(0.05)
    assert sample["traces"] == 7, "the contour did not come back"
    assert sample["same"] and sample["xrange"] == pytest.approx(zoomed["xrange"])

    # (5) a click on the plot returns its data coordinates to Python (the centre).
    page.mouse.click(x0 + 0.5 * w, y0 + 0.5 * h)
    clicked = page.get_by_text(re.compile(r"clicked at x="))
    expect(clicked).to_be_visible(timeout=10_000)
    cx, cy = (float(v) for v in re.findall(r"-?\d+\.\d+", clicked.inner_text()))
    assert cx == pytest.approx(sum(later["xrange"]) / 2, abs=0.02)
    assert cy == pytest.approx(sum(later["yrange"]) / 2, abs=0.02)

    # Polling stops once the demo is done: no more reacts.
    expect(page.get_by_text(f"updates: {UPDATES} (done)")).to_be_visible(timeout=40_000)
    page.wait_for_timeout(300)
    settled = handle.evaluate(SAMPLE)
    page.wait_for_timeout(1_000)
    final = handle.evaluate(SAMPLE)
    assert final["reacts"] == settled["reacts"], "the fragment kept polling"
    assert final["same"] and final["points"] <= 2000 and final["xrange"] == later["xrange"]

    # (4) plotly.js came once over HTTP, never with the updates.
    assert len(plotly_fetches) == 1 and plotly_fetches[0].endswith("/plotly.min.js")
    scripts = page.evaluate("document.querySelectorAll('script[src*=\"plotly.min.js\"]').length")
    assert scripts == 1
    max_update = frames.max_since(first_frames, marked=False)
    max_static = frames.max_since(0, marked=True)
    resent = sum(frames.marked[first_frames:])
    record_property("react_rate_per_s", round(rate, 1))
    record_property("max_update_frame_bytes", max_update)
    record_property("max_static_frame_bytes", max_static)
    print(
        f"\nlive chart: {rate:.1f} reacts/s; largest update frame {max_update} B; "
        f"largest frame with the static contour {max_static} B "
        f"({resent} such frames after the first render); {len(frames.received)} frames"
    )
    assert max_update < MAX_UPDATE_FRAME, f"an update frame was {max_update} bytes"
    assert max_static < MAX_UPDATE_FRAME, f"a frame with static content was {max_static} bytes"
