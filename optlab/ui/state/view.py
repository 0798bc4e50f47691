"""How a page is shown, carried in the URL: ``present``, ``controls``, ``theme``.

``?present=1`` is presenter mode (no editor, no sidebar, the chart across the page,
large captions), ``?controls=0`` hides the editor only (a students' link), ``?theme=``
names the look.  These are plain flags: only the exact values below are read, anything
else is ignored, nothing in them is parsed as a spec or run.
"""

from __future__ import annotations

import streamlit as st

from optlab.ui import themes

PRESENT = "present"
CONTROLS = "controls"
THEME = "theme"
_TRUE = ("1", "true", "yes")


def flag(name: str) -> bool:
    """``?name=1`` (or true/yes)."""
    return str(st.query_params.get(name, "")).lower() in _TRUE


def controls_hidden_by_url() -> bool:
    return str(st.query_params.get(CONTROLS, "")) == "0"


def kept() -> dict[str, str]:
    """The view flags of the current URL, cleaned: what every page writes back."""
    out: dict[str, str] = {}
    if flag(PRESENT):
        out[PRESENT] = "1"
    if controls_hidden_by_url():
        out[CONTROLS] = "0"
    look = str(st.query_params.get(THEME, ""))
    if look in themes.NAMES and look != "light":
        out[THEME] = look
    return out


def share_flags(*, present: bool = False, hide_controls: bool = False) -> dict[str, str]:
    """The view flags a share link carries (students open it without the editor)."""
    out: dict[str, str] = {}
    if present:
        out[PRESENT] = "1"
    if hide_controls:
        out[CONTROLS] = "0"
    return out
