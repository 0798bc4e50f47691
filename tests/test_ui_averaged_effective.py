"""Issue 9 items 1 and 6 on the dashboard: the averaged point's path (Schedule-Free) and the
effective lr (D-Adaptation, Prodigy, Schedule-Free warm-up, Ranger21) are dashed traces in
the run's colour, in the figures and on the page, live and finished."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np
import pytest

from optlab.engine.experiment import Experiment, run_experiment
from optlab.problem import get_problem
from optlab.spec import parse_spec
from optlab.store.db import Store, new_owner, release_owner
from optlab.ui import theme
from optlab.ui.charts import figures
from optlab.ui.live import live_data
from optlab.ui.state import share
from tests.helpers import finished_experiment

SPEC = {
    "problem": {"name": "rosenbrock"},
    "steps": 120,
    "runs": [
        {"label": "SF", "optimizer": {"name": "ScheduleFreeAdamW", "lr": 0.01, "warmup_steps": 40}},
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.001}},
    ],
}


def _by_name(traces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(t.get("name")): t for t in traces}


def _values(array: Any) -> np.ndarray:
    if isinstance(array, dict):  # the chart element's base64 typed array
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=np.float64)


@pytest.fixture
def finished(tmp_path: Any) -> tuple[live_data.ExperimentData, dict[str, Any]]:
    spec = parse_spec(SPEC)
    _, data = finished_experiment(tmp_path / "optlab.db", spec)
    return data, run_experiment(spec)


def test_contour_draws_the_averaged_path_dashed_in_the_runs_colour(finished: Any) -> None:
    data, result = finished
    problem = get_problem("rosenbrock")()
    traces = _by_name(figures.contour_figure(problem, data.runs)["data"])
    averaged = traces["SF (averaged)"]
    assert averaged["line"]["dash"] == "dash"
    assert averaged["line"]["color"] == traces["SF"]["line"]["color"] == theme.run_color(0)
    assert averaged["legendgroup"] == "SF"
    sf = result["runs"][0]
    want = np.array(sf["eval_params"] + [sf["final"]["params"]])  # ends at the final point
    assert np.array_equal(np.c_[_values(averaged["x"]), _values(averaged["y"])], want)
    assert "SGD (averaged)" not in traces  # no train/eval modes, no averaged path


def test_lr_chart_draws_the_effective_lr_beside_the_nominal_one(finished: Any) -> None:
    data, _ = finished
    fig = figures.lr_figure(data.runs)
    traces = _by_name(fig["data"])
    effective = traces["SF (effective)"]
    assert effective["line"]["dash"] == "dash" and traces["SF"]["line"]["dash"] == "solid"
    assert effective["line"]["color"] == traces["SF"]["line"]["color"]
    ys = _values(effective["y"])
    assert ys[0] == pytest.approx(0.01 / 40) and ys[-1] == pytest.approx(0.01)
    assert set(_values(traces["SF"]["y"])) == {0.01}
    assert "SGD (effective)" not in traces
    assert fig["layout"]["yaxis"]["type"] == "log"  # 2.5e-4 … 1e-2 beside 1e-3


def test_model_lr_chart_has_one_effective_line_per_group(tmp_path: Any) -> None:
    spec = parse_spec(
        {
            "problem": {"name": "mse_regression", "n_samples": 100},
            "epochs": 1,
            "batch_size": 32,
            "runs": [
                {
                    "label": "P",
                    "optimizer": {"name": "Prodigy"},
                    "param_groups": [{"params": "layer1.*", "lr": 0.5}],
                }
            ],
        }
    )
    store = Store(tmp_path / "optlab.db")
    exp_id = store.store_result(spec, run_experiment(spec))
    data = live_data.refresh(store, exp_id, None)
    store.close()
    names = [t["name"] for t in figures.lr_figure(data.runs)["data"]]
    assert names == [
        "P · layer1.*",
        "P · layer1.* (effective)",
        "P · default",
        "P · default (effective)",
    ]


def _payloads(at: Any) -> dict[str, dict[str, Any]]:
    """Every chart trace on the page, by name (the chart elements' JSON)."""
    out: dict[str, dict[str, Any]] = {}
    for element in at.get("bidi_component"):
        out.update(_by_name(json.loads(element.proto.json).get("traces", [])))
    return out


def test_surfaces_page_draws_them_live_and_replayed(ui_page: Any) -> None:
    store = Store()
    spec = parse_spec(SPEC)
    owner = new_owner()  # a live owner: the manager leaves the experiment running
    try:
        exp_id = store.create_experiment(spec, status="running", owner=owner)
        batches = Experiment(spec).batches(flush_seconds=0.0)
        for batch in itertools.islice(batches, 40):
            store.write_batch(exp_id, batch)
        at = ui_page("surfaces", query={share.EXP_PARAM: exp_id})
        assert not at.exception
        live = _payloads(at)
        assert {"SF (averaged)", "SF (effective)", "SF", "SGD"} <= live.keys()
        held = len(_values(live["SF (averaged)"]["x"]))
        assert 0 < held < 120
        for batch in batches:
            store.write_batch(exp_id, batch)
        store.set_status(exp_id, "finished")
        at.run()  # one poll
        at.run()
        assert len(_values(_payloads(at)["SF (averaged)"]["x"])) == 121
        # the replay is the browser-side player now: no slider, the player's arrays sent
        assert not [s for s in at.slider if s.label == "Replay: step"]
        players = [
            json.loads(e.proto.json)["player"]
            for e in at.get("bidi_component")
            if json.loads(e.proto.json).get("player")
        ]
        assert [r["label"] for r in players[0]["runs"]] == ["SF", "SGD"]
        assert "SF (effective)" in _payloads(at)
    finally:
        release_owner(owner)
        store.close()
