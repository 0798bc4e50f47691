"""User text inside Streamlit Markdown, shown as text.

Run labels and the error messages that quote what a user typed (or what a share link
carried) end up in ``st.markdown``/``st.error``, which render Markdown: a label like
``![](http://host/x.png)`` would make every viewer's browser fetch from that host (the
lecture hall is meant to be offline) and ``[click](…)`` would dress up a link.  Escaping
the characters that open links, images, autolinks and HTML (CommonMark lets any ASCII
punctuation be backslash-escaped) keeps the text literal while backticks and emphasis
in our own messages still render.
"""

from __future__ import annotations

#: what starts a link, an image, an autolink or raw HTML, and the escape itself
_SPECIAL = frozenset("\\[]!<>")


def md_text(text: object) -> str:
    """``text`` for a Markdown string, shown literally: one line, links/images/HTML inert."""
    out = []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        out.append("\\" + ch if ch in _SPECIAL else ch)
    return "".join(out)
