"""Pace control in a real Chromium (tests/e2e_apps/player_demo.py: 6 runs x 1,000 steps).

Play at a set speed advances the shown step at about that rate, pause holds it,
space and the arrow keys, Home and End work (not while typing in a text box), the
loss chart's cursor follows the shown step, and playing triggers no Streamlit rerun.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser

APP = "tests/e2e_apps/player_demo.py"
STEP = "[data-testid='optlab-player-step']"


def shown(page: Any) -> int:
    return int(page.locator(STEP).get_attribute("data-step") or -1)


def script_runs(page: Any) -> int:
    text = page.get_by_text(re.compile(r"script runs: \d+")).inner_text()
    return int(text.split(":")[1])


def open_demo(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator(STEP)).to_have_attribute("data-step", "999", timeout=60_000)
    page.wait_for_timeout(500)


def test_play_pause_speed_and_keys(streamlit_app: Any, page: Any) -> None:
    url = streamlit_app(APP)
    open_demo(page, url)
    runs_before = script_runs(page)
    page.get_by_role("button", name="first step (Home)").click()
    assert shown(page) == 0
    readout = page.locator("[data-testid='optlab-player-readout']").inner_text()
    assert "run 0" in readout and "loss" in readout and "lr" in readout

    # 2x = 200 steps/s: about 300 steps in 1.5 s
    page.get_by_label("speed").select_option("2")
    page.get_by_role("button", name="play / pause (space)").click()
    t0 = page.evaluate("performance.now()")
    s0 = shown(page)
    page.wait_for_timeout(1500)
    s1, t1 = shown(page), page.evaluate("performance.now()")
    rate = (s1 - s0) / ((t1 - t0) / 1000)
    assert 120 <= rate <= 260, f"{rate:.0f} steps/s at 2x (want ~200)"
    page.keyboard.press(" ")  # pause
    held = shown(page)
    page.wait_for_timeout(700)
    assert shown(page) == held, "pause did not hold the step"
    cursor = page.locator("[data-testid='optlab-cursor']")
    assert int(cursor.get_attribute("data-step") or -1) == held

    page.keyboard.press("ArrowRight")
    assert shown(page) == held + 1
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert shown(page) == held - 1
    page.keyboard.press("End")
    assert shown(page) == 999
    page.keyboard.press("Home")
    assert shown(page) == 0
    page.keyboard.press(" ")
    page.wait_for_timeout(600)
    page.keyboard.press(" ")
    assert shown(page) > 20  # 1x: ~60 steps
    # keys typed into a text box do not drive the player
    at = shown(page)
    page.get_by_label("a text box").click()
    page.keyboard.press("ArrowRight")
    page.keyboard.type(" ab")
    assert shown(page) == at
    assert script_runs(page) == runs_before, "playing triggered a Streamlit rerun"


def test_a_label_with_markup_is_shown_as_text(streamlit_app: Any, page: Any) -> None:
    """Run labels are user input (share links carry them): the readout must not parse them."""
    label = '<img src=x onerror="window.__pwned=1">'
    url = streamlit_app(APP, env={"PLAYER_DEMO_RUNS": "2", "PLAYER_DEMO_LABEL0": label})
    open_demo(page, url)
    readout = page.locator("[data-testid='optlab-player-readout']")
    assert label in readout.inner_text()
    assert readout.locator("img").count() == 0
    assert page.evaluate("window.__pwned === undefined")
