"""What a page shows, kept in the URL: ``?exp=<id>`` (stored) or ``?s=<form>`` (unsaved).

On a page's first run (a fresh tab, a refresh, a shared link) the URL decides the
form and the experiment on screen; afterwards the page writes its state back to the
URL, so the address bar is always a link to what is on screen.

A link, an upload and a stored spec are outside input: :func:`load_outside` passes
them through the spec gate and the full validation (:func:`optlab.spec.parse_spec`)
before they become the form, and refuses what does not fit with the CLI's field
messages.  The form then holds the validated spec, so no widget meets a value of
a shape it was not built for.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.problem import get_problem
from optlab.spec import SpecError, parse_spec
from optlab.ui.markdown_text import md_text
from optlab.ui.services import experiment_or_none
from optlab.ui.state import draft as drafts
from optlab.ui.state import navigation, share, view

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
    if isinstance(spec, dict) and spec.get("sweep"):
        return "sweeps"
    problem = spec.get("problem") if isinstance(spec, dict) else None
    try:
        kind = get_problem(str((problem if isinstance(problem, dict) else {}).get("name", ""))).kind
    except ValueError:
        return "surfaces" if isinstance(spec, dict) and spec.get("steps") else "training"
    return "surfaces" if kind == "surface" else "training"


#: errors listed in a refusal notice (the rest are counted)
_NOTICE_ERRORS = 8


def refusal(what: str, errors: list[tuple[str, str]]) -> str:
    """The text that says why outside input was not loaded, one line per field."""
    lines = [
        f"- **{md_text(path or 'spec')}** — {md_text(msg)}" for path, msg in errors[:_NOTICE_ERRORS]
    ]
    if len(errors) > _NOTICE_ERRORS:
        lines.append(f"- … and {len(errors) - _NOTICE_ERRORS} more")
    return f"{what} could not be loaded:\n\n" + "\n".join(lines)


def load_outside(
    page: str, data: Any, *, what: str, exp_id: str | None = None
) -> list[tuple[str, str]]:
    """Validate outside input (JSON text or a parsed value) and load it into the form.

    Returns [] when loaded, else the (field, message) pairs, also left as the page's
    notice ("<what> could not be loaded: …"); nothing is loaded then.
    """
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        notice(page, refusal(what, exc.errors))
        return list(exc.errors)
    load_spec(page, spec.to_dict(), exp_id=exp_id)
    return []


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
            notice(
                page,
                f"No experiment {md_text(repr(exp_id))} on this server "
                "(deleted, or another server).",
            )
            show(page, None)
        elif load_outside(page, stored["spec"], what=f"Experiment {exp_id}'s spec", exp_id=exp_id):
            show(page, None)
        else:
            return drafts.get(page) or default
    elif form:
        try:
            decoded = share.read_form(form)
        except SpecError as exc:
            decoded = None
            notice(page, refusal("The link's form settings", exc.errors) + _DEFAULTS)
        if decoded is not None:
            if load_outside(page, decoded, what="The link's form settings"):
                notice(page, (pop_notice(page) or "") + _DEFAULTS)
            elif page_for(decoded) == page:
                return drafts.get(page) or default
    return drafts.ensure(page, default)


_DEFAULTS = "\n\nShowing the defaults instead."


def sync_url(page: str, draft: dict[str, Any], flags: dict[str, str] | None = None) -> None:
    """Write the page's state to the address bar (without a rerun), with the view flags
    (``present``, ``controls``, ``theme``: ``flags``, else the URL's own)."""
    exp_id = shown(page)
    want = (
        {share.EXP_PARAM: exp_id}
        if exp_id
        else {share.FORM_PARAM: share.encode_form(drafts.clean(draft))}
    )
    # Always send it: a run interrupted by a click may have updated the server's copy of
    # the query string without the browser ever receiving it.
    st.query_params.from_dict({**want, **(view.kept() if flags is None else flags)})
    _remember(page, (want.get(share.EXP_PARAM), want.get(share.FORM_PARAM)))
