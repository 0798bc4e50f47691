"""The URL holds what is on screen, so a link opens the same view on another machine.

``?exp=<id>`` names a stored experiment; ``?s=<...>`` carries an unsaved form (the
draft spec, JSON → zlib → URL-safe base64, a few hundred characters).  The decoded
draft still goes through the normal spec validation before anything runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any
from urllib.parse import urlencode

EXP_PARAM = "exp"
FORM_PARAM = "s"
MAX_FORM_CHARS = 16_000


def encode_form(draft: dict[str, Any]) -> str:
    raw = json.dumps(draft, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode_form(text: str) -> dict[str, Any] | None:
    """The draft in a ``?s=`` value, or None when it is not one (a mangled link)."""
    if not text or len(text) > MAX_FORM_CHARS:
        return None
    try:
        padded = text + "=" * (-len(text) % 4)
        raw = zlib.decompress(base64.urlsafe_b64decode(padded.encode()), bufsize=1 << 16)
        value = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def share_query(*, exp_id: str | None = None, draft: dict[str, Any] | None = None) -> str:
    """The query string of a share link: the stored experiment if any, else the form."""
    if exp_id:
        return urlencode({EXP_PARAM: exp_id})
    if draft is not None:
        return urlencode({FORM_PARAM: encode_form(draft)})
    return ""
