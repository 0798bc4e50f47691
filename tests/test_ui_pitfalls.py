"""AppTest: optlab check's pitfalls next to their fields, on the run cards (issue 12 §4)."""

from __future__ import annotations

from typing import Any

from optlab.ui.state import share

SPEC = {
    "problem": {"name": "quadratic"},
    "steps": 100,
    "runs": [
        {"label": "fast", "optimizer": {"name": "SGD", "lr": 2.5}},
        {"label": "Adam wd", "optimizer": {"name": "Adam", "lr": 0.1, "weight_decay": 0.1}},
        {"label": "fine", "optimizer": {"name": "SGD", "lr": 0.5}},
    ],
}


def test_warnings_sit_on_their_run_cards(ui_page: Any) -> None:
    at = ui_page("surfaces", query={share.FORM_PARAM: share.encode_form(SPEC)})
    assert not at.exception
    texts = [w.value for w in at.warning]
    assert any(t.startswith("**optimizer.lr**") and "stability limit" in t for t in texts)
    assert any(t.startswith("**optimizer.weight_decay**") and "AdamW" in t for t in texts)
    assert len([t for t in texts if t.startswith("**optimizer.")]) == 2
