"""What a page shows, kept in the URL: ``?exp=<id>`` (stored) or ``?s=<form>`` (unsaved).

On a page's first run (a fresh tab, a refresh, a shared link) the URL decides the
form and the experiment on screen; afterwards the page writes its state back to the
URL, so the address bar is always a link to what is on screen.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.problem import get_problem
from optlab.ui.services import experiment_or_none
from optlab.ui.state import draft as drafts
from optlab.ui.state import navigation, share

_SEEN = "optlab:url:"
_SHOWN = "optlab:shown:"
_NOTICE = "optlab:notice:"


_REMEMBERED = 64


def _remember(page: str, sig: tuple[str | None, str | None]) -> None:
    """Note a query string as known to this page (the latest ones, bounded)."""
    seen = [s for s in st.session_state.get(_SEEN + page, ()) if s != sig]
    st.session_state[_SEEN + page] = tuple([*seen, sig][-_REMEMBERED:])


def page_for(spec: dict[str, Any]) -> str:
    """``surfaces`` or ``training``: where a spec belongs (by its problem's kind);
    ``sweeps`` for a spec with a sweep."""
    if spec.get("sweep"):
        return "sweeps"
    try:
        kind = get_problem(str((spec.get("problem") or {}).get("name", ""))).kind
    except ValueError:
        return "surfaces" if spec.get("steps") else "training"
    return "surfaces" if kind == "surface" else "training"


def shown(page: str) -> str | None:
    return st.session_state.get(_SHOWN + page)


def show(page: str, exp_id: str | None) -> None:
    st.session_state[_SHOWN + page] = exp_id


def notice(page: str, text: str) -> None:
    st.session_state[_NOTICE + page] = text


def pop_notice(page: str) -> str | None:
    return st.session_state.pop(_NOTICE + page, None)


def load_spec(page: str, spec: dict[str, Any], *, exp_id: str | None = None) -> None:
    """Put ``spec`` in the right page's form (switching page when it belongs elsewhere)."""
    target = page_for(spec)
    drafts.replace(target, spec)
    show(target, exp_id)
    if target != page:
        query = {share.EXP_PARAM: exp_id} if exp_id else {share.FORM_PARAM: share.encode_form(spec)}
        _remember(target, (query.get(share.EXP_PARAM), query.get(share.FORM_PARAM)))
        if not navigation.go(target, query):
            notice(page, f"This spec belongs on the {target.title()} page; open it there.")


def from_url(page: str, default: dict[str, Any]) -> dict[str, Any]:
    """The page's draft, (re)loaded from the URL when the URL changed since the last run."""
    qp = st.query_params
    exp_id, form = qp.get(share.EXP_PARAM), qp.get(share.FORM_PARAM)
    sig = (exp_id, form)
    if sig in st.session_state.get(_SEEN + page, ()) and drafts.get(page) is not None:
        # A query string this page wrote itself (possibly a stale one that a rerun
        # carried back before the browser applied the newer one): nothing new.
        return drafts.get(page) or default
    _remember(page, sig)
    if exp_id:
        stored = experiment_or_none(exp_id)
        if stored is None:
            notice(page, f"No experiment {exp_id!r} on this server (deleted, or another server).")
            show(page, None)
        else:
            load_spec(page, stored["spec"], exp_id=exp_id)
            return drafts.get(page) or default
    elif form:
        decoded = share.decode_form(form)
        if decoded is None:
            notice(page, "The link's form settings could not be read; showing the defaults.")
        else:
            load_spec(page, decoded)
            if page_for(decoded) == page:
                return drafts.get(page) or default
    return drafts.ensure(page, default)


def sync_url(page: str, draft: dict[str, Any]) -> None:
    """Write the page's state to the address bar (without a rerun)."""
    exp_id = shown(page)
    want = (
        {share.EXP_PARAM: exp_id}
        if exp_id
        else {share.FORM_PARAM: share.encode_form(drafts.clean(draft))}
    )
    # Always send it: a run interrupted by a click may have updated the server's copy of
    # the query string without the browser ever receiving it.
    st.query_params.from_dict(want)
    _remember(page, (want.get(share.EXP_PARAM), want.get(share.FORM_PARAM)))
