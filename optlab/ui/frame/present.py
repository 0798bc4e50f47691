"""Presenter mode on every page: ``?present=1`` or the toggle (the URL follows).

Presenting hides the editor and the sidebar, lets the chart span the page and makes
captions large; ``?controls=0`` (a students' link) hides the editor only.  The page
asks :func:`presenting` / :func:`controls_shown` and renders :func:`present_toggle`.
"""

from __future__ import annotations

import streamlit as st

from optlab.ui.state import view

_KEY = "optlab:present:"

PRESENT_CSS = """
<style>
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none; }
  .st-key-optlab-caption p, .st-key-optlab-caption li { font-size: 1.4rem !important;
    line-height: 1.4; }
  [data-testid="stCaptionContainer"] p { font-size: 1.2rem !important; }
  [data-testid="stMainBlockContainer"], .block-container { padding-top: 3rem !important;
    max-width: 100% !important; }
</style>
"""


def presenting(page: str) -> bool:
    """Presenter mode for ``page``: the toggle once touched, else ``?present=1``."""
    present = bool(st.session_state.get(_KEY + page, view.flag(view.PRESENT)))
    if present:
        st.html(PRESENT_CSS)
    return present


def controls_shown(page: str) -> bool:
    """Whether the editor is shown: not presenting, and no ``?controls=0``."""
    return not bool(st.session_state.get(_KEY + page, view.flag(view.PRESENT))) and (
        not view.controls_hidden_by_url()
    )


def present_toggle(page: str, present: bool) -> None:
    """The presenter-mode toggle (on the page itself: the sidebar is hidden while presenting)."""
    st.toggle(
        "Presenter mode",
        value=present,
        key=_KEY + page,
        help="hide the editor and the sidebar, the chart across the page, large captions "
        "(the link gets ?present=1)",
    )


def url_flags(present: bool) -> dict[str, str]:
    """The view flags for the URL, with ``present`` as the toggle has it."""
    flags = view.kept()
    flags.pop(view.PRESENT, None)
    return {**flags, **({view.PRESENT: "1"} if present else {})}
