"""History: stored experiments (from the dashboard and the CLI): open, compare, rename,
delete, resume, export.

"Mine" lists this browser's experiments plus those run from the command line;
"Everyone's" lists all of the server's.  ``?cmp=<id>,<id>`` reopens a comparison.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from optlab.engine.records import ACTIVE_STATUSES
from optlab.ui import theme
from optlab.ui.frame import exports
from optlab.ui.frame.teach import script_or_reason
from optlab.ui.live.compare import compare_view
from optlab.ui.markdown_text import md_text
from optlab.ui.services import manager, store
from optlab.ui.state import client, navigation, page_state

PAGE = "history"
CMP_PARAM = "cmp"
_CMP = "optlab:history:compare"


def _rows(scope: str) -> list[dict[str, Any]]:
    mine = client.client_id()
    out = []
    for exp in store().list_experiments():
        if scope == "mine" and exp.get("client") != mine and exp.get("source") == "ui":
            continue
        out.append(exp)
    return out


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "name": r.get("name") or "(unnamed)",
                "id": r["id"],
                "problem": (r["spec"].get("problem") or {}).get("name", "?"),
                "runs": ", ".join(run.get("label", "") for run in r["spec"].get("runs", [])),
                "kind": r.get("kind") or "experiment",
                "status": r["status"],
                "created": dt.datetime.fromtimestamp(r["created"]),
                "from": "CLI" if r.get("source") == "cli" else "dashboard",
            }
            for r in rows
        ]
    )


def _open(exp: dict[str, Any]) -> None:
    target = page_state.page_for(exp["spec"])
    if not navigation.go(target, {"exp": exp["id"]}):
        st.info(f"Open it on the {target.title()} page with ?exp={exp['id']}.")


def _actions(exp: dict[str, Any]) -> None:
    """Buttons and downloads for one selected experiment."""
    exp_id = exp["id"]
    row = st.container(horizontal=True)
    if row.button("Open", type="primary", icon=":material/open_in_new:", key="history:open"):
        _open(exp)
    if exp["status"] == "interrupted" and row.button(
        "Resume", icon=":material/play_arrow:", key="history:resume"
    ):
        try:
            manager().resume(exp_id)
            st.toast(f"Resuming {exp_id} from its last checkpoint.")
        except Exception as exc:
            st.warning(f"Could not resume: {md_text(exc)}")
    with row.popover("Rename", icon=":material/edit:"):
        name = st.text_input("new name", value=exp.get("name") or "", key=f"history:name:{exp_id}")
        if st.button("Save name", key="history:rename"):
            store().rename(exp_id, name.strip())
            st.rerun()
    with row.popover("Delete", icon=":material/delete:"):
        active = exp["status"] in ACTIVE_STATUSES
        st.write("Delete this experiment and all its records? This cannot be undone.")
        if active:
            st.caption("It is still running: it is cancelled first.")
        if st.button("Delete for good", type="primary", key="history:delete"):
            if active:
                manager().cancel(exp_id)
            store().delete(exp_id)
            st.rerun()
    stem = exports.file_stem(exp.get("name") or "", exp_id)
    row.download_button(
        "Results JSON",
        lambda: exports.results_json_bytes(store(), exp_id),
        file_name=f"{stem}.result.json",
        mime="application/json",
        icon=":material/download:",
        key="history:json",
    )
    row.download_button(
        "Results CSV",
        lambda: exports.results_csv_zip(store(), exp_id),
        file_name=f"{stem}.csv.zip",
        mime="application/zip",
        icon=":material/download:",
        key="history:csv",
    )
    row.download_button(
        "Spec",
        exports.spec_bytes(exp["spec"]),
        file_name=f"{stem}.spec.json",
        mime="application/json",
        icon=":material/download:",
        key="history:spec",
    )
    from optlab.spec import SpecError, parse_spec

    try:
        script, reason = script_or_reason(parse_spec(exp["spec"]))
    except SpecError as exc:
        script, reason = None, str(exc)
    row.download_button(
        "Script",
        script or "",
        file_name=f"{stem}.py",
        mime="text/x-python",
        disabled=script is None,
        help=reason,
        icon=":material/download:",
        key="history:py",
    )


def _compare_ids() -> list[str]:
    raw = st.query_params.get(CMP_PARAM, "")
    ids = [p for p in str(raw).split(",") if p]
    return ids if len(ids) == 2 else list(st.session_state.get(_CMP) or [])


def render() -> None:
    st.html(theme.PAGE_CSS)
    client.remember()
    st.markdown("### Stored experiments")
    scope = st.segmented_control(
        "Show",
        ["mine", "everyone"],
        default="mine",
        key="history:scope",
        format_func=lambda s: (
            "Mine (and the CLI's)" if s == "mine" else "Everyone's on this server"
        ),
    )
    rows = _rows(scope or "mine")
    if not rows:
        st.info(
            "No experiments yet: run one on the Surfaces or Training page, or with `optlab run`."
        )
        return
    st.dataframe(
        _frame(rows),
        hide_index=True,
        width="stretch",
        column_config={"created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
    by_id = {r["id"]: r for r in rows}
    chosen = st.multiselect(
        "Select experiments",
        list(by_id),
        key="history:pick",
        max_selections=2,
        format_func=lambda i: f"{by_id[i].get('name') or '(unnamed)'} · {i}",
        placeholder="pick one to open, rename, delete or export; two to compare",
    )
    picked = [by_id[i] for i in chosen if i in by_id]
    if len(picked) == 1:
        _actions(picked[0])
    elif len(picked) == 2 and st.button(
        "Compare these two", type="primary", icon=":material/compare_arrows:"
    ):
        ids = [picked[0]["id"], picked[1]["id"]]
        st.session_state[_CMP] = ids
        st.query_params[CMP_PARAM] = ",".join(ids)
    ids = _compare_ids()
    known = {r["id"] for r in store().list_experiments()}
    if len(ids) == 2 and all(i in known for i in ids):
        st.divider()
        st.markdown("### Comparison")
        compare_view(ids[0], ids[1])
