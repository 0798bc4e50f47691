"""Issue 12 in a real Chromium: arrows and the step inspector follow the player, the LR
finder's plot and "use this lr", the pitfall warnings on their run's card."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from optlab.spec import parse_spec
from optlab.ui import presets
from optlab.ui.charts import step_inspector
from optlab.ui.state import share
from tests.helpers import finished_experiment

pytestmark = pytest.mark.browser

STEP = "[data-testid='optlab-player-step']"
ARROWS = "[data-testid='optlab-arrows']"
INSPECTOR = "[data-testid='optlab-inspector']"
SPEC = {
    "problem": {"name": "rosenbrock", "start": [-1.5, 2.0]},
    "steps": 120,
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.0005, "momentum": 0.9},
            "record_state": True,
        },
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}, "record_state": True},
    ],
}


@pytest.fixture(scope="module")
def served(streamlit_app: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A dashboard on its own store holding a finished record_state experiment."""
    home = tmp_path_factory.mktemp("instruments_home")
    spec = parse_spec(SPEC)
    exp_id, data = finished_experiment(home / "optlab.db", spec)
    url = streamlit_app("app.py", env={"OPTLAB_HOME": str(home), "OPTLAB_WORKERS": "1"})
    yield url, exp_id, data, spec


def _shown(page: Any) -> int:
    return int(page.locator(STEP).get_attribute("data-step") or -1)


def _arrows(page: Any) -> tuple[int, list[dict[str, Any]]]:
    canvas = page.locator(ARROWS)
    return int(canvas.get_attribute("data-step") or -1), json.loads(
        canvas.get_attribute("data-arrows") or "[]"
    )


def _inspector(page: Any, label: str) -> str:
    return page.locator(f"{INSPECTOR} [data-run='{label}']").inner_text()


def test_arrows_and_inspector_follow_the_player(served: Any, page: Any) -> None:
    from playwright.sync_api import expect

    url, exp_id, data, spec = served
    page.goto(f"{url}/?{share.EXP_PARAM}={exp_id}")
    expect(page.locator(ARROWS)).to_have_attribute("data-step", "120", timeout=60_000)
    page.get_by_role("button", name="first step (Home)").click()
    step, drawn = _arrows(page)
    assert step == _shown(page) == 0
    assert {d["label"] for d in drawn} == {"SGDM", "Adam"}
    assert all(d.get("grad") and d.get("update") and d.get("buffer") for d in drawn)
    adam = step_inspector.inspector_data(data.runs[1], spec.runs[1].optimizer)
    assert adam is not None
    for t in (0, 1, 2, 3):
        if t:
            page.keyboard.press("ArrowRight")
        assert _shown(page) == t
        text = _inspector(page, "Adam")
        for line in step_inspector.render(adam, t):  # the browser fills in what Python would
            assert line in text, f"step {t}: {line!r} not in {text!r}"
    before = _arrows(page)[1]
    page.get_by_role("button", name="play / pause (space)").click()
    page.wait_for_timeout(400)
    page.keyboard.press(" ")
    held = _shown(page)
    step, after = _arrows(page)
    assert held > 3 and step == held
    assert [d["update"] for d in after] != [d["update"] for d in before]
    assert f"update t = {held}" in _inspector(page, "SGDM")
    page.keyboard.press("End")  # the final point: the last update is shown
    assert _shown(page) == 120 and "update t = 119" in _inspector(page, "Adam")
    assert len(_arrows(page)[1]) == 2


def _form(page: Any) -> dict[str, Any]:
    value = parse_qs(urlparse(page.url).query).get(share.FORM_PARAM, [""])[0]
    return share.decode_form(value) or {}


def test_finder_plot_and_use_this_lr(served: Any, page: Any) -> None:
    url = served[0]
    from playwright.sync_api import Error as PlaywrightError

    page.goto(url)
    page.get_by_role("button", name="Run").first.wait_for(timeout=30_000)  # the form is up
    use = page.get_by_role("button", name=re.compile(r"use valley lr"))
    for _ in range(3):  # a click that lands while the page reruns is lost: click again
        find = page.get_by_role("button", name="Find the lr")
        if not find.is_visible():
            page.get_by_text("LR finder", exact=True).click()
        try:
            find.click(timeout=10_000)
            use.wait_for(timeout=15_000)
            break
        except PlaywrightError:
            continue
    use.wait_for(timeout=5_000)
    assert page.locator("text=smoothed").count()  # the plot's legend
    valley = float(use.inner_text().split()[-1])
    use.click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = _form(page).get("runs") or []
        if runs and runs[0]["optimizer"]["lr"] == pytest.approx(valley, rel=1e-2):
            break
        page.wait_for_timeout(200)
    assert _form(page)["runs"][0]["optimizer"]["lr"] == pytest.approx(valley, rel=1e-2)


def test_pitfall_warning_sits_on_its_runs_card(served: Any, page: Any) -> None:
    url = served[0]
    draft = presets.get("adam_wd_vs_adamw").spec
    page.goto(f"{url}/training?{share.share_query(draft=draft)}")
    warning = page.locator("[data-testid='stAlert']").filter(has_text="weight_decay").first
    warning.wait_for(timeout=30_000)
    labels = [r["label"] for r in draft["runs"]]
    for label in labels:  # the cards' label boxes hold their values
        page.locator(f"input[value='{label}']").first.wait_for(timeout=30_000)
    owner = warning.evaluate(
        """(el, labels) => {
          // the nearest enclosing block that holds a run's label box: the warning's card
          for (let a = el.parentElement; a; a = a.parentElement) {
            const found = [...a.querySelectorAll("input")].map(i => i.value)
              .filter(v => labels.includes(v));
            if (found.length) return found;
          }
          return [];
        }""",
        labels,
    )
    assert owner == ["Adam wd=0.1"]
