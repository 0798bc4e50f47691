"""The summary table under the charts: final and best loss, steps to a threshold, val acc,
wall time — one row per run, with the run's colour.

Plain HTML, not ``st.dataframe``: it is redrawn five times a second while a run
streams, and the data grid (Arrow serialisation, a canvas) cost more than the charts.
Large type, so the numbers read from the back of a lecture hall.
"""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

from optlab.ui import themes
from optlab.ui.forms.widgets import fmt_num
from optlab.ui.live.live_data import ExperimentData, default_threshold, summary_rows

_CSS = (
    "<style>.optlab-summary{border-collapse:collapse;width:100%;font-size:1.02rem}"
    ".optlab-summary th{text-align:left;font-weight:600;color:#444;border-bottom:2px solid #ccc;"
    "padding:4px 10px}.optlab-summary td{padding:4px 10px;border-bottom:1px solid #eee}"
    ".optlab-summary td.num,.optlab-summary th.num{text-align:right;"
    "font-variant-numeric:tabular-nums}</style>"
)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "—"
    if column in ("final loss", "best loss", "val loss"):
        return fmt_num(value, 5)
    if column == "val acc":
        return f"{value:.1f} %"
    if column == "wall time (s)":
        return f"{value:.2f}"
    return html.escape(str(value))


def summary_html(data: ExperimentData) -> str:
    """The table as HTML (empty when the experiment has no runs)."""
    threshold = default_threshold(data) if data.is_surface else None
    rows = summary_rows(data, threshold)
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(
        f"<th class='{'' if c in ('run', 'status') else 'num'}'>{html.escape(c)}</th>"
        for c in columns
    )
    body = []
    for run, row in zip(data.runs, rows, strict=True):
        color = themes.run_color(themes.get(st.session_state.get(themes.STATE_KEY)), run.color_at)
        cells = []
        for c in columns:
            if c == "run":
                cells.append(
                    f"<td style='border-left:7px solid {color}'><b>{html.escape(row[c])}</b></td>"
                )
            else:
                cls = "" if c == "status" else " class='num'"
                cells.append(f"<td{cls}>{_cell(c, row[c])}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"{_CSS}<table class='optlab-summary' data-testid='optlab-summary'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def summary_table(data: ExperimentData, key: str = "") -> None:
    text = summary_html(data)
    if text:
        st.markdown(text, unsafe_allow_html=True)
