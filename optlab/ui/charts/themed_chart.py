"""``st.plotly_chart`` in the chosen theme, for charts that need its point selection.

The Sweeps page's charts select points (a basin cell opens its run), which
``live_chart`` does not offer, so they stay ``st.plotly_chart``; this passes them
through the same ``themes.apply`` as ``live_chart`` and turns Streamlit's own Plotly
theme off (``theme=None``), so the figure shows exactly as themed, like every other chart.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from optlab.ui import themes


def themed_figure(figure: go.Figure | dict[str, Any]) -> dict[str, Any]:
    """``figure`` (built in the light look) in the session's theme, as a dict."""
    as_dict = figure if isinstance(figure, dict) else figure.to_dict()
    return themes.apply(as_dict, st.session_state.get(themes.STATE_KEY))


def themed_chart(figure: go.Figure | dict[str, Any], *, key: str, **kwargs: Any) -> Any:
    """``st.plotly_chart`` of ``figure`` in the session's theme; returns its event."""
    return st.plotly_chart(themed_figure(figure), key=key, theme=None, **kwargs)
