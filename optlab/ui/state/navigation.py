"""The dashboard's pages, and switching between them with a URL.

``app.py`` calls :func:`pages`; a page that receives a link meant for another page
(``?exp=`` of a model experiment on the Surfaces page) forwards it with :func:`go`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

_PAGES: dict[str, Any] = {}


def pages() -> list[Any]:
    """The ``st.Page`` objects, in menu order (Surfaces is the home page)."""
    from optlab.ui.pages import history, schedules, surfaces, training

    _PAGES.clear()
    _PAGES.update(
        surfaces=st.Page(
            surfaces.render,
            title="Surfaces",
            icon=":material/landscape:",
            url_path="surfaces",
            default=True,
        ),
        training=st.Page(
            training.render, title="Training", icon=":material/model_training:", url_path="training"
        ),
        schedules=st.Page(
            schedules.render, title="Schedules", icon=":material/show_chart:", url_path="schedules"
        ),
        history=st.Page(
            history.render, title="History", icon=":material/history:", url_path="history"
        ),
    )
    return list(_PAGES.values())


def go(page: str, query_params: dict[str, str] | None = None) -> bool:
    """Switch to ``page`` (False when pages are not registered, e.g. a page tested alone)."""
    target = _PAGES.get(page)
    if target is None:
        return False
    st.switch_page(target, query_params=query_params)
    return True  # pragma: no cover - switch_page does not return
