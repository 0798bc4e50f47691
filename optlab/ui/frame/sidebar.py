"""The sidebar of the Surfaces and Training pages: presets, share link, downloads, upload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from optlab.spec import SpecError, parse_spec
from optlab.spec_guard import quote
from optlab.ui import presets
from optlab.ui.frame import exports
from optlab.ui.frame.teach import script_or_reason
from optlab.ui.services import store
from optlab.ui.state import share, view
from optlab.ui.state.draft import clean
from optlab.ui.state.page_state import refusal


def presets_section(page: str, load: Callable[[dict[str, Any]], None]) -> None:
    st.subheader("Presets")
    for p in presets.for_page(page):
        st.button(
            p.title,
            key=f"preset:{page}:{p.key}",
            help=p.blurb,
            width="stretch",
            on_click=load,
            args=(p.spec,),
        )


def _base_url() -> str:
    try:
        url = str(st.context.url or "")
    except Exception:
        url = ""
    return url.split("?", 1)[0]


def share_section(
    *,
    draft: dict[str, Any],
    spec: Any,
    shown: str | None,
    shown_name: str = "",
) -> None:
    """The link that reopens this view, and the downloads."""
    st.subheader("Share & export")
    with st.popover("Share link", icon=":material/link:", width="stretch"):
        st.caption("This link opens the same view on any machine that reaches this server:")
        students = st.checkbox(
            "Students' link: hide the editor", key="optlab:share:students",
            help="the link gets ?controls=0: the charts only, no form to change",
        )  # fmt: skip
        presenter = st.checkbox(
            "In presenter mode", key="optlab:share:present", help="the link gets ?present=1"
        )
        flags = view.share_flags(present=presenter, hide_controls=students)
        look = view.kept().get(view.THEME)
        query = share.share_query(
            exp_id=shown,
            draft=None if shown else clean(draft),
            flags={**flags, **({view.THEME: look} if look else {})},
        )
        st.code(f"{_base_url()}?{query}", language=None, wrap_lines=True)
    spec_dict = spec.to_dict() if spec is not None else clean(draft)
    stem = exports.file_stem(spec_dict.get("name") or shown_name, shown or "experiment")
    st.download_button(
        "Spec (JSON)",
        exports.spec_bytes(spec_dict),
        file_name=f"{stem}.spec.json",
        mime="application/json",
        width="stretch",
        icon=":material/download:",
    )
    if spec is not None:
        script, reason = script_or_reason(spec)
        st.download_button(
            "PyTorch script (.py)",
            script or "",
            file_name=f"{stem}.py",
            mime="text/x-python",
            width="stretch",
            disabled=script is None,
            help=reason,
            icon=":material/download:",
        )
    if shown:
        st.download_button(
            "Results (JSON)",
            lambda: exports.results_json_bytes(store(), shown),
            file_name=f"{stem}.result.json",
            mime="application/json",
            width="stretch",
            icon=":material/download:",
        )
        st.download_button(
            "Results (CSV, zip)",
            lambda: exports.results_csv_zip(store(), shown),
            file_name=f"{stem}.csv.zip",
            mime="application/zip",
            width="stretch",
            icon=":material/download:",
        )


def upload_section(page: str, load: Callable[[dict[str, Any]], None]) -> None:
    """Load a spec JSON into the form (validated first; errors listed, nothing loaded)."""
    uploaded = st.file_uploader("Open a spec (JSON)", type=["json"], key=f"upload:{page}")
    if uploaded is None:
        return
    marker = f"optlab:uploaded:{page}"
    ident = (uploaded.name, uploaded.size, getattr(uploaded, "file_id", ""))
    if st.session_state.get(marker) == ident:
        return
    st.session_state[marker] = ident
    try:  # the gate (size, UTF-8, depth, counts) and the full validation, as on the CLI
        spec = parse_spec(uploaded.getvalue())
    except SpecError as exc:
        st.error(refusal(f"{quote(uploaded.name)} is not a valid spec; it", exc.errors))
        return
    load(spec.to_dict())
    st.rerun()


def open_page(
    page: str, default: dict[str, Any], load: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """What every experiment page does first: style, client id, warm workers, the draft
    from the URL, the presets in the sidebar and any pending notice.  Returns the draft."""
    from optlab.ui import theme
    from optlab.ui.services import warm_up
    from optlab.ui.state import client, page_state

    st.html(theme.PAGE_CSS)
    client.remember()
    warm_up()
    draft = page_state.from_url(page, default)
    with st.sidebar:
        presets_section(page, load)
    note = page_state.pop_notice(page)
    if note:
        st.info(note)
    return draft
