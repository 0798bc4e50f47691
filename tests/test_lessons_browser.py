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
    assert not page.locator("[data-testid='stSidebar']").is_visible()
