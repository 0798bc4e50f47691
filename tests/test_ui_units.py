"""The dashboard's pure parts: share links, presets, examples, figures, live data, summary."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from optlab.catalog import schedulers
from optlab.engine.experiment import preview_schedule, run_experiment
from optlab.problem import get_problem
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.store.export import result_batch
from optlab.ui import presets
from optlab.ui.charts import figures
from optlab.ui.charts.schedule_gallery import gallery_figure, gallery_specs
from optlab.ui.charts.series import RunSeries
from optlab.ui.forms.hyperparam_form import GRID, nearest
from optlab.ui.live import live_data
from optlab.ui.schedule_examples import example
from optlab.ui.services import ReaderStore
from optlab.ui.state import share
from optlab.ui.state.draft import clean, with_uids


def test_share_form_roundtrip_and_garbage() -> None:
    draft = presets.get("momentum_rosenbrock").spec
    text = share.encode_form(draft)
    assert len(text) < 600 and share.decode_form(text) == draft
    assert share.decode_form("%%%") is None
    assert share.decode_form("eJzLSM3JyQcABiwCFQ") is None  # valid zlib, not a JSON object
    assert share.share_query(exp_id="abc123") == "exp=abc123"


@pytest.mark.parametrize("preset", presets.PRESETS, ids=lambda p: p.key)
def test_every_preset_is_a_valid_spec_for_its_page(preset: presets.Preset) -> None:
    spec = parse_spec(preset.spec)
    if preset.page == "sweeps":  # sweeps of surfaces and of models
        assert spec.sweep is not None
        return
    kind = get_problem(spec.problem.name).kind
    assert (kind == "surface") == (preset.page in ("surfaces", "schedules"))


def test_a_composite_schedule_survives_the_store_roundtrip() -> None:
    """The job manager stores spec.to_dict() and the worker parses it again."""
    spec = parse_spec(presets.get("warmup_cosine_vs_step").spec)
    assert parse_spec(spec.to_dict()).to_dict() == spec.to_dict()


def test_surface_presets_tell_their_story() -> None:
    """Momentum reaches the Rosenbrock minimum where plain SGD does not; nothing diverges."""
    result = run_experiment(parse_spec(presets.get("momentum_rosenbrock").spec))
    final = {r["label"]: r["final"]["loss"] for r in result["runs"]}
    assert final["SGD"] > 100 * final["SGD-momentum"]
    assert final["Nesterov"] < 1e-4
    for key in ("sgdm_adam_rosenbrock", "ill_conditioned", "warmup_cosine_vs_step"):
        runs = run_experiment(parse_spec(presets.get(key).spec))["runs"]
        assert all(r["status"] == "finished" for r in runs), key


@pytest.mark.parametrize("name", list(schedulers.catalogue()))
def test_every_scheduler_example_validates_and_previews(name: str) -> None:
    spec = parse_spec(
        {
            "problem": {"name": "quadratic"},
            "steps": 120,
            "runs": [
                {
                    "label": name,
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": example(name, 120),
                }
            ],
        }
    )
    lr = preview_schedule(spec)["runs"][0]["lr"]
    assert len(lr) == 120 and all(v is not None and v >= 0 for row in lr for v in row)


def test_gallery_covers_every_scheduler() -> None:
    runs = [r for s in gallery_specs() for r in preview_schedule(parse_spec(s))["runs"]]
    fig = gallery_figure({"runs": runs})
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles == list(schedulers.catalogue())


def test_log_grid_and_nearest() -> None:
    assert GRID[0] == 1e-6 and GRID[-1] == 10.0 and 0.001 in GRID and 0.05 in GRID
    assert nearest(GRID, 0.0011) == 0.001 and nearest(GRID, -1) == GRID[0]
    assert nearest(GRID, "x") in GRID


def test_draft_uids_never_leak() -> None:
    spec = presets.get("warmup_cosine_vs_step").spec
    draft = with_uids(spec)
    assert all("_uid" in r for r in draft["runs"])
    assert clean(draft) == spec


def _series(label: str, loss: list[float], index: int = 0) -> RunSeries:
    run = RunSeries(index=index, label=label, status="finished")
    n = len(loss)
    run.append(np.arange(n), np.array(loss), np.full((n, 1), 0.1), np.zeros((n, 2)), np.arange(n))
    return run


def test_figures_pick_log_axes_and_mark_static_traces() -> None:
    problem = get_problem("rosenbrock")()
    run = _series("SGD", [10.0, 1.0, 0.1])
    fig = figures.contour_figure(problem, [run], start=(-1.5, 2.0))
    image, colorbar, minimum = fig["data"][: len(figures.CONTOUR_STATIC)]
    assert image["type"] == "image" and image["source"].startswith("data:image/png;base64,")
    assert colorbar["marker"]["colorbar"]["title"]["text"] == "log₁₀ f"
    assert minimum["name"] == "minimum" and minimum["x"] == [1.0]
    assert figures.loss_figure([run])["layout"]["yaxis"]["type"] == "log"
    negative = _series("SGD", [1.0, -3.0])
    assert figures.loss_figure([negative])["layout"]["yaxis"]["type"] == "linear"
    long = _series("Adam", list(np.linspace(1, 2, 10_000)))
    assert len(figures.loss_figure([long])["data"][0]["x"]) <= figures.MAX_POINTS


def test_series_append_ignores_steps_already_held() -> None:
    run = _series("SGD", [3.0, 2.0])
    run.append(
        np.array([1, 2]),
        np.array([2.0, 1.0]),
        np.array([[0.1], [0.1]]),
        np.zeros((2, 2)),
        np.array([1.0, 2.0]),
    )
    assert list(run.loss) == [3.0, 2.0, 1.0] and run.last_step == 2


def test_live_data_reads_incrementally_and_summarises(tmp_path: Any) -> None:
    store = Store(tmp_path / "optlab.db")
    spec = parse_spec({**presets.get("sgdm_adam_rosenbrock").spec, "steps": 200})
    result = run_experiment(spec)
    exp_id = store.create_experiment(spec, status="running")
    data = live_data.refresh(store, exp_id, None)
    assert [r.n for r in data.runs] == [0, 0] and data.active
    store.write_batch(exp_id, result_batch(result))
    store.set_status(exp_id, "finished")
    data = live_data.refresh(store, exp_id, data)
    assert [r.n for r in data.runs] == [200, 200] and not data.active
    assert np.allclose(data.runs[1].loss, result["runs"][1]["loss"])
    rows = live_data.summary_rows(data, threshold=1.0)
    assert rows[0]["run"] == "SGD-momentum" and rows[0]["status"] == "finished"
    assert rows[0]["final loss"] == pytest.approx(result["runs"][0]["final"]["loss"])
    assert rows[0]["steps to ≤ 1"] is not None
    assert live_data.default_threshold(data) == pytest.approx(0.1)  # 1 % of f(start) = 12.5


def test_status_text() -> None:
    run = RunSeries(index=0, label="x", status="diverged", diverged_at=57)
    assert live_data.status_text(run, {"steps": 100}) == "diverged at step 57"
    run = RunSeries(index=0, label="x", status="failed", message="CUDA error")
    assert live_data.status_text(run, {}) == "failed: CUDA error"
    run = _series("x", [1.0, 0.5])
    run.status = "running"
    assert live_data.status_text(run, {"steps": 10}) == "running · step 2/10"


def test_reader_store_reuses_connections_of_finished_threads(tmp_path: Any) -> None:
    """Streamlit runs each rerun in a new thread: the reader must not keep one per rerun."""
    reader = ReaderStore(tmp_path / "optlab.db")

    def read() -> None:
        reader.list_experiments()

    for _ in range(50):
        t = threading.Thread(target=read)
        t.start()
        t.join()
    assert reader.open_connections() <= 2
    reader.close()


def test_change_points_keep_a_step_schedule_exact() -> None:
    steps = np.arange(10)
    lr = np.array([0.1] * 4 + [0.05] * 4 + [0.025] * 2)
    xs, ys = figures.change_points(steps, lr)
    assert list(xs) == [0, 4, 8, 9] and list(ys) == [0.1, 0.05, 0.025, 0.025]
    xs, ys = figures.change_points(steps, np.full(10, 0.01))
    assert list(xs) == [0, 9]
