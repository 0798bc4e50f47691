"""The theme choice (sidebar and ``?theme=``): light, dark or projector.

Chosen once per browser session; the URL keeps it (``page_state.sync_url`` and the
Lessons page carry ``theme`` along), so a shared link opens in the same look.  The
charts read it in ``live_chart`` (``optlab.ui.themes.apply``); the page's own colours
come from the theme's CSS.
"""

from __future__ import annotations

import streamlit as st

from optlab.ui import themes

PARAM = "theme"
_LABELS = {"light": "Light", "dark": "Dark", "projector": "Projector (high contrast)"}


def _changed() -> None:
    name = st.session_state[themes.STATE_KEY]
    if name == "light":
        st.query_params.pop(PARAM, None)
    else:
        st.query_params[PARAM] = name


def theme_picker() -> str:
    """The sidebar's theme box (call before the page runs); the chosen theme's name."""
    url = str(st.query_params.get(PARAM, "") or "")
    if themes.STATE_KEY not in st.session_state or (
        url in themes.NAMES and url != st.session_state.get(themes.STATE_KEY + ":url")
    ):
        st.session_state[themes.STATE_KEY] = url if url in themes.NAMES else "light"
    st.session_state[themes.STATE_KEY + ":url"] = url
    with st.sidebar:
        st.selectbox(
            "Theme",
            themes.NAMES,
            format_func=_LABELS.__getitem__,
            key=themes.STATE_KEY,
            on_change=_changed,
            help="dark, or a high-contrast projector look with thicker lines and larger type",
        )
    name = str(st.session_state[themes.STATE_KEY])
    css = themes.get(name).css
    if css:
        st.html(css)
    return name
