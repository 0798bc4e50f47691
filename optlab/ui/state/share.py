"""The URL holds what is on screen, so a link opens the same view on another machine.

``?exp=<id>`` names a stored experiment; ``?s=<...>`` carries an unsaved form (the
draft spec, JSON → zlib → URL-safe base64, a few hundred characters).  A link is
outside input: :func:`read_form` inflates at most ``OPTLAB_MAX_SPEC_BYTES`` (a
zip bomb stops there) and hands the text to the spec gate, and the page validates
the result in full before it becomes the form (:mod:`optlab.ui.state.page_state`).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any
from urllib.parse import urlencode

from optlab.settings import max_spec_bytes
from optlab.spec import SpecError, check_raw

EXP_PARAM = "exp"
FORM_PARAM = "s"
MAX_FORM_CHARS = 16_000


def encode_form(draft: dict[str, Any]) -> str:
    raw = json.dumps(draft, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


UNREADABLE = "the link's form settings could not be read (a cut or mangled link?)"


def form_bytes(text: str) -> bytes:
    """The JSON text a ``?s=`` value carries; :class:`SpecError` when it is not one.

    At most ``OPTLAB_MAX_SPEC_BYTES`` are inflated: a small link that would inflate
    to gigabytes is refused after that many.
    """
    if not text or len(text) > MAX_FORM_CHARS:
        raise SpecError([("", UNREADABLE if text else "the link carries no form")])
    limit = max_spec_bytes()
    try:
        padded = text + "=" * (-len(text) % 4)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.urlsafe_b64decode(padded.encode("ascii")), limit + 1)
    except (binascii.Error, zlib.error, ValueError, UnicodeError):
        raise SpecError([("", UNREADABLE)]) from None
    if len(raw) > limit or inflate.unconsumed_tail:
        raise SpecError(
            [("", f"the link's form inflates to more than {limit:,} bytes (OPTLAB_MAX_SPEC_BYTES)")]
        )
    if not inflate.eof:
        raise SpecError([("", UNREADABLE)])
    return raw


def read_form(text: str) -> dict[str, Any]:
    """The form a ``?s=`` value carries, through the spec gate (sizes, depth, finite
    numbers); :class:`SpecError` with the reasons otherwise.  Not validated yet."""
    return check_raw(form_bytes(text))


def decode_form(text: str) -> dict[str, Any] | None:
    """The draft in a ``?s=`` value, or None when it is not one (a mangled link)."""
    try:
        return read_form(text)
    except SpecError:
        return None


def share_query(
    *,
    exp_id: str | None = None,
    draft: dict[str, Any] | None = None,
    flags: dict[str, str] | None = None,
) -> str:
    """The query string of a share link: the stored experiment if any, else the form,
    then the view ``flags`` (``optlab.ui.state.view``: presenter mode, hidden controls)."""
    query: dict[str, str] = {}
    if exp_id:
        query[EXP_PARAM] = exp_id
    elif draft is not None:
        query[FORM_PARAM] = encode_form(draft)
    if not query:
        return ""
    return urlencode({**query, **(flags or {})})
