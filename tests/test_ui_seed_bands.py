"""Sweep scenes of a lesson: the seed bands view with the real job manager and worker.

A small sweep over 3 seeds (mse_regression) runs on the worker; the view's median line
per optimizer and epoch must equal the median of three plain runs of the same spec, one
per seed, made here with the engine; the band spans their min and max.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np

from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec
from optlab.ui import lessons

SPEC: dict[str, Any] = {
    "name": "seed bands (test)",
    "problem": {"name": "mse_regression", "n_samples": 200},
    "epochs": 2,
    "batch_size": 32,
    "runs": [
        {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9}},
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.01}},
    ],
    "sweep": {"seeds": 3},
}

SCRIPT = f"""
import streamlit as st
from optlab.spec import parse_spec
from optlab.ui.live.seed_band_view import seed_band_view
from optlab.ui.services import manager
if "exp" not in st.session_state:
    st.session_state.exp = manager().submit(parse_spec({SPEC!r}), client="seed-band-test")
seed_band_view(st.session_state.exp, key="bands")
"""


def _values(array: Any) -> np.ndarray:
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=np.float64)


def _reference(metric: str) -> dict[str, np.ndarray]:
    """Per run, (seeds, epochs) values of ``metric`` from one plain run per seed."""
    single = {k: v for k, v in SPEC.items() if k != "sweep"}
    per_run: dict[str, list[list[float]]] = {}
    for seed in range(3):
        result = run_experiment(parse_spec({**single, "seed": seed}))
        for run in result["runs"]:
            per_run.setdefault(run["label"], []).append([e[metric] for e in run["epochs"]])
    return {k: np.asarray(v) for k, v in per_run.items()}


def test_seed_band_view_shows_median_and_spread_over_seeds(ui_home: Any) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(SCRIPT, default_timeout=120).run()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert not at.exception
        if any("6 / 6 trials" in (p.proto.text or "") and "finished" in (p.proto.text or "")
               for p in at.get("progress")):  # fmt: skip
            break
        time.sleep(0.5)
        at.run()
    else:
        raise AssertionError([p.proto.text for p in at.get("progress")])
    at.run()
    charts = {}
    for element in at.get("bidi_component"):
        payload = json.loads(element.proto.json)
        charts[len(charts)] = payload
    assert len(charts) == 2  # training and validation loss
    for payload, metric in zip(charts.values(), ("train_loss", "val_loss"), strict=True):
        ref = _reference(metric)
        lines = {
            t["name"].split(" (")[0]: t for t in payload["traces"] if "median" in t.get("name", "")
        }
        bands = [t for t in payload["traces"] if t.get("fill") == "toself"]
        assert set(lines) == {"SGDM", "Adam"} and len(bands) == 2
        assert all(t["name"].endswith("(median of 3)") for t in lines.values())
        for (label, values), band in zip(ref.items(), bands, strict=True):
            np.testing.assert_allclose(_values(lines[label]["y"]), np.median(values, axis=0), 1e-5)
            ys = _values(band["y"])
            np.testing.assert_allclose(ys[:2], values.max(axis=0), rtol=1e-5)  # upper edge
            np.testing.assert_allclose(ys[2:], values.min(axis=0)[::-1], rtol=1e-5)
    # the dark theme: the same view, themed, with the other pages' run colours per run index
    from optlab.ui import themes

    dark = themes.get("dark")
    at.session_state[themes.STATE_KEY] = "dark"
    at.run()
    assert not at.exception
    payloads = [json.loads(e.proto.json) for e in at.get("bidi_component")]
    assert len(payloads) == 2
    for payload, title in zip(payloads, ("training loss", "validation loss"), strict=True):
        layout = payload["layout"]
        assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == dark.paper
        assert layout["yaxis"]["title"]["text"] == title
        assert layout["yaxis"]["tickfont"]["color"] == dark.font
        lines = [t for t in payload["traces"] if "median" in t.get("name", "")]
        assert [t["line"]["color"] for t in lines] == [themes.run_color(dark, i) for i in (0, 1)]


def test_the_cifar_lesson_has_a_seed_band_scene(ui_home: Any) -> None:
    from streamlit.testing.v1 import AppTest

    lesson = lessons.load("sgdm_vs_adam_cifar")
    k = next(i for i, s in enumerate(lesson.scenes, 1) if "sweep" in s.spec)
    spec = parse_spec(lesson.scenes[k - 1].spec)
    assert spec.sweep is not None and spec.sweep.seeds == 3
    assert spec.problem.train_limit <= 1024  # small enough for a CPU
    at = AppTest.from_string(
        "from optlab.ui.pages import lessons\nlessons.render()\n", default_timeout=60
    )
    at.query_params["lesson"] = "sgdm_vs_adam_cifar"
    at.query_params["scene"] = str(k)
    at.run()
    assert not at.exception
    assert any("seed bands" in c.value for c in at.caption)
    assert [b for b in at.button if b.label == "Run"]
