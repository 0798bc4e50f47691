"""What the two run pages (Surfaces, Training) share around their own forms and charts.

The editor layout (the form on the left with the Run bar at its top, the charts on the
right), the checks and the Run bar under the form, which stored experiment is on show,
and the end of the page: the PyTorch code, the presenter toggle and the sidebar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from optlab.spec import ExperimentSpec
from optlab.ui.forms.pitfall_notes import show_run_warnings
from optlab.ui.forms.runs_editor import show_run_errors
from optlab.ui.forms.surface_setup import problem_identity
from optlab.ui.frame.present import present_toggle, url_flags
from optlab.ui.frame.run_bar import is_active, run_bar
from optlab.ui.frame.sidebar import share_section, upload_section
from optlab.ui.frame.sweep_this import sweep_this
from optlab.ui.frame.teach import code_section
from optlab.ui.services import experiment_or_none
from optlab.ui.state import draft as drafts
from optlab.ui.state import page_state
from optlab.ui.state.validation import validate


@dataclass(frozen=True)
class Shown:
    """The draft checked and the experiment on show."""

    spec: ExperimentSpec | None  # the draft as a spec; None while it has errors
    exp_id: str | None  # the experiment on show; None: none yet
    stored: dict[str, Any] | None  # its stored row


def editor_columns() -> tuple[Any, Any, Any]:
    """``(left, right, bar)``: the form's column, the charts' column and the Run bar's
    place at the top of the form."""
    left, right = st.columns([5, 7], gap="large")
    with left:
        bar = st.container()
    return left, right, bar


def check_and_run(
    page: str, draft: dict[str, Any], bar: Any, boxes: list[Any], *, narrow: bool = False
) -> Shown:
    """Validate the draft (each run's errors and pitfalls on its card in ``boxes``), put
    the Run bar in ``bar`` and find the experiment on show: one of another problem (the
    form moved to another surface or model) is dropped, so the page shows a new one."""
    spec, errors = validate(draft)
    show_run_errors(boxes, errors)
    show_run_warnings(boxes, spec)  # optlab check's pitfalls, on their run's card
    with bar:
        run_bar(page, spec, errors, busy=is_active(page_state.shown(page)), narrow=narrow)
    exp_id = page_state.shown(page)
    stored = experiment_or_none(exp_id) if exp_id else None
    if exp_id and (stored is None or problem_identity(stored["spec"]) != problem_identity(draft)):
        page_state.show(page, None)
        exp_id = None
    return Shown(spec, exp_id, stored)


def page_end(
    page: str,
    draft: dict[str, Any],
    shown: Shown,
    load: Callable[[dict[str, Any]], None],
    *,
    present: bool,
    model: bool,
) -> None:
    """The code of the experiment (not while presenting), the presenter toggle, the
    sidebar's share, upload and "Sweep this"; then the draft is kept and the URL synced."""
    if shown.spec is not None and not present:
        code_section(shown.spec)
    present_toggle(page, present)
    with st.sidebar:
        share_section(
            draft=draft,
            spec=shown.spec,
            shown=shown.exp_id,
            shown_name=(shown.stored or {}).get("name", ""),
        )
        upload_section(page, load)
        sweep_this(page, draft, model=model)
    drafts.put(page, draft)
    page_state.sync_url(page, draft, url_flags(present))
