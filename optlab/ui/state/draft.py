"""The form's spec-in-progress ("draft") of each page, kept in the session.

The draft is a plain spec dict (docs/architecture.md §4) plus private ``_uid`` keys on runs,
groups and child schedulers, so widgets keep their identity when a run above them
is removed.  :func:`clean` strips the private keys before validation, export or a
share link.  Replacing the draft (preset, upload, link) bumps the page's
*generation*, which is part of every widget key: all widgets start afresh.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from optlab.ui.forms.widgets import new_uid

_DRAFT = "optlab:draft:"
_GEN = "optlab:gen:"


def clean(value: Any) -> Any:
    """A copy without private ``_…`` keys (what is validated, exported and shared)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def with_uids(spec: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``spec`` whose runs, groups and child schedulers carry ``_uid``."""
    out = copy.deepcopy(spec)
    for run in out.get("runs") or []:
        if isinstance(run, dict):
            run.setdefault("_uid", new_uid())
            for group in run.get("param_groups") or []:
                if isinstance(group, dict):
                    group.setdefault("_uid", new_uid())
            sched = run.get("scheduler")
            if isinstance(sched, dict):
                for kid in sched.get("schedulers") or []:
                    if isinstance(kid, dict):
                        kid.setdefault("_uid", new_uid())
    return out


def generation(page: str) -> int:
    return int(st.session_state.get(_GEN + page, 0))


def wkey(page: str, *parts: Any) -> str:
    """A widget key unique to this page, this draft generation and ``parts``."""
    return ":".join([page, str(generation(page)), *map(str, parts)])


def get(page: str) -> dict[str, Any] | None:
    return st.session_state.get(_DRAFT + page)


def put(page: str, draft: dict[str, Any]) -> None:
    """Store the draft as edited by the widgets (same generation)."""
    st.session_state[_DRAFT + page] = draft


def replace(page: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Load a whole new spec into the form: fresh uids, fresh widgets."""
    draft = with_uids(spec)
    st.session_state[_DRAFT + page] = draft
    st.session_state[_GEN + page] = generation(page) + 1
    return draft


def ensure(page: str, default: dict[str, Any]) -> dict[str, Any]:
    draft = get(page)
    return draft if draft is not None else replace(page, default)
