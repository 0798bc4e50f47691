"""The classroom in a real Chromium against `streamlit run app.py` with a real worker.

Presenter mode hides the editor on Surfaces and Training (and a students' link the
controls); the Training page's player plays the recorded steps and every chart's cursor
follows (the per-epoch ones at step / steps per epoch); at 1280x720 a lesson's caption
is on screen with the race; nothing is fetched from outside 127.0.0.1 (every request
is recorded, KaTeX, fonts and plotly.js included).
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlparse

import pytest

from optlab.ui.state import share
from tests.browser import check_colorbar_titles

pytestmark = pytest.mark.browser

STEP = "[data-testid='optlab-player-step']"
MODEL = {
    "name": "player on Training (browser test)",
    "problem": {"name": "mse_regression", "n_samples": 500},
    "epochs": 4,
    "batch_size": 20,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
    ],
}


def _local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname == "127.0.0.1"


def test_presenter_mode_hides_the_editor_on_surfaces_and_training(
    dashboard_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    for path in ("", "training"):
        page.goto(f"{dashboard_url}/{path}")
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_role("textbox", name="label").first).to_be_visible(timeout=30_000)
        page.goto(f"{dashboard_url}/{path}?present=1")
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible(timeout=60_000)
        page.wait_for_url(re.compile(r"present=1"), timeout=20_000)
        assert page.get_by_role("textbox", name="label").count() == 0
        expect(page.locator("[data-testid='stSidebar']")).to_be_hidden(timeout=20_000)
        if not path:  # the presenter runs the race: nothing (the header) covers Run
            page.get_by_role("button", name="Run", exact=True).click(timeout=20_000)
            expect(page.locator(STEP)).to_be_visible(timeout=60_000)
        # the toggle brings the editor back, and the URL follows
        page.get_by_text("Presenter mode").click()
        expect(page.get_by_role("textbox", name="label").first).to_be_visible(timeout=30_000)
        page.wait_for_url(lambda url: "present=1" not in url, timeout=20_000)
    page.goto(f"{dashboard_url}/?controls=0")  # a students' link: no editor, sidebar kept
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible(timeout=60_000)
    assert page.get_by_role("textbox", name="label").count() == 0


def test_training_player_plays_steps_and_moves_every_cursor(dashboard_url: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{dashboard_url}/training?{share.FORM_PARAM}={share.encode_form(MODEL)}")
    page.get_by_role("button", name="Run", exact=True).click(timeout=60_000)
    expect(page.locator("[data-testid='optlab-run-status']")).to_contain_text(
        "finished", timeout=90_000
    )
    last = 4 * math.ceil(500 * 0.8 / 20) - 1  # 4 epochs of 20 batches
    expect(page.locator(STEP)).to_have_attribute("data-step", str(last), timeout=30_000)
    assert page.get_by_text("Replay: step").count() == 0
    page.keyboard.press("Home")
    assert int(page.locator(STEP).get_attribute("data-step") or -1) == 0
    page.get_by_label("speed").select_option("0.5")  # 50 steps/s
    page.get_by_role("button", name="play / pause (space)").click()
    page.wait_for_timeout(800)
    page.keyboard.press(" ")
    held = int(page.locator(STEP).get_attribute("data-step") or -1)
    assert 15 <= held <= 70, held
    page.wait_for_timeout(400)
    assert int(page.locator(STEP).get_attribute("data-step") or -1) == held
    readout = page.locator("[data-testid='optlab-player-readout']").inner_text()
    assert "SGD: loss" in readout and "Adam: loss" in readout and "lr" in readout
    page.keyboard.press("ArrowRight")
    cursors = page.locator("[data-testid='optlab-cursor']")
    expect(cursors).to_have_count(3, timeout=10_000)  # step loss, lr, epoch loss
    assert {c.get_attribute("data-step") for c in cursors.all()} == {str(held + 1)}
    # the epoch chart's cursor sits at step / steps per epoch on its epoch axis
    x = page.evaluate(
        """() => {
        const gd = [...document.querySelectorAll('.optlab-live-chart')].find(
            (g) => g._fullLayout && g._fullLayout.xaxis.title.text === 'epoch');
        const line = gd.parentElement.querySelector(':scope > .optlab-cursor');
        const fl = gd._fullLayout;
        return fl.xaxis.p2l(parseFloat(line.style.left) - gd.offsetLeft - fl._size.l);
    }"""
    )
    assert x == pytest.approx((held + 1) / 20, abs=0.05)


@pytest.mark.parametrize("look", ["dark", "projector"])
def test_lesson_at_1280x720_is_local_and_keeps_the_caption_on_screen(
    dashboard_url: str, chromium: Any, look: str
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    requests: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{dashboard_url}/lessons?lesson=momentum_valley&scene=2&theme={look}")
        caption = page.locator(".st-key-optlab-caption")
        expect(caption).to_be_visible(timeout=60_000)
        expect(caption.locator(".katex").first).to_be_visible(timeout=30_000)  # LaTeX rendered
        page.get_by_text("optimal heavy ball").click()
        page.get_by_role("button", name="Answer").click()
        page.get_by_role("button", name="Run", exact=True).click(timeout=30_000)
        expect(page.locator(STEP)).to_be_visible(timeout=60_000)
        box = caption.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, box
        bg = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
        )
        assert (bg == "rgb(14, 17, 23)") == (look == "dark"), bg
        select = page.evaluate(
            """() => getComputedStyle(document.querySelector("[data-testid=stSidebar] "
                + "[data-testid=stSelectbox] [role=group]")).backgroundColor"""
        )
        assert look != "dark" or select == "rgb(29, 34, 48)", select  # the theme box itself
        button = page.get_by_role("button", name="Previous")
        border = button.evaluate("b => getComputedStyle(b).borderTopWidth")
        assert look != "projector" or border == "2px", border
    finally:
        context.close()
    outside = sorted({u for u in requests if not _local(u)})
    assert not outside, outside
    assert any("plotly" in u for u in requests)  # plotly.js came from this server


_PLOT_BOX = """() => {
    const gd = document.querySelector('.optlab-live-chart');
    const b = gd.querySelector('.nsewdrag').getBoundingClientRect();
    return [b.top, b.bottom];
}"""


def test_contour_and_player_fit_1280x720(dashboard_url: str, chromium: Any) -> None:
    """Surfaces ?present=1, and a lesson's scene in normal mode (sidebar shown; the longest
    caption, a question, three controls): after the race, with the page at its top, the
    contour's whole plot area and the player bar are on screen, and for the lesson its
    caption and Run, without the page having scrolled."""
    from playwright.sync_api import expect

    shots = __import__("pathlib").Path("/tmp/wtfit")
    shots.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        for name, path in (
            ("surfaces_present", "?present=1&theme=projector"),
            ("lesson_valley", "lessons?lesson=momentum_valley&scene=2"),
        ):
            page.goto(f"{dashboard_url}/{path}")
            if name != "surfaces_present":  # the scene's question first
                page.get_by_role("radio").first.check(force=True, timeout=60_000)
                answer = page.get_by_role("button", name="Answer")
                expect(answer).to_be_enabled(timeout=60_000)
                answer.dispatch_event("click")
            # dispatched, not clicked: Playwright's click scrolls a button into view when a
            # rerun's layout shift has it out of view for a moment, and this test checks
            # that nothing scrolls the page
            run = page.get_by_role("button", name="Run", exact=True)
            expect(run).to_be_enabled(timeout=60_000)
            run.dispatch_event("click")
            expect(page.locator(STEP)).to_be_visible(timeout=60_000)
            expect(page.locator("[data-testid='optlab-run-status']")).not_to_contain_text(
                "running", timeout=60_000
            )
            page.wait_for_timeout(1500)  # the final full rerun after the race
            page.mouse.move(1270, 710)  # no tooltip from a mouse resting on Run
            main = "document.querySelector('[data-testid=stMain]')"
            page.wait_for_function(f"() => {main} !== null", timeout=30_000)  # a rerun's DOM
            if name.startswith("lesson"):  # nothing scrolled the page (Run, the race)
                assert page.evaluate(f"() => {main}.scrollTop") == 0
            page.evaluate(f"() => {main}.scrollTo(0, 0)")
            top, bottom = page.evaluate(_PLOT_BOX)
            assert top >= 0 and bottom <= 720, (name, top, bottom)
            bar = page.locator(".optlab-player").first.bounding_box()
            assert bar is not None and bar["y"] >= 0 and bar["y"] + bar["height"] <= top, bar
            if name.startswith("lesson"):
                for part in (".st-key-optlab-caption", ".st-key-optlab-lesson-run button"):
                    box = page.locator(part).first.bounding_box()
                    assert box is not None and box["y"] >= 0, (part, box)
                    assert box["y"] + box["height"] <= 720, (part, box)
            check_colorbar_titles(page)  # the fitted contour's colour bar title whole
            page.screenshot(path=str(shots / f"fit_{name}.png"))
    finally:
        context.close()
