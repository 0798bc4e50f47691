"""Switching between the dashboard's pages with a URL.

:mod:`optlab.ui.menu` builds the pages and registers them here; a page that
receives a link meant for another page (``?exp=`` of a model experiment on the
Surfaces page) forwards it with :func:`go`.  This module never imports a page,
so pages can use it without an import circle.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

_PAGES: dict[str, Any] = {}


def register(pages: dict[str, Any]) -> None:
    """Remember the ``st.Page`` objects by key (``surfaces``, ``training`` …)."""
    _PAGES.clear()
    _PAGES.update(pages)


def go(page: str, query_params: dict[str, str] | None = None) -> bool:
    """Switch to ``page`` (False when pages are not registered, e.g. a page tested alone)."""
    target = _PAGES.get(page)
    if target is None:
        return False
    st.switch_page(target, query_params=query_params)
    return True  # pragma: no cover - switch_page does not return
