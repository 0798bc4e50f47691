"""AppTest: the Training page — model, data source, per-layer group editor, presets."""

from __future__ import annotations

from typing import Any

from optlab.ui.state import share
from tests.markdown_shown import shown


def button(at: Any, label: str, index: int = 0) -> Any:
    return [b for b in at.button if b.label == label][index]


def form(at: Any) -> dict[str, Any]:
    value = at.query_params[share.FORM_PARAM]
    decoded = share.decode_form(value[0] if isinstance(value, list) else value)
    assert decoded is not None
    return decoded


def errors(at: Any) -> str:
    return shown("\n".join(e.value for e in at.error))


def test_default_is_the_per_layer_preset_with_its_groups(ui_page: Any) -> None:
    at = ui_page("training")
    assert not at.exception and not at.error
    spec = form(at)
    assert spec["problem"]["name"] == "mse_regression"
    assert spec["runs"][1]["param_groups"] == [
        {"params": "layer1.*", "lr": 0.1},
        {"params": "layer2.*", "lr": 0.2},
    ]
    assert "Per-layer groups (2)" in [e.label for e in at.expander]
    layers = [d.value for d in at.dataframe if "layer" in d.value.columns]
    assert list(layers[0]["layer"]) == [
        "layer1.weight",
        "layer1.bias",
        "layer2.weight",
        "layer2.bias",
    ]
    assert list(layers[0]["parameters"]) == [320, 32, 32, 1]
    assert "matches 2: layer1.weight, layer1.bias" in [c.value for c in at.caption]
    assert any("Trains on:" in c.value and "CPU" in c.value for c in at.caption)


def test_group_presets_no_decay_on_biases_and_ten_x_head(ui_page: Any) -> None:
    at = ui_page("training")
    button(at, "No weight decay on biases", 0).click().run()
    button(at, "10× lr on the head", 0).click().run()
    groups = form(at)["runs"][0]["param_groups"]
    assert groups == [
        {"params": "*.bias", "weight_decay": 0.0},
        {"params": "layer2.*", "lr": 1.0},  # 10 × the run's lr 0.1
    ]
    assert not at.error


def test_freeze_and_unfreeze_a_group(ui_page: Any) -> None:
    at = ui_page("training")
    next(c for c in at.checkbox if c.label == "frozen").check().run()
    unfreeze = next(n for n in at.number_input if n.label == "unfreeze at step")
    unfreeze.set_value(50).run()
    group = form(at)["runs"][1]["param_groups"][0]
    assert group == {"params": "layer1.*", "lr": 0.1, "frozen": True, "unfreeze_at_step": 50}
    assert not at.error


def test_a_glob_that_matches_nothing_is_reported(ui_page: Any) -> None:
    at = ui_page("training")
    glob = next(t for t in at.text_input if t.label == "parameters (globs)")
    glob.set_value("conv*").run()
    text = errors(at)
    assert "param_groups[0].params" in text and "'conv*' matches no parameter" in text
    assert button(at, "Run").disabled


def test_cifar_preset_shows_data_choices_and_layers(ui_page: Any) -> None:
    at = ui_page("training")
    button(at, "SGD-momentum vs Adam on CIFAR-10").click().run()
    assert not at.exception and not at.error
    spec = form(at)
    assert spec["problem"] == {"name": "cifar10_cnn"}
    assert spec["epochs"] == 3 and spec["batch_size"] == 128
    data = next(r for r in at.radio if r.label == "Data")
    assert data.value == "sample"
    layers = next(d.value for d in at.dataframe if "layer" in d.value.columns)
    assert list(layers["layer"])[-2:] == ["fc2.weight", "fc2.bias"]
    button(at, "10× lr on the head", 0).click().run()
    assert form(at)["runs"][0]["param_groups"] == [{"params": "fc2.*", "lr": 0.1}]
    data.set_value("full").run()
    assert form(at)["problem"]["download"] is True
    assert any(b.label == "Download CIFAR-10 now" for b in at.button)


def test_epoch_interval_scheduler_for_models(ui_page: Any) -> None:
    at = ui_page("training")
    sched = next(s for s in at.selectbox if s.label == "Scheduler")
    sched.set_value("StepLR").run()
    interval = next(r for r in at.radio if r.label == "the schedule steps")
    interval.set_value("epoch").run()
    scheduler = form(at)["runs"][0]["scheduler"]
    assert scheduler["name"] == "StepLR" and scheduler["interval"] == "epoch"
    assert not at.error
