"""AppTest: presenter mode and students' links on the Surfaces and Training pages.

``?present=1`` (or the toggle) hides the editor, the teach panel and the sidebar; the
URL keeps the flag with the form.  ``?controls=0`` hides the editor only.  The share
link carries these flags and nothing else new: its form still goes through the gate.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest

from optlab.spec import parse_spec
from optlab.ui.state import share


def query(at: Any, key: str) -> str:
    value = at.query_params[key]
    return value[0] if isinstance(value, list) else value


def editor_labels(at: Any) -> list[str]:
    return [t.value for t in at.text_input if t.label == "label"]


@pytest.mark.parametrize("page", ["surfaces", "training"])
def test_present_hides_the_editor_and_keeps_the_form(ui_page: Any, page: str) -> None:
    plain = ui_page(page)
    assert not plain.exception
    assert editor_labels(plain), "the editor is shown by default"
    link = query(plain, share.FORM_PARAM)

    at = ui_page(page, query={share.FORM_PARAM: link, "present": "1"})
    assert not at.exception
    assert editor_labels(at) == []  # no run cards
    assert not [n for n in at.number_input if n.label == "lr (exact)"]
    assert [b for b in at.button if b.label == "Run"], "the presenter can still run"
    assert not [c for c in at.code if "import torch" in c.value]  # no teach panel
    assert any('[data-testid="stSidebar"]' in h.proto.body for h in at.get("html"))
    assert query(at, "present") == "1"
    same = [share.decode_form(x) for x in (query(at, share.FORM_PARAM), link)]
    assert parse_spec(same[0]).to_dict() == parse_spec(same[1]).to_dict()

    toggle = next(t for t in at.toggle if t.label == "Presenter mode")
    assert toggle.value is True
    toggle.set_value(False).run()
    assert not at.exception
    assert editor_labels(at), "turning presenter mode off brings the editor back"
    assert "present" not in at.query_params


def test_students_link_hides_the_controls_only(ui_page: Any) -> None:
    at = ui_page("surfaces", query={"controls": "0", "theme": "dark"})
    assert not at.exception
    assert editor_labels(at) == []
    assert query(at, "controls") == "0" and query(at, "theme") == "dark"
    toggle = next(t for t in at.toggle if t.label == "Presenter mode")
    assert toggle.value is False


def test_share_link_carries_the_view_flags(ui_page: Any) -> None:
    at = ui_page("surfaces")
    next(c for c in at.checkbox if c.label.startswith("Students' link")).check().run()
    next(c for c in at.checkbox if c.label == "In presenter mode").check().run()
    links = [c.value for c in at.code if "?s=" in c.value]
    assert links, "the share popover shows a link"
    params = parse_qs(links[0].split("?", 1)[1])
    assert params["controls"] == ["0"] and params["present"] == ["1"]
    assert share.decode_form(params[share.FORM_PARAM][0]) is not None


@pytest.mark.parametrize("value", ["2", "<script>", "1;rm -rf /", "%00"])
def test_odd_view_flags_are_ignored(ui_page: Any, value: str) -> None:
    at = ui_page("surfaces", query={"present": value, "controls": value, "theme": value})
    assert not at.exception
    assert editor_labels(at), "only present=1 / controls=0 hide the editor"
    for key in ("present", "controls", "theme"):
        assert key not in at.query_params


def test_share_query_flags() -> None:
    q = share.share_query(exp_id="abc", flags={"controls": "0"})
    assert parse_qs(q) == {"exp": ["abc"], "controls": ["0"]}
    assert share.share_query() == ""
