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
from optlab.ui.forms.pitfall_notes import show_run_warnings
from optlab.ui.forms.runs_editor import runs_editor, show_run_errors
from optlab.ui.forms.surface_setup import problem_identity
from optlab.ui.frame.lr_finder import lr_finder
from optlab.ui.frame.present import controls_shown, present_toggle, presenting, url_flags
from optlab.ui.frame.run_bar import is_active, run_bar
from optlab.ui.frame.sidebar import open_page, share_section, upload_section
from optlab.ui.frame.sweep_this import sweep_this
from optlab.ui.frame.teach import code_section
from optlab.ui.live.live_view import live_view
from optlab.ui.services import experiment_or_none
from optlab.ui.state import draft as drafts
from optlab.ui.state import page_state
from optlab.ui.state.validation import validate

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
        left, right = st.columns([5, 7], gap="large")
        with left:
            bar = st.container()
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
    spec, errors = validate(draft)
    show_run_errors(boxes, errors)
    show_run_warnings(boxes, spec)  # optlab check's pitfalls, on their run's card
    with bar:
        run_bar(PAGE, spec, errors, busy=is_active(page_state.shown(PAGE)))
    exp_id = page_state.shown(PAGE)
    stored = experiment_or_none(exp_id) if exp_id else None
    if exp_id and (stored is None or problem_identity(stored["spec"]) != problem_identity(draft)):
        page_state.show(PAGE, None)
        exp_id = None
    with right:
        if exp_id:
            live_view(exp_id, key=CHART_KEY)
        else:
            _empty_view()
    if editing:  # the finder is an editor action: not in presenter mode or on a students' link
        with right:
            lr_finder(PAGE, draft, spec, model=True)
    if spec is not None and not present:
        code_section(spec)
    present_toggle(PAGE, present)
    with st.sidebar:
        share_section(
            draft=draft, spec=spec, shown=exp_id, shown_name=(stored or {}).get("name", "")
        )
        upload_section(PAGE, _load)
        sweep_this(PAGE, draft, model=True)
    drafts.put(PAGE, draft)
    page_state.sync_url(PAGE, draft, url_flags(present))
