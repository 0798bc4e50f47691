"""Lessons in a real Chromium against `streamlit run app.py` with a real worker.

A lesson opens at a scene from its URL, next/previous follow (and the URL with them),
locked controls cannot change, the question hides the race until answered, the race
plays with the player, presenter mode hides the editor.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser import PAINT_JS, check_colorbar_titles, contrast

pytestmark = pytest.mark.browser


def test_lesson_scene_url_nav_lock_question_presenter(dashboard_url: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{dashboard_url}/lessons?lesson=momentum_valley&scene=2")
    expect(page.get_by_role("heading", name="Heavy-ball momentum")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Previous").click()
    expect(page.get_by_role("heading", name="The stability limit")).to_be_visible(timeout=30_000)
    page.wait_for_url(re.compile(r"scene=1"), timeout=10_000)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Heavy-ball momentum")).to_be_visible(timeout=30_000)
    page.wait_for_url(re.compile(r"scene=2"), timeout=10_000)
    page.get_by_role("button", name="Previous").click()
    page.wait_for_url(re.compile(r"scene=1"), timeout=10_000)

    locked = page.get_by_role("spinbutton", name=re.compile("condition number"))
    expect(locked).to_be_disabled(timeout=10_000)
    assert not locked.is_editable()

    # the question hides the race: no Run button, no chart, until answered
    expect(page.get_by_text("Which run leaves the valley")).to_be_visible()
    assert page.get_by_role("button", name="Run").count() == 0
    assert page.locator(".optlab-live-chart").count() == 0
    page.get_by_text("GD lr 2.05").click()
    page.get_by_role("button", name="Answer").click()
    expect(page.get_by_text("you answered")).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Run").click()
    step = page.locator("[data-testid='optlab-player-step']")
    expect(step).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid='optlab-run-status']")).to_contain_text(
        "diverged", timeout=60_000
    )

    page.goto(f"{dashboard_url}/lessons?lesson=momentum_valley&scene=1&present=1")
    expect(page.get_by_role("heading", name="The stability limit")).to_be_visible(timeout=60_000)
    assert page.get_by_role("spinbutton", name=re.compile("condition number")).count() == 0
    # presenter mode hides the sidebar once the page's style arrives (not with the heading)
    expect(page.locator("[data-testid='stSidebar']")).to_be_hidden(timeout=20_000)


SHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "screenshots"

# the contour's plot area (Plotly's drag box), the paths' canvas, the player bar, the
# scene's caption and Run: viewport rectangles [left, top, right, bottom]
_BOXES = """() => {
    const box = (el) => {
        if (!el || el.style.display === 'none') return null;
        const b = el.getBoundingClientRect();
        return [b.left, b.top, b.right, b.bottom];
    };
    const gd = document.querySelector('.optlab-live-chart');
    return {
        plot: box(gd.querySelector('.nsewdrag')),
        canvas: box(document.querySelector('.optlab-player-canvas')),
        bar: box(document.querySelector('.optlab-player')),
        caption: box(document.querySelector('.st-key-optlab-caption')),
        run: box(document.querySelector('.st-key-optlab-lesson-run button')),
        paper: gd._fullLayout.paper_bgcolor,
    };
}"""


def _on_screen(b: list[float]) -> bool:
    return b[0] >= 0 and b[1] >= 0 and b[2] <= 1280 and b[3] <= 720


def _strip_above(page: Any, plot: list[float]) -> Any:
    """RGB pixels of a 12 px strip just above the plot area and its frame (numpy array)."""
    import io

    import numpy as np
    from PIL import Image

    clip = {"x": plot[0] + 3, "y": plot[1] - 15, "width": plot[2] - plot[0] - 6, "height": 12}
    png = page.screenshot(clip=clip)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _hex_rgb(color: str) -> list[float]:
    h = color.lstrip("#")
    return [float(int(h[i : i + 2], 16)) for i in (0, 2, 4)]


@pytest.mark.parametrize("look", ["light", "dark", "projector"])
def test_scene_screenshot_in_each_theme(dashboard_url: str, chromium: Any, look: str) -> None:
    """One scene (saddle, scene 2) run and shown at its end, at 1280x720, per theme: the
    caption, Run, the player bar and the contour's whole plot area are on screen without
    scrolling (normal mode, sidebar shown), and the escaping paths stop at the plot's top
    edge, both drawn by the player's canvas and by Plotly itself."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{dashboard_url}/lessons?lesson=saddle_escape&scene=2&theme={look}")
        page.get_by_role("button", name="Run").click(timeout=60_000)
        step = page.locator("[data-testid='optlab-player-step']")
        expect(step).to_be_visible(timeout=60_000)
        expect(page.locator("[data-testid='optlab-run-status']")).not_to_contain_text(
            "running", timeout=60_000
        )
        page.wait_for_timeout(1500)
        page.mouse.move(1270, 710)  # no hover label over the plot
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")  # one step before the end: the canvas draws the paths
        expect(step).to_have_attribute("data-step", "299", timeout=10_000)
        page.wait_for_timeout(300)
        assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop") == 0
        boxes = page.evaluate(_BOXES)
        assert (boxes["paper"] == "#0e1117") == (look == "dark")
        for name in ("plot", "bar", "caption", "run"):
            assert boxes[name] is not None and _on_screen(boxes[name]), (name, boxes)
        assert boxes["bar"][3] <= boxes["plot"][1], boxes  # the bar above the plot
        # the canvas lies exactly over the plot area: what it draws stops at the axes
        assert boxes["canvas"] == pytest.approx(boxes["plot"], abs=1.5), boxes
        paper = _hex_rgb(boxes["paper"])
        strip = _strip_above(page, boxes["plot"])
        assert abs(strip - paper).max() < 40, "a path drawn above the plot (canvas)"
        page.keyboard.press("End")  # following: Plotly's own traces hold the paths
        expect(step).to_have_attribute("data-step", "300", timeout=10_000)
        page.wait_for_timeout(500)
        assert page.evaluate(_BOXES)["canvas"] is None
        strip = _strip_above(page, boxes["plot"])
        assert abs(strip - paper).max() < 40, "a path drawn above the plot (Plotly)"
        check_colorbar_titles(page)  # "f" whole, inside the SVG, clear of the ticks
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"lesson_{look}.png"))
    finally:
        context.close()


@pytest.mark.parametrize("look", ["dark", "projector"])
def test_locked_control_and_first_scene_read_at_1280x720(
    dashboard_url: str, chromium: Any, look: str
) -> None:
    """The first scene of momentum_valley at 1280x720: its locked condition number reads
    (WCAG contrast of the painted value on its painted box 4.5:1 or more) yet is clearly
    dimmer than the free lr beside it; Previous (disabled: the first scene) looks unlike
    Next (border, cursor, label ink) and its label still reads."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{dashboard_url}/lessons?lesson=momentum_valley&scene=1&theme={look}")
        locked = page.get_by_role("spinbutton", name=re.compile("condition number"))
        expect(locked).to_be_disabled(timeout=60_000)
        free = page.get_by_role("spinbutton", name=re.compile("lr of the second run"))
        expect(free).to_be_enabled()
        page.wait_for_timeout(500)  # the theme's style block
        off, on = locked.evaluate(PAINT_JS), free.evaluate(PAINT_JS)
        assert locked.input_value() == "50"  # kappa, the value a class must read
        c_off, c_on = contrast(off["ink"], off["bg"]), contrast(on["ink"], on["bg"])
        assert 4.5 <= c_off <= 0.75 * c_on, (c_off, c_on, off, on)
        previous = page.get_by_role("button", name="Previous")
        following = page.get_by_role("button", name="Next")
        expect(previous).to_be_disabled()
        expect(following).to_be_enabled()
        p_box, n_box = previous.evaluate(PAINT_JS), following.evaluate(PAINT_JS)
        p_ink = previous.locator("p").evaluate(PAINT_JS)
        n_ink = following.locator("p").evaluate(PAINT_JS)
        assert (p_box["cursor"], n_box["cursor"]) == ("not-allowed", "pointer")
        assert p_box["border"] != n_box["border"] and p_box["border"].startswith("dashed")
        c_prev, c_next = contrast(p_ink["ink"], p_ink["bg"]), contrast(n_ink["ink"], n_ink["bg"])
        assert 4.5 <= c_prev <= 0.75 * c_next, (c_prev, c_next)
        page.mouse.move(1270, 710)
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"lesson_locked_first_{look}.png"))
    finally:
        context.close()
