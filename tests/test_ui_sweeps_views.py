"""The Sweeps page's editor and views with AppTest (issue 10): the axes editor, per-run
(lr, momentum) panels, seed bands of the CIFAR preset, the equal-budget table, Resume."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from optlab.ui import presets
from optlab.ui.charts import sweep_figures as sf
from optlab.ui.forms.sweep_axes import axis_paths
from optlab.ui.state import share
from tests.test_ui_sweeps import LR_MOM, _charts, _run_until_done

TWO_SGDS: dict[str, Any] = {
    **LR_MOM,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.5}},
        {"label": "SGD wd", "optimizer": {"name": "SGD", "lr": 0.1, "weight_decay": 0.05}},
    ],
}


def _widget(at: Any, kind: str, suffix: str) -> Any:
    found = [w for w in at.get(kind) if str(w.key or "").endswith(suffix)]
    assert found, [w.key for w in at.get(kind)]
    return found[0]


def test_axis_paths_are_those_of_every_run() -> None:
    sgd_adam = {
        "problem": {"name": "himmelblau"},
        "runs": [
            {"label": "a", "optimizer": {"name": "SGD"}},
            {"label": "b", "optimizer": {"name": "Adam"}},
        ],
    }
    paths = axis_paths(sgd_adam)
    assert paths[:2] == ["optimizer.lr", "optimizer.weight_decay"]
    assert "optimizer.momentum" not in paths and "optimizer.betas.0" not in paths
    assert {"seed", "problem.start", "problem.noise", "steps"} <= set(paths)
    assert "optimizer.foreach" not in paths
    adam = axis_paths({**sgd_adam, "runs": sgd_adam["runs"][1:]})
    assert {"optimizer.betas.0", "optimizer.betas.1", "optimizer.eps"} <= set(adam)
    model = axis_paths({"problem": {"name": "mse_regression"}, "runs": sgd_adam["runs"]})
    assert {"epochs", "batch_size", "seed"} <= set(model) and "problem.start" not in model


def test_editor_builds_the_axes_and_names_the_axis_in_errors(ui_page: Any) -> None:
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(LR_MOM)})
    assert any("24 trials" in c.value for c in at.caption)
    path = _widget(at, "selectbox", ":0:path")
    assert path.value == "optimizer.lr"
    assert {"optimizer.momentum", "problem.start", "seed"} <= set(path.options)
    _widget(at, "number_input", ":0:num").set_value(3).run()
    assert any("12 trials" in c.value for c in at.caption), [c.value for c in at.caption]
    _widget(at, "number_input", ":0:lo").set_value(-1.0).run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("sweep.axes.optimizer.lr") for e in errors), errors
    assert not [b for b in at.button if b.key == "run-sweep"]
    _widget(at, "number_input", ":0:lo").set_value(0.05).run()
    _widget(at, "selectbox", ":1:kind").set_value("list").run()
    _widget(at, "text_input", ":1:list").set_value("[0.0, 0.5]").run()
    assert not at.error and any("6 trials" in c.value for c in at.caption)
    # a new axis: seeds 0..2 as a range
    [add] = [b for b in at.button if str(b.key).endswith(":add")]
    add.click().run()
    new_path = _widget(at, "selectbox", ":2:path")
    new_path.set_value("seed").run()
    _widget(at, "selectbox", ":2:kind").set_value("range").run()
    _widget(at, "number_input", ":2:b").set_value(3).run()
    assert not at.error and any("18 trials" in c.value for c in at.caption)
    code = [c.value for c in at.code if '"seed"' in c.value]
    assert code and '"range"' in code[0]


def test_lr_momentum_map_has_one_panel_per_run_with_the_boundary(ui_page: Any) -> None:
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(TWO_SGDS)})
    at.button(key="run-sweep").click().run()
    _run_until_done(at)
    [fig] = [c for c in _charts(at) if "(lr, momentum)" in str(c["layout"].get("title"))]
    heat = [t for t in fig["data"] if t["type"] == "heatmap"]
    assert [t["name"] for t in heat] == ["SGD: steps to threshold", "SGD wd: steps to threshold"]
    assert [t.get("xaxis", "x") for t in heat] == ["x", "x2"]
    bounds = [t for t in fig["data"] if t.get("name", "").startswith("stability boundary")]
    assert [t.get("xaxis", "x") for t in bounds] == ["x", "x2"]
    stars = [t for t in fig["data"] if t.get("name", "").startswith("optimal lr=")]
    assert len(stars) == 2
    # every cell of each panel is filled with that run's own trials
    for t in heat:
        assert sum(v is not None for row in t["z"] for v in row) >= 1


def _small_cifar() -> dict[str, Any]:
    spec = copy.deepcopy(presets.get("sweep_cifar_sgdm_adam").spec)
    spec["problem"].update(train_limit=128, val_limit=64)
    spec["epochs"], spec["batch_size"] = 2, 64
    spec["sweep"]["trials"] = 2
    spec["sweep"]["tune"]["trials"] = 2
    return spec


def test_cifar_preset_seed_bands_and_equal_budget_table(ui_page: Any) -> None:
    spec = _small_cifar()
    assert spec["sweep"]["tune"]["rerun_seeds"] == 3
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(spec)}, timeout=120)
    assert any("10 trials" in c.value for c in at.caption), [c.value for c in at.caption]
    at.button(key="run-sweep").click().run()
    _run_until_done(at, timeout=400)
    charts = _charts(at)
    for name in ("val_loss", "val_acc"):
        [band] = [c for c in charts if str(c["layout"].get("title", "")).find(name) >= 0
                  and "over seeds" in str(c["layout"].get("title"))]  # fmt: skip
        medians = [t for t in band["data"] if "median of 3" in t.get("name", "")]
        assert [t["name"].split(" ")[0] for t in medians] == ["SGDM", "Adam"]
        assert all(len(t["x"]) == 2 and t["x"][0] < t["x"][1] for t in medians)  # 2 epochs
        fills = [t for t in band["data"] if t.get("fill") == "toself"]
        assert len(fills) == 2
    table = at.dataframe[-1].value
    assert list(table["optimizer"]) == ["SGDM", "Adam"]
    target = [c for c in table.columns if c.startswith("epochs to val_acc")]
    assert target and all("3 seeds" in str(v) for v in table[target[0]])
    assert table["re-run median"].notna().all()


def test_resume_on_the_page_skips_finished_trials(ui_page: Any, ui_home: Path) -> None:
    from optlab.engine.sweep import run_trials
    from optlab.engine.sweep_plan import plan
    from optlab.engine.sweep_work import total_trials
    from optlab.paths import db_path
    from optlab.spec import parse_spec
    from optlab.store.db import Store

    spec = parse_spec(LR_MOM)
    store = Store(db_path())
    exp_id = store.create_experiment(
        spec, kind="sweep", trials_total=total_trials(spec), status="running"
    )
    first = run_trials(spec, plan(spec)[:5])
    sentinel = 123.0  # a finished trial that is run again would lose this number
    first[0].final_loss = sentinel
    store.write_trials(exp_id, first)
    store.set_status(exp_id, "interrupted", "the server stopped")
    at = ui_page("sweeps", query={"exp": exp_id})
    assert any("5 / 24 trials" in (p.proto.text or "") for p in at.get("progress"))
    at.button(key=f"resume:{exp_id}").click().run()
    _run_until_done(at)
    result = Store(db_path()).sweep_result(exp_id)
    assert result["progress"] == {"done": 24, "total": 24}
    assert result["trials"][0]["final_loss"] == sentinel
    assert [t["index"] for t in result["trials"]] == list(range(24))


def test_budget_rows_epochs_to_target_unit() -> None:
    epochs = [{"epoch": 0, "val_loss": 2.0, "val_acc": 0.3}, {"epoch": 1, "val_loss": 1.0,
              "val_acc": 0.6}]  # fmt: skip
    assert sf.epochs_to_target(epochs, "val_acc", 0.5) == 1
    assert sf.epochs_to_target(epochs, "val_loss", 1.5) == 1
    assert sf.epochs_to_target(epochs, "val_loss", 0.5) is None


def test_history_lists_a_sweep_and_resumes_it(ui_page: Any) -> None:
    from optlab.engine.sweep import run_trials
    from optlab.engine.sweep_plan import plan
    from optlab.engine.sweep_work import total_trials
    from optlab.paths import db_path
    from optlab.spec import parse_spec
    from optlab.store.db import Store

    spec = parse_spec(LR_MOM)
    store = Store(db_path())
    exp_id = store.create_experiment(
        spec, kind="sweep", trials_total=total_trials(spec), status="running", source="cli"
    )
    store.write_trials(exp_id, run_trials(spec, plan(spec)[:4]))
    store.set_status(exp_id, "interrupted", "the server stopped")
    kept = {t["index"]: t["time"] for t in store.trial_rows(exp_id)}
    at = ui_page("history")
    table = at.dataframe[0].value
    assert list(table["kind"]) == ["sweep"] and list(table["id"]) == [exp_id]
    at.multiselect(key="history:pick").select(exp_id).run()
    at.button(key="history:open").click().run()
    assert any(f"?exp={exp_id}" in i.value and "Sweeps" in i.value for i in at.info)
    at.button(key="history:resume").click().run()
    assert not at.exception
    deadline = time.monotonic() + 120
    while Store(db_path()).get_experiment(exp_id)["status"] != "finished":
        assert time.monotonic() < deadline, "the resumed sweep did not finish"
        time.sleep(0.3)
    rows = Store(db_path()).trial_rows(exp_id)
    assert len(rows) == 24
    assert all(rows[i]["time"] == t for i, t in kept.items())  # not run again
    # the Sweeps page rebuilds the views from the store
    page = ui_page("sweeps", query={"exp": exp_id})
    assert any("24 / 24 trials" in (p.proto.text or "") for p in page.get("progress"))
    assert any("(lr, momentum)" in str(c["layout"].get("title")) for c in _charts(page))


def test_odd_json_in_the_experiment_box_is_named_not_a_traceback(ui_page: Any) -> None:
    """The JSON box takes any text: values of the wrong type give field errors."""
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(LR_MOM)})
    base = {k: v for k, v in LR_MOM.items() if k != "sweep"}
    odd = {
        "runs": {**base, "runs": [{"optimizer": "SGD"}]},
        "problem": {**base, "problem": "quadratic"},
        "param_groups": {**base, "runs": [{**base["runs"][0], "param_groups": 5}]},
        "runs is text": {**base, "runs": "SGD"},
    }
    box = _widget(at, "text_area", ":base")
    for name, value in odd.items():
        box.set_value(json.dumps(value)).run()
        assert not at.exception, (name, [e.message for e in at.exception])
        assert at.error, f"{name}: no field error shown"
