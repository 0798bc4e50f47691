"""AppTest: the instruments on the Surfaces page (issue 12) — the step inspector's numbers
against plain PyTorch loops, the arrows' vectors, the record_state switch, the curvature
panel and the stability lines, from a real store file."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
import torch

from optlab.engine.experiment import Experiment
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.ui.charts import step_inspector
from optlab.ui.state import share

STEPS = 40
SPEC = {
    "problem": {"name": "rosenbrock", "start": [-1.5, 2.0]},
    "steps": STEPS,
    "runs": [
        {
            "label": "SGDM",
            "optimizer": {"name": "SGD", "lr": 0.0005, "momentum": 0.9},
            "record_state": True,
        },
        {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}, "record_state": True},
        {"label": "plain", "optimizer": {"name": "SGD", "lr": 0.0005}},
    ],
}


def _values(array: Any) -> np.ndarray:
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=np.float64)


def _player(at: Any) -> dict[str, Any]:
    for element in at.get("bidi_component"):
        player = json.loads(element.proto.json).get("player")
        if player:
            return player
    raise AssertionError("no contour player on the page")


def _decoded(run: dict[str, Any]) -> dict[str, Any]:
    """A player run's inspector with its typed arrays decoded: values[name] is (n,) or (n, 2)."""
    inspect = run["inspect"]
    values = {}
    for key, parts in inspect["values"].items():
        cols = [_values(p) for p in parts]
        values[key] = cols[0] if len(cols) == 1 else np.stack(cols, 1)
    return {"title": inspect["title"], "lines": inspect["lines"], "values": values}


def _plain(name: str, kwargs: dict[str, Any]) -> dict[str, list[np.ndarray]]:
    """The textbook loop: gradient, state after the update, update, per step."""
    problem = parse_spec(SPEC).problem.build()
    xy = torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([xy], **kwargs)
    out: dict[str, list[np.ndarray]] = {"grad": [], "update": [], "theta": []}
    for _ in range(STEPS):
        before = xy.detach().clone()
        loss = problem.value(xy[0], xy[1])
        opt.zero_grad()
        loss.backward()
        out["grad"].append(xy.grad.numpy().copy())
        out["theta"].append(before.numpy().copy())
        opt.step()
        out["update"].append((xy.detach() - before).numpy())
        for key, value in opt.state[xy].items():
            if value.shape == xy.shape:
                out.setdefault(key, []).append(value.numpy().copy())
    return out


@pytest.fixture
def shown(ui_page: Any) -> Any:
    store = Store()
    spec = parse_spec(SPEC)
    exp_id = store.create_experiment(spec, status="running")
    for batch in Experiment(spec).batches(flush_seconds=0.0):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished")
    store.close()
    at = ui_page("surfaces", query={share.EXP_PARAM: exp_id})
    assert not at.exception
    return at


def test_inspector_shows_adam_with_the_plain_loops_numbers(shown: Any) -> None:
    run = next(r for r in _player(shown)["runs"] if r["label"] == "Adam")
    data = _decoded(run)
    ref = _plain("Adam", {"lr": 0.05})
    steps = _values(run["step"])
    assert steps[:STEPS].tolist() == list(range(STEPS))
    v = data["values"]
    for t in (0, 1, 7, STEPS - 1):
        k = t + 1  # torch's step count
        m, s = ref["exp_avg"][t], ref["exp_avg_sq"][t]
        m_prev = ref["exp_avg"][t - 1] if t else np.zeros(2)
        np.testing.assert_array_equal(v["g"][t], ref["grad"][t])
        np.testing.assert_array_equal(v["m"][t], m)
        np.testing.assert_array_equal(v["m_prev"][t], m_prev)
        np.testing.assert_array_equal(v["v"][t], s)
        assert v["bc1"][t] == pytest.approx(1 - 0.9**k) and v["bc2"][t] == pytest.approx(
            1 - 0.999**k
        )
        np.testing.assert_allclose(v["mhat"][t], m / (1 - 0.9**k), rtol=1e-12)
        np.testing.assert_allclose(v["vhat"][t], s / (1 - 0.999**k), rtol=1e-12)
        np.testing.assert_allclose(v["pred"][t], ref["update"][t], rtol=1e-9, atol=1e-15)
        np.testing.assert_array_equal(v["update"][t], ref["update"][t])
        lines = step_inspector.render(data, t)
        assert lines[0] == f"Adam — update t = {t}"
        first = step_inspector.fmt
        want_m = f"0.9·({first(m_prev[0])}, {first(m_prev[1])}) + 0.1·"
        assert any(line.startswith("m_t = β₁·m_{t−1} + (1−β₁)·g_t = " + want_m) for line in lines)
        assert lines[-1] == (
            f"taken: θ_{{t+1}} − θ_t = ({first(ref['update'][t][0])}, {first(ref['update'][t][1])})"
        )
    # past the last update (the final point) there is nothing to inspect
    assert np.isnan(v["m"][-1]).all() and len(steps) == STEPS + 1


def test_inspector_and_arrows_show_sgd_momentum_with_the_plain_loops_numbers(shown: Any) -> None:
    runs = {r["label"]: r for r in _player(shown)["runs"]}
    run = runs["SGDM"]
    ref = _plain("SGD", {"lr": 0.0005, "momentum": 0.9})
    v = _decoded(run)["values"]
    buf = np.array(ref["momentum_buffer"])
    np.testing.assert_array_equal(v["b"][:STEPS], buf)
    np.testing.assert_array_equal(v["b_prev"][1:STEPS], buf[:-1])
    np.testing.assert_allclose(v["pred"][:STEPS], np.array(ref["update"]), rtol=1e-9)
    assert (
        "b_t = μ·b_{t−1} + (1−dampening)·g_t = {mu}·{b_prev} + {omd}·{g} = {b}"
        in run["inspect"]["lines"]
    )
    arrows = run["arrows"]
    assert arrows["buffer_name"] == "momentum_buffer"
    grad = np.stack([_values(c) for c in arrows["grad"]], 1)
    update = np.stack([_values(c) for c in arrows["update"]], 1)
    buffer = np.stack([_values(c) for c in arrows["buffer"]], 1)
    np.testing.assert_array_equal(grad[:STEPS], np.array(ref["grad"]))
    np.testing.assert_array_equal(update[:STEPS], np.array(ref["update"]))
    np.testing.assert_array_equal(buffer[:STEPS], buf)
    # the run without record_state has neither arrows nor an inspector
    assert "arrows" not in runs["plain"] and "inspect" not in runs["plain"]


def test_record_state_switch_is_off_by_default_and_goes_into_the_spec(ui_page: Any) -> None:
    at = ui_page("surfaces")
    boxes = [c for c in at.checkbox if c.label == "record the optimizer's state"]
    assert [c.value for c in boxes] == [False, False]
    boxes[1].check().run()
    raw = at.query_params[share.FORM_PARAM]
    decoded = share.decode_form(raw[0] if isinstance(raw, list) else raw)
    assert decoded is not None
    assert [r.get("record_state") for r in decoded["runs"]] == [None, True]
    assert not any(c.label.startswith("record sharpness") for c in at.checkbox)  # models only


def test_curvature_panel_and_stability_lines_on_the_quadratic(ui_page: Any) -> None:
    spec = {
        "problem": {"name": "quadratic"},
        "steps": 30,
        "runs": [
            {"label": "SGDM", "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.5}},
            {"label": "Adam", "optimizer": {"name": "Adam", "lr": 0.05}},
        ],
    }
    parsed = parse_spec(spec)
    problem = parsed.problem.build()
    hessian = torch.autograd.functional.hessian(
        lambda p: problem.value(p[0], p[1]), torch.tensor(problem.start, dtype=torch.float64)
    ).numpy()
    lam = np.linalg.eigvalsh(hessian)
    store = Store()
    exp_id = store.create_experiment(parsed, status="running")
    for batch in Experiment(parsed).batches(flush_seconds=0.0):
        store.write_batch(exp_id, batch)
    store.set_status(exp_id, "finished")
    store.close()
    at = ui_page("surfaces", query={share.EXP_PARAM: exp_id})
    assert not at.exception
    assert "Curvature and stability at the start" in [e.label for e in at.expander]
    table = next(d for d in at.dataframe if "stability limit" in d.value.columns).value
    limits = dict(zip(table["run"], table["stability limit"], strict=True))
    assert limits["SGDM"] == pytest.approx((2 + 2 * 0.5) / lam[-1], rel=1e-9)
    assert limits["Adam"] is None or np.isnan(limits["Adam"])
    text = "\n".join(m.value for m in at.markdown)
    kappa = np.sqrt(lam[-1] / lam[0])
    rate = (kappa - 1) / (kappa + 1)
    assert f"rate = {rate:.4g}" in text and f"κ = {lam[-1] / lam[0]:.4g}" in text
    traces: dict[str, dict[str, Any]] = {}
    for element in at.get("bidi_component"):
        for t in json.loads(element.proto.json).get("traces", []):
            traces[str(t.get("name"))] = t
    line = traces["SGDM stability limit"]
    assert _values(line["y"]).tolist() == pytest.approx([(2 + 2 * 0.5) / lam[-1]] * 2)
    assert "Adam stability limit" not in traces
    boundary = traces["stability boundary, heavy ball"]
    bx, by = _values(boundary["x"]), _values(boundary["y"])  # float32 on the wire
    np.testing.assert_allclose(bx * lam[-1], 2 + 2 * by.astype(np.float64), rtol=1e-6)
    star = next(t for name, t in traces.items() if name.startswith("optimal heavy ball"))
    assert _values(star["y"])[0] == pytest.approx(rate**2, rel=1e-6)
    assert _values(traces["SGDM (stable)"]["x"]).tolist() == pytest.approx([0.01], rel=1e-6)


def test_live_polls_gather_the_same_instruments_as_one_cold_read(tmp_path: Any) -> None:
    """Read while the experiment streams, poll by poll (a state tensor appears only after
    the first update): the held arrays equal a cold read of the finished experiment."""
    from optlab.ui.live import live_data

    store = Store(tmp_path / "optlab.db")
    spec = parse_spec({**SPEC, "runs": SPEC["runs"][:2]})
    exp_id = store.create_experiment(spec, status="running")
    held = None
    for batch in Experiment(spec).batches(flush_seconds=0.0):
        store.write_batch(exp_id, batch)
        held = live_data.refresh(store, exp_id, held)
    store.set_status(exp_id, "finished")
    held = live_data.refresh(store, exp_id, held)
    cold = live_data.refresh(store, exp_id, None)
    store.close()
    assert held is not None
    for live, whole in zip(held.runs, cold.runs, strict=True):
        assert live.n == whole.n == STEPS
        for key in ("grad", "update"):
            np.testing.assert_array_equal(live.instruments[key], whole.instruments[key])
        assert live.instruments["state"].keys() == whole.instruments["state"].keys()
        for name, values in whole.instruments["state"].items():
            np.testing.assert_array_equal(live.instruments["state"][name], values)


def test_finder_settings_are_checked_with_a_message(ui_page: Any) -> None:
    at = ui_page("surfaces")
    next(n for n in at.number_input if n.label == "start lr").set_value(0.0).run()
    assert not at.exception
    assert any("start lr" in e.value and "positive" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Find the lr").disabled
