"""AppTest: the LR finder (Surfaces in the page, Training in a child process), "use this
lr", "check it", and the sharpness chart with its switch on the Training page (issue 12)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
import pytest

from optlab.engine.experiment import Experiment
from optlab.engine.lr_find import LRFindSettings, lr_find
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.ui.state import share


def _values(array: Any) -> np.ndarray:
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=np.float64)


def _traces(at: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for element in at.get("bidi_component"):
        for t in json.loads(element.proto.json).get("traces", []):
            out[str(t.get("name"))] = t
    return out


def _form(at: Any) -> dict[str, Any]:
    raw = at.query_params[share.FORM_PARAM]
    decoded = share.decode_form(raw[0] if isinstance(raw, list) else raw)
    assert decoded is not None
    return decoded


def _button(at: Any, prefix: str) -> Any:
    return next(b for b in at.button if b.label.startswith(prefix))


def _find(at: Any, run: int, iters: int = 60) -> Any:
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "run")).set_value(run)
    next(n for n in at.number_input if n.label == "iterations").set_value(iters)
    return _button(at.run(), "Find the lr").click().run()


def test_surface_finder_plots_the_cli_curve_and_use_this_lr_sets_the_editor(ui_page: Any) -> None:
    at = ui_page("surfaces")
    before = _form(at)
    spec = parse_spec(before)
    at = _find(at, 1, iters=60)
    assert not at.exception
    one = spec.to_dict()
    one["runs"] = [one["runs"][1]]
    want = lr_find(parse_spec(one), LRFindSettings(num_iter=60))["runs"][0]
    traces = _traces(at)
    np.testing.assert_allclose(_values(traces["smoothed"]["x"]), want["lrs"], rtol=1e-6)
    np.testing.assert_allclose(
        _values(traces["smoothed"]["y"]),
        [np.nan if v is None else v for v in want["smoothed"]],
        rtol=1e-6,
    )
    valley = want["suggestions"]["valley"]
    assert _values(traces[f"valley: {valley:.3g}"]["x"]).tolist() == pytest.approx([valley] * 2)
    _button(at, "use valley lr").click().run()
    assert not at.exception
    form = _form(at)
    assert form["runs"][1]["optimizer"]["lr"] == valley
    assert form["runs"][0] == before["runs"][0]  # the other run is untouched
    assert "smoothed" in _traces(at)  # the plot stays for the next choice


def test_check_it_launches_paired_runs_at_the_suggestions_and_10x(ui_page: Any) -> None:
    at = _find(ui_page("surfaces"), 0, iters=40)
    suggestions = {
        name: float(t["x"][0] if isinstance(t["x"], list) else _values(t["x"])[0])
        for name, t in _traces(at).items()
        if name.split(":")[0] in ("minimum", "steep", "valley")
    }
    _button(at, "check it").click().run()
    assert not at.exception
    exp_id = at.session_state["optlab:shown:surfaces"]
    stored = Store().get_experiment(exp_id)
    runs = stored["spec"]["runs"]
    lrs = sorted(r["optimizer"]["lr"] for r in runs)
    assert len(runs) == 2 * len(set(suggestions.values()))
    for lr in sorted(suggestions.values()):
        assert any(v == pytest.approx(lr, rel=1e-6) for v in lrs)
        assert any(v == pytest.approx(10 * lr, rel=1e-6) for v in lrs)
    assert stored["spec"]["steps"] <= 300 and all(
        r["label"].startswith("SGD-momentum · ") for r in runs
    )


def test_model_finder_runs_in_a_child_process_and_the_page_keeps_answering(ui_page: Any) -> None:
    at = ui_page("training")
    spec = parse_spec(_form(at))
    at = _find(at, 0, iters=30)
    assert not at.exception
    assert any("running" in i.value for i in at.info)  # the page came back at once
    deadline = time.monotonic() + 120
    while "smoothed" not in _traces(at) and time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()
        assert not at.exception
        assert not at.error, [e.value for e in at.error]
    one = spec.to_dict()
    one["runs"] = [one["runs"][0]]
    want = lr_find(parse_spec(one), LRFindSettings(num_iter=30))["runs"][0]
    got = _values(_traces(at)["loss"]["y"])
    np.testing.assert_allclose(got, [np.nan if v is None else v for v in want["losses"]], rtol=1e-5)


def test_sharpness_switch_and_chart_on_the_training_page(ui_page: Any) -> None:
    at = ui_page("training")
    box = next(c for c in at.checkbox if c.label.startswith("record sharpness"))
    assert box.value is False
    box.check().run()
    assert _form(at)["runs"][0]["record_sharpness"] == {"every": 10, "iters": 20}
    next(n for n in at.number_input if n.label == "every (updates)").set_value(0).run()
    assert any("record_sharpness.every" in e.value for e in at.error)
    spec = parse_spec(
        {
            "problem": {"name": "mse_regression", "n_samples": 96, "n_features": 2, "hidden": 3},
            "epochs": 2,
            "batch_size": 16,
            "runs": [
                {
                    "label": "SGDM",
                    "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.5},
                    "record_sharpness": {"every": 2, "iters": 30},
                },
                {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
            ],
        }
    )
    store = Store()
    exp_id = store.create_experiment(spec, status="running")
    for batch in Experiment(spec).batches(flush_seconds=0.0):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished")
    result = store.result_json(exp_id)["runs"][0]
    store.close()
    at = ui_page("training", query={share.EXP_PARAM: exp_id})
    assert not at.exception
    traces = _traces(at)
    sharp = traces["SGDM sharpness λ_max"]
    measured = [(t, v) for t, v in enumerate(result["sharpness"]) if v is not None]
    assert _values(sharp["x"]).tolist() == [t for t, _ in measured]
    np.testing.assert_allclose(_values(sharp["y"]), [v for _, v in measured], rtol=1e-6)
    np.testing.assert_allclose(_values(traces["SGDM 2/lr"]["y"]), 2 / 0.05, rtol=1e-6)
    np.testing.assert_allclose(
        _values(traces["SGDM edge of stability (heavy ball, β=0.5)"]["y"]), 3 / 0.05, rtol=1e-6
    )
    assert "Adam sharpness λ_max" not in traces


def test_model_finder_over_the_server_cap_is_refused_in_one_line(
    ui_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real child holds the only slot: the page's click is refused, naming the limit."""
    from optlab.jobs import lr_find_job

    monkeypatch.setenv("OPTLAB_MAX_LR_FINDS", "1")
    at = ui_page("training")
    one = parse_spec(_form(at)).to_dict()
    one["runs"] = [one["runs"][0]]
    slow = LRFindSettings(num_iter=2000, end_lr=1e-3)  # no blow-up: it stays running
    held = lr_find_job.start_lr_find(one, slow, client="someone else")
    try:
        at = _find(at, 0, iters=30)
        assert not at.exception
        errors = [e.value for e in at.error]
        assert any("at most 1 (OPTLAB\\_MAX\\_LR\\_FINDS)" in e or "at most 1 (OPTLAB_MAX_LR_FINDS)"
                   in e for e in errors), errors  # fmt: skip
        assert all("\n" not in e for e in errors)
        assert not any("running" in i.value for i in at.info)
    finally:
        lr_find_job.forget_lr_find(held)
