"""Status of an experiment and its runs: coloured chips, progress with ETA, Cancel."""

from __future__ import annotations

import html
from collections.abc import Callable

import streamlit as st

from optlab.ui import theme, themes
from optlab.ui.live.live_data import ExperimentData, status_text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def chips_html(data: ExperimentData) -> str:
    """One chip per run: colour swatch, label, status (``diverged at step 57``…)."""
    parts = []
    for run in data.runs:
        color = themes.run_color(themes.get(st.session_state.get(themes.STATE_KEY)), run.color_at)
        state_color = theme.STATUS_COLORS.get(run.status, "#333")
        text = html.escape(status_text(run, data.spec))
        parts.append(
            "<span style='display:inline-block;margin:2px 14px 2px 0;white-space:nowrap'>"
            f"<span style='display:inline-block;width:14px;height:14px;border-radius:7px;"
            f"background:{color};vertical-align:-1px;margin-right:6px'></span>"
            f"<b>{html.escape(run.label)}</b> "
            f"<span style='color:{state_color}'>{text}</span></span>"
        )
    return f"<div class='optlab-status' data-testid='optlab-run-status'>{''.join(parts)}</div>"


def progress_text(data: ExperimentData) -> str:
    bits = [f"{100 * data.progress:.0f} %"]
    if data.active:
        eta = data.eta()
        if eta is not None:
            bits.append(f"ETA {_duration(eta)}")
    else:
        bits.append(f"took {_duration(data.elapsed())}")
    rate = data.samples_per_second()
    if rate:
        bits.append(f"{rate:,.0f} samples/s")
    if data.device:
        bits.append(f"on {data.device}")
    return " · ".join(bits)


def status_bar(
    data: ExperimentData,
    *,
    on_cancel: Callable[[int | None], None],
    key: str,
    headline: bool = True,
) -> None:
    """Title line, run chips, a progress bar while active and the Cancel controls.

    ``headline=False`` (a lesson's race, under the scene's own title) leaves out the
    title line; the chips and the progress line still say each run's state."""
    if headline:
        state = {"queued": "waiting for a worker…", "running": "running"}.get(
            data.status, data.status
        )
        title = html.escape(data.name or data.id)
        st.markdown(
            f"<div style='font-size:1.1rem'><b>{title}</b> · <code>{data.id}</code> · "
            f"{state}</div>",
            unsafe_allow_html=True,
        )
    if data.status in ("failed", "interrupted") and data.message:
        st.warning(data.message)
    st.markdown(chips_html(data), unsafe_allow_html=True)
    if data.active:
        st.progress(min(max(data.progress, 0.0), 1.0), text=progress_text(data))
        row = st.container(horizontal=True, vertical_alignment="center")
        if row.button(
            "Cancel",
            key=f"{key}:cancel",
            help="stop every run of this experiment",
            icon=":material/stop_circle:",
        ):
            on_cancel(None)
        running = [r for r in data.runs if r.active]
        if len(running) > 1:
            with row.popover("Stop one run", icon=":material/block:"):
                for run in running:
                    if st.button(f"Stop {run.label}", key=f"{key}:cancel:{run.index}"):
                        on_cancel(run.index)
    else:
        st.caption(progress_text(data))
