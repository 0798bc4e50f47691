"""The Sweeps page (issue 10) with AppTest: edit, run, watch the views fill in."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from optlab.spec import parse_spec
from optlab.ui import presets
from optlab.ui.charts import momentum_map
from optlab.ui.charts import sweep_figures as sf
from optlab.ui.state import share

LR_MOM: dict[str, Any] = {
    "problem": {"name": "quadratic", "condition": 50, "angle": 0.0},
    "steps": 60,
    "runs": [{"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.5}}],
    "sweep": {
        "axes": {
            "optimizer.lr": {"log": [0.05, 4.0], "num": 6},
            "optimizer.momentum": {"linear": [0.0, 0.9], "num": 4},
        },
        "threshold": 1e-3,
    },
}
BASINS: dict[str, Any] = {
    "problem": {"name": "himmelblau"},
    "steps": 100,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.01}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.1}},
    ],
    "sweep": {"axes": {"problem.start": {"grid": [[-4.0, 4.0], [-4.0, 4.0]], "num": [4, 4]}}},
}


def _charts(at: Any) -> list[dict[str, Any]]:
    return [json.loads(json.loads(e.proto.spec)) if isinstance(json.loads(e.proto.spec), str)
            else json.loads(e.proto.spec) for e in at.get("plotly_chart")]  # fmt: skip


def _run_until_done(at: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if any("finished" in c.value for c in at.caption):
            return at
        time.sleep(0.3)
    raise AssertionError([c.value for c in at.caption])


def test_every_sweep_preset_validates_and_plans() -> None:
    from optlab.engine.sweep_plan import plan

    for p in presets.for_page("sweeps"):
        assert plan(parse_spec(p.spec))


def test_page_runs_a_sweep_and_draws_the_lr_momentum_map(ui_page: Any) -> None:
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(LR_MOM)})
    assert not at.exception and not at.error
    assert any("24 trials" in c.value for c in at.caption)
    at.button(key="run-sweep").click().run()
    _run_until_done(at)
    assert at.query_params["exp"]
    charts = _charts(at)
    names = [t.get("name", "") for c in charts for t in c["data"]]
    assert any(n.startswith("stability boundary") for n in names)
    assert any(n.startswith("optimal lr=") for n in names)
    assert any("24 / 24 trials" in (p.proto.text or "") for p in at.get("progress"))


def test_page_draws_basins_and_the_budget_table(ui_page: Any) -> None:
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(BASINS)})
    at.button(key="run-sweep").click().run()
    _run_until_done(at)
    charts = _charts(at)
    basin = [c for c in charts if "Basins" in json.dumps(c["layout"].get("title", ""))]
    assert basin
    cells = [t for t in basin[0]["data"] if t.get("customdata")]
    assert sum(len(t["x"]) for t in cells if t.get("marker", {}).get("symbol") == "square") == 32
    table = at.dataframe[-1].value
    assert list(table["optimizer"]) == ["SGD", "Adam"]
    assert list(table["trials"]) == [16, 16]


def test_editor_errors_name_the_axis(ui_page: Any) -> None:
    bad = {**LR_MOM, "sweep": {"axes": {"optimizer.betas.0": [0.9]}}}
    at = ui_page("sweeps", query={share.FORM_PARAM: share.encode_form(bad)})
    assert any("sweep.axes.optimizer.betas.0" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "run-sweep"]


def test_figures_unit() -> None:
    lr, beta = momentum_map.optimal_momentum(0.02, 1.0)
    assert lr == pytest.approx((2 / (0.02**0.5 + 1)) ** 2)
    assert beta == pytest.approx(((50**0.5 - 1) / (50**0.5 + 1)) ** 2)
    from optlab.problem import get_problem

    q = get_problem("quadratic")(get_problem("quadratic").Params.model_validate({"condition": 50}))
    lo, hi = momentum_map.hessian_eigenvalues(q, (0.0, 0.0))
    assert lo == pytest.approx(1 / 50) and hi == pytest.approx(1.0)
    assert sf.nearest_minimum([3.0, 2.0], [(0.0, 0.0), (3.0, 2.0)]) == 1
    assert sf.eta_seconds(5, 10, 10.0) == pytest.approx(10.0)


def test_sweep_this_opens_the_sweeps_page_with_the_spec(ui_page: Any) -> None:
    from optlab.engine.sweep_plan import plan
    from optlab.ui.frame.sweep_this import sweep_spec

    surface = presets.get("sgdm_adam_rosenbrock").spec
    spec = sweep_spec(surface, model=False)
    assert spec["sweep"]["axes"]["optimizer.lr"] == {"log": [0.0001, 0.01], "num": 9}
    assert len(plan(parse_spec(spec))) == 18
    model = sweep_spec(presets.get("cifar_sgdm_adam").spec, model=True)
    assert model["sweep"]["seeds"] == 2 and len(plan(parse_spec(model))) == 16
    at = ui_page("surfaces")
    at.button(key="sweep-this:surfaces").click().run()
    assert not at.exception
    # a page tested alone cannot switch pages: the spec waits in the Sweeps form
    assert at.session_state["optlab:draft:sweeps"]["sweep"]["axes"]["optimizer.lr"]["num"] == 9
    assert any("Sweeps page" in i.value for i in at.run().info)
