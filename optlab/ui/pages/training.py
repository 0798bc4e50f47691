"""Training: optimizers training real models (an MLP, the CIFAR-10 CNN), live.

Left: model, data, epochs and the runs (each with its per-layer groups); right:
per-step loss and learning rate per group, train/validation loss and accuracy per
epoch, progress with ETA and samples/s, the summary.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from optlab.problem import ModelProblem, get_problem
from optlab.ui import presets
from optlab.ui.forms.group_editor import group_editor
from optlab.ui.forms.model_setup import model_setup
from optlab.ui.forms.runs_editor import runs_editor
from optlab.ui.frame.lr_finder import lr_finder
from optlab.ui.frame.present import controls_shown, presenting
from optlab.ui.frame.run_page import check_and_run, editor_columns, page_end
from optlab.ui.frame.sidebar import open_page
from optlab.ui.live.live_view import live_view
from optlab.ui.state import page_state

PAGE = "training"
DEFAULT = presets.get("per_layer_lr").spec
CHART_KEY = "training"


def _load(spec: dict[str, Any]) -> None:
    page_state.load_spec(PAGE, spec)


def approx_steps(draft: dict[str, Any]) -> int:
    """Roughly how many updates a run makes (to scale example schedules)."""
    problem = draft.get("problem") or {}
    try:
        cls = get_problem(str(problem.get("name")))
        assert issubclass(cls, ModelProblem)  # this page trains models
        params = cls.Params.model_validate({k: v for k, v in problem.items() if k != "name"})
    except Exception:
        return 1000
    n = getattr(params, "train_limit", None)
    if n is None and hasattr(params, "n_samples"):
        n = int(params.n_samples * (1 - getattr(params, "val_fraction", 0.2)))
    if n is None:
        n = 50_000 if getattr(params, "download", False) else 5_085
    batch = int(draft.get("batch_size") or cls.default_batch_size)
    epochs = int(draft.get("epochs") or cls.default_epochs)
    return max(1, epochs * math.ceil(n / max(batch, 1)))


def _empty_view() -> None:
    with st.container(border=True):
        st.markdown("#### Ready when you are")
        st.markdown(
            "Pick a preset in the sidebar or set up the runs on the left, then press **Run**. "
            "Every run starts from the same initial weights and sees the same batches, so the "
            "curves differ only by the optimizer."
        )


def render() -> None:
    draft = open_page(PAGE, DEFAULT, _load)
    present = presenting(PAGE)
    editing = controls_shown(PAGE)
    if editing:
        left, right, bar = editor_columns()
        with left:
            model_setup(PAGE, draft)
            st.markdown("#### Runs")
            problem = draft.get("problem") or {}
            boxes = runs_editor(
                PAGE,
                draft,
                steps=approx_steps(draft),
                model=True,
                extra=lambda run, key, i: {
                    "param_groups": group_editor(run, f"{key}:groups", problem)
                },
            )
    else:  # presenter mode or a students' link: no editor, the charts across the page
        bar, right, boxes = st.container(), st.container(), []
    shown = check_and_run(PAGE, draft, bar, boxes)
    spec, exp_id = shown.spec, shown.exp_id
    with right:
        if exp_id:
            live_view(exp_id, key=CHART_KEY)
        else:
            _empty_view()
    if editing:  # the finder is an editor action: not in presenter mode or on a students' link
        with right:
            lr_finder(PAGE, draft, spec, model=True)
    page_end(PAGE, draft, shown, _load, present=present, model=True)
