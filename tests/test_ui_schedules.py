"""AppTest: the Schedules page — instant previews, per-group curves, validation, presets."""

from __future__ import annotations

from typing import Any

from tests.markdown_shown import shown


def button(at: Any, label: str, index: int = 0) -> Any:
    return [b for b in at.button if b.label == label][index]


def test_preview_table_and_gallery(ui_page: Any) -> None:
    at = ui_page("schedules")
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "schedule" in d.value.columns)
    assert list(table["schedule"]) == ["warmup + cosine", "step decay"]
    assert list(table["first lr"]) == ["0.001", "0.1"]  # warmup starts at 1 % of 0.1
    assert table["what"][1] == "StepLR(step_size=300, gamma=0.3)"
    assert "#### Every scheduler in torch.optim.lr_scheduler" in [m.value for m in at.markdown]


def test_changing_a_parameter_updates_the_preview(ui_page: Any) -> None:
    at = ui_page("schedules")
    gamma = next(n for n in at.number_input if n.label == "gamma")
    gamma.set_value(0.5).run()
    table = next(d.value for d in at.dataframe if "schedule" in d.value.columns)
    assert table["last lr"][1] == "0.0125"  # 0.1 · 0.5³ after 1000 steps of StepLR(300)


def test_invalid_argument_shows_a_message_not_a_traceback(ui_page: Any) -> None:
    at = ui_page("schedules")
    step_size = next(n for n in at.number_input if n.label == "step_size")
    step_size.set_value(0).run()
    assert not at.exception
    text = shown("\n".join(e.value for e in at.error))  # as the browser shows the Markdown
    assert "runs[1].scheduler.step_size" in text and "greater than or equal to 1" in text


def test_two_param_groups_give_two_curves_per_schedule(ui_page: Any) -> None:
    at = ui_page("schedules")
    next(t for t in at.toggle if t.label == "Two param groups").set_value(True).run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "schedule" in d.value.columns)
    assert table["first lr"][1] == "1 / 0.1"  # head at 10× then the default group


def test_presets_and_adding_a_schedule(ui_page: Any) -> None:
    at = ui_page("schedules")
    button(at, "Cyclic vs one-cycle").click().run()
    table = next(d.value for d in at.dataframe if "schedule" in d.value.columns)
    assert list(table["schedule"]) == ["CyclicLR", "OneCycleLR"]
    button(at, "Add a schedule", -1).click().run()
    table = next(d.value for d in at.dataframe if "schedule" in d.value.columns)
    assert list(table["schedule"])[-1] == "schedule 3"
    assert not at.error


def test_composite_children_can_be_added_and_removed(ui_page: Any) -> None:
    at = ui_page("schedules")
    before = [s.label for s in at.selectbox].count("schedule 3")
    button(at, "Add a schedule", 0).click().run()  # inside the SequentialLR
    assert [s.label for s in at.selectbox].count("schedule 3") == before + 1
    # three children need two milestones: the form says so
    assert "milestones" in "\n".join(e.value for e in at.error)
    button(at, "Remove this schedule", 2).click().run()
    assert [s.label for s in at.selectbox].count("schedule 3") == before
    assert not at.error
