"""The dashboard's pages in menu order; ``app.py`` hands them to ``st.navigation``."""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.ui.pages import history, lessons, schedules, surfaces, sweeps, training
from optlab.ui.state import navigation


def pages() -> list[Any]:
    """The ``st.Page`` objects, in menu order (Surfaces is the home page)."""
    menu = {
        "surfaces": st.Page(
            surfaces.render,
            title="Surfaces",
            icon=":material/landscape:",
            url_path="surfaces",
            default=True,
        ),
        "training": st.Page(
            training.render, title="Training", icon=":material/model_training:", url_path="training"
        ),
        "schedules": st.Page(
            schedules.render, title="Schedules", icon=":material/show_chart:", url_path="schedules"
        ),
        "lessons": st.Page(
            lessons.render, title="Lessons", icon=":material/school:", url_path="lessons"
        ),
        "sweeps": st.Page(
            sweeps.render, title="Sweeps", icon=":material/grid_on:", url_path="sweeps"
        ),
        "history": st.Page(
            history.render, title="History", icon=":material/history:", url_path="history"
        ),
    }
    navigation.register(menu)
    return list(menu.values())
