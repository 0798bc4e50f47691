"""Lessons: every scene's spec validates; the page opens scenes from the URL (AppTest)."""

from __future__ import annotations

from typing import Any

import pytest

from optlab.spec import parse_spec
from optlab.ui import lessons

REQUIRED = {"momentum_valley", "saddle_escape", "warmup_cosine", "scheduler_order",
            "sgdm_vs_adam_cifar"}  # fmt: skip


def test_the_five_lessons_are_shipped() -> None:
    assert set(lessons.names()) >= REQUIRED


@pytest.mark.parametrize("name", lessons.names())
def test_every_scene_parses(name: str) -> None:
    lesson = lessons.load(name)
    assert lesson.title and lesson.scenes
    for scene in lesson.scenes:
        parse_spec(scene.spec)
        assert scene.caption.strip()
        values = {c.path: lessons.get_path(scene.spec, c.path) for c in scene.controls}
        parse_spec(lessons.scene_spec(scene, values))
        if scene.question:
            assert len(scene.choices) >= 2


def test_locked_controls_keep_the_spec_value() -> None:
    scene = lessons.load("momentum_valley").scenes[0]
    assert "steps" in scene.locked
    spec = lessons.scene_spec(scene, {"steps": 5, "runs.1.optimizer.lr": 0.5})
    assert spec["steps"] == 200 and spec["runs"][1]["optimizer"]["lr"] == 0.5


def test_unknown_lesson_is_refused() -> None:
    with pytest.raises(ValueError):
        lessons.load("../etc/passwd")


def _page(query: dict[str, str]) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(
        "from optlab.ui.pages import lessons\nlessons.render()\n", default_timeout=60
    )
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_page_opens_a_scene_from_the_url_and_moves(ui_home: Any) -> None:
    at = _page({"lesson": "momentum_valley", "scene": "2"})
    assert not at.exception
    assert any("Heavy-ball momentum" in m.value for m in at.markdown)
    assert at.query_params["scene"] == ["2"] or at.query_params["scene"] == "2"
    at.button(key="lesson:prev").click().run()
    assert any("stability limit" in m.value for m in at.markdown)
    assert str(at.query_params["scene"]).strip("[]'") == "1"
    locked = [n for n in at.number_input if "🔒" in n.label]
    assert locked and all(n.disabled for n in locked)
    # the question hides the Run button (the race) until answered
    assert not [b for b in at.button if b.key == "lesson:run"]
    at.radio[0].set_value("GD lr 2.05").run()
    at.button(key=f"{lessons_answer_key('momentum_valley', 1)}:button").click().run()
    assert [b for b in at.button if b.key == "lesson:run"]


def lessons_answer_key(name: str, k: int) -> str:
    return f"optlab:lesson:answer:{name}:{k}"


def test_presenter_mode_hides_the_controls(ui_home: Any) -> None:
    at = _page({"lesson": "saddle_escape", "scene": "1", "present": "1"})
    assert not at.exception
    assert not at.number_input
    at = _page({"lesson": "saddle_escape", "scene": "1", "controls": "0"})
    assert not at.number_input


def test_index_lists_the_lessons(ui_home: Any) -> None:
    at = _page({})
    assert not at.exception
    assert len([b for b in at.button if b.label == "Open"]) >= 5
