"""A per-browser client id: whose experiments these are, and whose limits apply.

The id lives in a cookie, so a refresh and a second tab of the same browser are the
same client (their own history, their own per-client limits on a shared server),
while another student's browser is another client.  A shared link carries only the
experiment id, never the client id.  The cookie is set by a tiny components-v2
element (Streamlit reads cookies but cannot set them) and read back through
``st.context.cookies`` on the next page load; until then the session remembers it.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

COOKIE = "optlab_client"
_STATE = "optlab:client"
_VALID = re.compile(r"^[0-9a-f]{16}$")

_JS = f"""
export default function (component) {{
  const id = component.data && component.data.id;
  if (id && !document.cookie.split("; ").includes("{COOKIE}=" + id)) {{
    document.cookie = "{COOKIE}=" + id + "; path=/; max-age=31536000; SameSite=Lax";
  }}
}}
"""

_setter = st.components.v2.component("optlab.client_cookie", js=_JS)


def _from_cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser context (AppTest, bare mode)
        return None
    return value if isinstance(value, str) and _VALID.match(value) else None


def client_id() -> str:
    """This browser's id (created on its first visit)."""
    cid = st.session_state.get(_STATE)
    if cid is None:
        cid = _from_cookie() or secrets.token_hex(8)
        st.session_state[_STATE] = cid
    return str(cid)


def remember() -> None:
    """Make sure the browser keeps the id in its cookie (cheap; call once per page run)."""
    cid = client_id()
    if _from_cookie() != cid:
        _setter(key="optlab_client_cookie", data={"id": cid}, height=0)
