"""The Run button: validate, submit to the job manager, show the experiment.

Refusals (per-client limits, a full queue) and validation problems come back as
friendly messages, never as a traceback; the UI itself never trains anything.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from optlab.engine.records import ACTIVE_STATUSES
from optlab.spec import SpecError
from optlab.ui.markdown_text import md_text
from optlab.ui.services import manager
from optlab.ui.state import page_state
from optlab.ui.state.client import client_id
from optlab.ui.state.validation import outside_runs, show_errors

#: seconds the Run click waits, at most, for the first stored steps
FIRST_RECORDS_WAIT = 0.3


def submit(page: str, spec: Any) -> str | None:
    """Queue ``spec`` for this browser; the experiment id, or None after a message."""
    from optlab.jobs.job import LimitError

    try:
        exp_id = manager().submit(spec, client=client_id())
    except LimitError as exc:
        st.warning(f"Not started — {md_text(exc)}", icon="⏳")
        return None
    except SpecError as exc:
        show_errors(list(exc.errors))
        return None
    except Exception as exc:  # the manager is down or the store unwritable: say so plainly
        st.error(f"Could not start the experiment: {md_text(exc)}", icon="⚠️")
        return None
    page_state.show(page, exp_id)
    _await_first_records(exp_id)
    return exp_id


def _await_first_records(exp_id: str, timeout: float = FIRST_RECORDS_WAIT) -> None:
    """Give a warm worker a moment to store its first steps, so the page drawn in answer
    to Run already shows them instead of waiting for the next poll (bounded: a queued
    experiment is simply shown as queued)."""
    from optlab.ui.services import store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store().step_counts(exp_id):
                return
        except Exception:  # the store is busy or the id is new to this reader: poll later
            return
        time.sleep(0.02)


def is_active(exp_id: str | None) -> bool:
    """Whether a stored experiment is still queued or running."""
    from optlab.ui.services import experiment_or_none

    stored = experiment_or_none(exp_id) if exp_id else None
    return stored is not None and stored["status"] in ACTIVE_STATUSES


def run_bar(
    page: str, spec: Any, errors: list[tuple[str, str]], *, busy: bool, narrow: bool = False
) -> str | None:
    """The Run button and the errors that block it; the new experiment's id when clicked.

    ``narrow`` (presenter mode's side column): the note goes under the button, and no
    tooltip hangs over the chart while the presenter's mouse rests on Run."""
    cols = (
        [st.container(), st.container()]
        if narrow
        else st.columns([1.3, 2.7], vertical_alignment="center")
    )
    clicked = cols[0].button(
        "Run",
        type="primary",
        icon=":material/play_arrow:",
        key=f"run:{page}",
        disabled=spec is None,
        width="stretch",
        help=None if narrow else "validate and start every run (paired: same start, same batches)",
    )
    with cols[1]:
        if spec is None:
            n = len(errors)
            st.markdown(f"**{n} setting{'s' if n != 1 else ''} to fix** before running.")
        elif busy:
            st.caption("The experiment on the right is still running; Run starts another.")
        else:
            st.caption(f"{len(spec.runs)} run(s) side by side, paired.")
    show_errors(outside_runs(errors))
    if clicked and spec is not None:
        return submit(page, spec)
    return None
