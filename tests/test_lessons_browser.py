"""Lessons in a real Chromium against `streamlit run app.py` with a real worker.

A lesson opens at a scene from its URL, next/previous follow (and the URL with them),
locked controls cannot change, the question hides the race until answered, the race
plays with the player, presenter mode hides the editor.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

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


SHOTS = REPO = __import__("pathlib").Path(__file__).resolve().parent.parent / "screenshots"


@pytest.mark.parametrize("look", ["light", "dark", "projector"])
def test_scene_screenshot_in_each_theme(dashboard_url: str, chromium: Any, look: str) -> None:
    """One scene (saddle, scene 2) run and shown at its end, at 1280x720, per theme."""
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
        page.keyboard.press("End")
        page.wait_for_timeout(500)
        bg = page.evaluate(
            "() => document.querySelector('.optlab-live-chart')._fullLayout.paper_bgcolor"
        )
        assert (bg == "#0e1117") == (look == "dark")
        SHOTS.mkdir(exist_ok=True)
        page.locator(".optlab-live-chart").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"lesson_{look}.png"))
    finally:
        context.close()
