"""AppTest: the Surfaces page's form, validation, presets, share link and start point."""

from __future__ import annotations

from typing import Any

from optlab.ui.state import share
from tests.markdown_shown import shown


def labels(at: Any) -> list[str]:
    return [t.value for t in at.text_input if t.label == "label"]


def exact_lr(at: Any) -> list[Any]:
    return [n for n in at.number_input if n.label == "lr (exact)"]


def button(at: Any, label: str, index: int = 0) -> Any:
    return [b for b in at.button if b.label == label][index]


def query(at: Any, key: str) -> str:
    value = at.query_params[key]
    return value[0] if isinstance(value, list) else value


def form_in_url(at: Any) -> dict[str, Any]:
    decoded = share.decode_form(query(at, share.FORM_PARAM))
    assert decoded is not None
    return decoded


def errors(at: Any) -> str:
    return shown("\n".join(e.value for e in at.error))


def test_default_form_is_valid_and_in_the_url(ui_page: Any) -> None:
    at = ui_page("surfaces")
    assert not at.exception
    assert labels(at) == ["SGD-momentum", "Adam"]
    assert not button(at, "Run").disabled
    assert not at.error
    spec = form_in_url(at)
    assert spec["problem"]["name"] == "rosenbrock"
    assert [r["optimizer"]["name"] for r in spec["runs"]] == ["SGD", "Adam"]
    assert all("_uid" not in r for r in spec["runs"])  # private keys never leave the page


def test_preset_fills_the_form(ui_page: Any) -> None:
    at = ui_page("surfaces")
    button(at, "Momentum on Rosenbrock").click().run()
    assert labels(at) == ["SGD", "SGD-momentum", "Nesterov"]
    spec = form_in_url(at)
    assert spec["steps"] == 1500
    assert spec["runs"][2]["optimizer"] == {
        "name": "SGD",
        "lr": 0.001,
        "momentum": 0.9,
        "nesterov": True,
    }
    button(at, "Saddle-point escape").click().run()
    assert labels(at) == ["SGD", "Adam", "RMSprop"]
    assert at.selectbox[0].value == "saddle"


def test_invalid_learning_rate_shows_the_validation_message(ui_page: Any) -> None:
    at = ui_page("surfaces")
    exact_lr(at)[1].set_value(-0.5).run()
    assert not at.exception
    text = errors(at)
    assert "optimizer.lr" in text and "greater than or equal to 0" in text
    assert button(at, "Run").disabled
    assert "1 setting to fix" in "\n".join(m.value for m in at.markdown)
    exact_lr(at)[1].set_value(0.01).run()
    assert not at.error and not button(at, "Run").disabled


def test_problem_fields_are_validated_too(ui_page: Any) -> None:
    at = ui_page("surfaces")
    steps = next(n for n in at.number_input if n.label == "Steps")
    steps.set_value(0).run()
    assert "steps" in errors(at) and "greater than or equal to 1" in errors(at)


def test_add_duplicate_remove_runs(ui_page: Any) -> None:
    at = ui_page("surfaces")
    button(at, "Duplicate", 0).click().run()
    assert labels(at) == ["SGD-momentum", "SGD-momentum copy", "Adam"]
    button(at, "Add a run").click().run()
    assert labels(at)[-1] == "Adam 2"
    button(at, "Remove", 1).click().run()
    assert labels(at) == ["SGD-momentum", "Adam", "Adam 2"]
    spec = form_in_url(at)
    assert [r["label"] for r in spec["runs"]] == ["SGD-momentum", "Adam", "Adam 2"]
    assert spec["runs"][0]["optimizer"]["momentum"] == 0.9


def test_duplicate_labels_are_reported(ui_page: Any) -> None:
    at = ui_page("surfaces")
    [t for t in at.text_input if t.label == "label"][1].set_value("SGD-momentum").run()
    assert "run labels must be unique" in errors(at)


def test_switching_optimizer_keeps_the_learning_rate(ui_page: Any) -> None:
    at = ui_page("surfaces")
    optimizer = [s for s in at.selectbox if s.label == "optimizer"][1]
    assert "Lion" in optimizer.options[-1] or len(optimizer.options) > 50  # whole catalogue
    optimizer.set_value("AdamW").run()
    spec = form_in_url(at)
    assert spec["runs"][1]["optimizer"] == {"name": "AdamW", "lr": 0.05}
    assert "How AdamW updates the weights" in [e.label for e in at.expander]


def test_composite_scheduler_in_the_form(ui_page: Any) -> None:
    at = ui_page("surfaces")
    sched = next(s for s in at.selectbox if s.label == "Scheduler")
    sched.set_value("SequentialLR").run()
    assert not at.exception and not at.error
    spec = form_in_url(at)
    s = spec["runs"][0]["scheduler"]
    assert s["name"] == "SequentialLR"
    assert [c["name"] for c in s["schedulers"]] == ["LinearLR", "CosineAnnealingLR"]
    assert s["milestones"] == [250]  # scaled to the run's 1000 steps


def test_typed_start_point_and_share_link_roundtrip(ui_page: Any) -> None:
    at = ui_page("surfaces")
    x = next(n for n in at.number_input if n.label == "x")
    x.set_value(0.5).run()
    link = query(at, share.FORM_PARAM)
    assert form_in_url(at)["problem"]["start"] == [0.5, 2.0]
    other = ui_page("surfaces", query={share.FORM_PARAM: link})
    assert labels(other) == labels(at)
    assert next(n for n in other.number_input if n.label == "x").value == 0.5


def test_a_mangled_link_falls_back_to_defaults_with_a_notice(ui_page: Any) -> None:
    at = ui_page("surfaces", query={share.FORM_PARAM: "not-a-form"})
    assert "could not be read" in "\n".join(i.value for i in at.info)
    assert labels(at) == ["SGD-momentum", "Adam"]


def test_unknown_experiment_link_says_so(ui_page: Any) -> None:
    at = ui_page("surfaces", query={share.EXP_PARAM: "deadbeef00"})
    assert "No experiment 'deadbeef00'" in "\n".join(i.value for i in at.info)


def test_server_run_limit_is_a_friendly_message(ui_page: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPTLAB_MAX_RUNS", "2")
    at = ui_page("surfaces")
    assert button(at, "Add a run").disabled  # two runs already
    button(at, "Momentum on Rosenbrock").click().run()  # three runs
    assert "at most 2 runs per experiment (OPTLAB_MAX_RUNS)" in errors(at)
    assert button(at, "Run").disabled and not at.exception


def test_teach_shows_update_rule_and_script(ui_page: Any) -> None:
    at = ui_page("surfaces")
    assert any(e.label == "How SGD updates the weights" for e in at.expander)
    assert at.latex  # the surface formula and update rules
    code = [c.value for c in at.code if "import torch" in c.value]
    assert code and "torch.optim.SGD" in code[0] and "final loss" in code[0]
