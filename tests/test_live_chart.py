"""Live chart payloads without a browser: decimation, encoding, static caching, sizes."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from optlab.ui.charts.live_chart import build_payload, decimate


def _decode(spec: dict) -> np.ndarray:
    arr = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]))
    if "shape" in spec:
        arr = arr.reshape([int(s) for s in spec["shape"].split(",")])
    return arr


def _figure(n_points: int, runs: int = 6) -> dict:
    grid = np.linspace(-3.0, 3.0, 100)
    gx, gy = np.meshgrid(grid, grid)
    traces: list[dict] = [{"type": "contour", "x": grid, "y": grid, "z": gx**2 + gy**2}]
    t = np.linspace(0.0, 10.0, n_points)
    for run in range(runs):
        xs, ys = decimate(np.cos(t + run) / (1 + t), np.sin(t + run) / (1 + t))
        traces.append({"type": "scatter", "x": xs, "y": ys, "name": f"run {run}"})
    return {"data": traces, "layout": {"xaxis": {"title": {"text": "x"}}}}


@pytest.mark.parametrize("n", [0, 1, 2, 5, 2000, 2001, 3000, 10_007, 100_000])
def test_decimate_keeps_ends_and_bounds_points(n: int) -> None:
    xs = np.arange(n, dtype=float)
    dx, dy = decimate(xs, -xs, max_points=2000)
    assert len(dx) == len(dy) <= 2000
    assert np.array_equal(dy, -dx)
    if n:
        assert dx[0] == 0 and dx[-1] == n - 1
    if n <= 2000:
        assert np.array_equal(dx, xs)
    else:
        assert len(dx) > 1000  # a power-of-two stride keeps at least half the budget
        steps = np.diff(dx)[:-1]
        assert np.all(steps == steps[0])  # evenly thinned


def test_decimate_keeps_the_same_points_as_a_run_grows() -> None:
    """No shimmer: with the same stride, earlier kept points stay kept."""
    a, _ = decimate(np.arange(3000.0), np.zeros(3000))
    b, _ = decimate(np.arange(3500.0), np.zeros(3500))
    assert set(a[:-1]) <= set(b)


def test_decimate_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="max_points"):
        decimate([1, 2, 3], [1, 2, 3], max_points=1)
    with pytest.raises(ValueError, match="differ in length"):
        decimate([1, 2, 3], [1, 2])


def test_static_traces_are_sent_once_then_named_by_hash() -> None:
    fig = _figure(500)
    first, digest = build_payload(fig, key="c", static_traces=[0])
    later, digest2 = build_payload(fig, key="c", static_traces=[0], page_hash=digest)
    assert digest == digest2
    assert "content" in first["static"]
    assert later["static"] == {"hash": digest}
    assert len(later["traces"]) == 6 and later["static_index"] == [0]
    z = _decode(first["static"]["content"]["traces"][0]["z"])
    assert z.shape == (100, 100) and z.dtype == np.float64
    changed = _figure(500)
    changed["data"][0]["z"] = changed["data"][0]["z"] * 2
    _, digest3 = build_payload(changed, key="c", static_traces=[0], page_hash=digest)
    assert digest3 != digest


@pytest.mark.parametrize("n_points", [2000, 3000])  # 2000: the most a decimated run keeps
def test_update_of_six_runs_stays_small(n_points: int) -> None:
    fig = _figure(n_points)
    first, digest = build_payload(fig, key="c", static_traces=[0])
    update, _ = build_payload(fig, key="c", static_traces=[0], page_hash=digest)
    first_size, update_size = len(json.dumps(first)), len(json.dumps(update))
    assert update_size < 150_000, update_size
    assert first_size < 300_000, first_size


def test_dynamic_arrays_are_float32_unless_values_need_float64() -> None:
    fig = {"data": [{"x": [1.0, 2.0], "y": [1e-3, 2.5]}, {"x": [0, 1], "y": [1e-45, 1.0]}]}
    payload, _ = build_payload(fig, key="c")
    first, second = payload["traces"]
    assert first["y"]["dtype"] == "f4"
    assert np.allclose(_decode(first["y"]), [1e-3, 2.5])
    assert second["y"]["dtype"] == "f8"  # 1e-45 underflows float32
    assert _decode(second["y"])[0] == 1e-45


def test_layout_defaults_and_plain_values() -> None:
    fig = {"data": [{"x": ["a", "b"], "y": [1, 2], "text": np.array(["p", "q"])}], "layout": {}}
    payload, _ = build_payload(fig, key="loss", height=300, on_click=True)
    trace = payload["traces"][0]
    assert trace["x"] == ["a", "b"] and trace["text"] == ["p", "q"]
    assert payload["layout"]["uirevision"] == "loss"
    assert payload["height"] == 300 and payload["click"] is True
    kept, _ = build_payload({"data": [], "layout": {"uirevision": 7}}, key="loss")
    assert kept["layout"]["uirevision"] == 7
    json.dumps(payload)  # plain JSON all the way down


def test_plotly_figure_template_travels_as_static_content() -> None:
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=np.arange(5.0), y=np.arange(5.0) ** 2))
    first, digest = build_payload(fig, key="c")
    later, _ = build_payload(fig, key="c", page_hash=digest)
    assert "template" not in first["layout"]
    assert first["static"]["content"]["template"]
    assert "content" not in later["static"]
    assert np.allclose(_decode(later["traces"][0]["y"]), [0, 1, 4, 9, 16])


def test_bad_static_index_names_the_problem() -> None:
    with pytest.raises(ValueError, match="static_traces index 3"):
        build_payload({"data": [{"x": [1]}]}, key="c", static_traces=[3])


def _app() -> None:
    import streamlit as st

    from optlab.ui.charts.live_chart import live_chart

    fig = {"data": [{"type": "contour", "z": [[1, 2], [3, 4]]}, {"x": [1, 2], "y": [3, 4]}]}
    st.write(f"clicked: {live_chart(fig, key='k', static_traces=[0], on_click=True)}")


def test_element_sends_static_content_until_the_page_holds_it() -> None:
    at = AppTest.from_function(_app)
    at.run()
    assert not at.exception
    first = json.loads(at.get("bidi_component")[0].proto.json)
    at.run()  # no browser: nothing reports the hash, so the content comes again
    second = json.loads(at.get("bidi_component")[0].proto.json)
    assert "content" in first["static"] and "content" in second["static"]
    assert first["plotly_url"].endswith(
        "/component/optlab.ui.charts.live_chart.plotlyjs/plotly.min.js"
    )
    assert "clicked: None" in at.markdown[0].value


def test_key_with_double_underscore_is_refused_clearly() -> None:
    def app() -> None:
        from optlab.ui.charts.live_chart import live_chart

        live_chart({"data": [{"x": [1], "y": [2]}]}, key="a__b")

    at = AppTest.from_function(app)
    at.run()
    assert "must not contain '__'" in at.exception[0].message
