"""What a Markdown source shows as text, for tests that read AppTest's markdown values.

CommonMark: a backslash before an ASCII punctuation character shows that character
literally.  Written here from the spec, not taken from optlab.
"""

from __future__ import annotations

import re
import string

_ESCAPED = re.compile("\\\\([" + re.escape(string.punctuation) + "])")
#: an image or link opener, or raw HTML, that a backslash does not neutralise
_ACTIVE = re.compile(r"(?<!\\)(!\[|\[[^\]]*\]\(|<[A-Za-z/!])")


def shown(markdown: str) -> str:
    """The text a Markdown source shows for its escaped punctuation."""
    return _ESCAPED.sub(r"\1", markdown)


def has_active_markup(markdown: str) -> bool:
    """True when the source still opens an image, a link or an HTML tag."""
    return bool(_ACTIVE.search(markdown))
