"""The sidebar's "Workers" box: which executor runs the work, and where.

Local: the worker processes and what they are busy with.  Ray: the cluster (its
CPUs, GPUs and live nodes, or the address it joined) and how many trials run on
each node.  It reads the job manager's overview and never starts the manager
itself (the pages' warm-up does), so drawing it costs nothing while it starts.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab import settings
from optlab.jobs.manager import current_manager, start_error
from optlab.ui.markdown_text import md_text


def describe(overview: dict[str, Any]) -> list[str]:
    """The box's lines (Markdown), from ``JobManager.overview()``."""
    busy = f"{overview.get('running', 0)} running, {overview.get('queued', 0)} waiting"
    if overview.get("executor") != "ray":
        workers = overview.get("workers", [])
        devices = sorted({str(w.get("device")) for w in workers if w.get("device")})
        on = f" on {', '.join(devices)}" if devices else ""
        return [f"**Local** — {len(workers)} worker process(es){on}", busy]
    cluster = overview.get("cluster", {})
    lines = [
        f"**Ray** — {overview.get('address', 'local Ray')}",
        f"{cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs, "
        f"{cluster.get('nodes', 0)} node(s)",
        busy,
    ]
    by_node = overview.get("running_by_node", {})
    lines += [f"`{node}`: {n} running" for node, n in sorted(by_node.items())]
    return lines


def workers_status() -> None:
    """Draw the box in the sidebar."""
    with st.sidebar, st.expander("Workers", icon=":material/memory:"):
        try:
            settings.executor()
        except ValueError as exc:  # a typo in the server's setting: say which, once
            st.error(str(exc))
            return
        manager = current_manager()
        if manager is None:
            failed = start_error()
            if failed:  # e.g. RAY_ADDRESS unreachable: say why, never "starting…" forever
                st.error(f"The workers could not start: {md_text(failed)}")
            else:
                st.caption("starting…")
            return
        try:
            lines = describe(manager.overview())
        except Exception as exc:  # the cluster went away: say so rather than fail the page
            st.warning(f"cannot reach the workers: {md_text(exc)}")
            return
        st.markdown("  \n".join(lines))
