"""The player's data on the Training page (model runs) and the Surfaces page (no slider).

A finished model experiment is stored for real (mse_regression, 3 epochs); the page's
loss chart carries a step player (no paths) whose arrays are the stored steps, losses
and lrs, the lr chart and both epoch charts mark the same step group, the epoch charts
with steps per epoch = ceil(train examples / batch), computed here from the spec.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.ui.charts.player import build_step_player, stride_index
from optlab.ui.live import live_data
from optlab.ui.state import share

MODEL_SPEC = {
    "problem": {"name": "mse_regression", "n_samples": 200, "val_fraction": 0.2},
    "epochs": 3,
    "batch_size": 32,
    "runs": [
        {"label": "SGD", "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9}},
        {
            "label": "Adam",
            "optimizer": {"name": "Adam", "lr": 0.01},
            "scheduler": {"name": "StepLR", "step_size": 5},
        },
    ],
}


def _values(array: Any) -> np.ndarray:
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=np.float64)


def _charts(at: Any) -> list[dict[str, Any]]:
    return [json.loads(e.proto.json) for e in at.get("bidi_component")]


def test_training_page_plays_the_recorded_steps(ui_page: Any) -> None:
    spec = parse_spec(MODEL_SPEC)
    result = run_experiment(spec)
    store = Store()
    try:
        exp_id = store.store_result(spec, result)
    finally:
        store.close()
    at = ui_page("training", query={share.EXP_PARAM: exp_id})
    assert not at.exception
    assert not [s for s in at.slider if "Replay" in s.label]
    charts = _charts(at)
    players = [c["player"] for c in charts if c.get("player")]
    assert len(players) == 1
    player = players[0]
    assert player["paths"] is False and player["group"] == "training"
    per_epoch = math.ceil(200 * (1 - 0.2) / 32)  # 5 batches of the 160 training examples
    for run, res in zip(player["runs"], result["runs"], strict=True):
        assert run["label"] == res["label"]
        steps = _values(run["step"])
        assert steps.tolist() == list(range(3 * per_epoch))
        np.testing.assert_allclose(_values(run["loss"]), res["loss"], rtol=1e-6)
        np.testing.assert_allclose(_values(run["lr"]), np.asarray(res["lr"])[:, 0], rtol=1e-6)
    adam_lr = _values(player["runs"][1]["lr"])
    assert adam_lr[4] == 0.01 and np.isclose(adam_lr[5], 0.001)  # StepLR(5) stepped per step
    cursors = [c for c in charts if c.get("cursor") == "training"]
    assert len(cursors) == 3  # step loss, lr, per-epoch loss (a regression: no accuracy)
    scales = sorted(c["cursor_scale"] for c in cursors)
    assert scales == [1.0, 1.0, per_epoch]


def test_step_player_thins_like_the_charts() -> None:
    run = live_data.RunSeries(index=0, label="r", status="running")
    n = 5000
    run.append(np.arange(n), np.linspace(1, 0, n), np.full((n, 1), 0.1), None, np.zeros(n))
    player = build_step_player([run], ident="e", group="g", live=True, max_points=1000)
    assert player is not None and player["live"] is True
    idx = stride_index(n, 1000)
    assert player["runs"][0]["step"].tolist() == idx.tolist()
    assert len(idx) <= 1000 and idx[-1] == n - 1
    np.testing.assert_allclose(player["runs"][0]["loss"], np.linspace(1, 0, n)[idx])
    assert build_step_player([], ident="e", group="g", live=False, max_points=10) is None
