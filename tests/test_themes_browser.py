"""Disabled widgets in a real Chromium (tests/e2e_apps/widgets_demo.py), in each theme.

A locked field's value stays readable (WCAG contrast of its painted ink against its
painted background 4.5:1 or more, computed from the browser's computed colours) yet
clearly dimmer than an enabled field's, its box dashed; a disabled button looks
disabled (dashed border, muted label, not-allowed cursor) and its label still reads; so
does a locked field's own label.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import PAINT_JS, contrast

pytestmark = pytest.mark.browser

APP = "tests/e2e_apps/widgets_demo.py"
FIELDS = {
    "text": ".stTextInput input",
    "number": ".stNumberInput input",
    "select": ".stSelectbox input",
    "area": ".stTextArea textarea",
}
#: the element drawing a field's frame: the first ancestor with a border
_FRAME = """(el) => {
    for (let e = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (parseFloat(s.borderTopWidth) > 0) return s.borderTopStyle;
    }
    return null;
}"""


def _paint(page: Any, selector: str) -> dict[str, Any]:
    loc = page.locator(selector)
    return {**loc.evaluate(PAINT_JS), "frame": loc.evaluate(_FRAME)}


@pytest.mark.parametrize("look", ["light", "dark", "projector"])
def test_disabled_fields_and_buttons_read_and_look_disabled(
    streamlit_app: Any, chromium: Any, look: str
) -> None:
    from playwright.sync_api import expect

    url = streamlit_app(APP)
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{url}/?theme={look}")
        expect(page.locator(".st-key-demo-off [data-testid^=stBaseButton]")).to_be_disabled(
            timeout=60_000
        )
        page.wait_for_timeout(500)  # the theme's style block
        for i, (kind, selector) in enumerate(FIELDS.items()):
            on = _paint(page, f".st-key-demo-on {selector}")
            off = _paint(page, f".st-key-demo-off {selector}")
            assert page.locator(f".st-key-demo-off {selector}").is_disabled()
            c_on, c_off = contrast(on["ink"], on["bg"]), contrast(off["ink"], off["bg"])
            assert c_off >= 4.5, (kind, look, c_off, off)
            assert c_off <= 0.75 * c_on, (kind, look, c_off, c_on)  # clearly dimmer
            assert (on["frame"], off["frame"]) == ("solid", "dashed"), (kind, on, off)
            assert off["cursor"] == "not-allowed", (kind, off)
            label = _paint(page, f".st-key-demo-off [data-testid=stWidgetLabel] p >> nth={i}")
            assert contrast(label["ink"], label["bg"]) >= 4.5, (kind, look, label)
        button = "[data-testid^=stBaseButton]"
        on = _paint(page, f".st-key-demo-on {button}")
        off = _paint(page, f".st-key-demo-off {button}")
        label_on = _paint(page, f".st-key-demo-on {button} p")
        label_off = _paint(page, f".st-key-demo-off {button} p")
        assert on["border"].startswith("solid") and off["border"].startswith("dashed"), (on, off)
        assert (on["cursor"], off["cursor"]) == ("pointer", "not-allowed")
        c_on = contrast(label_on["ink"], label_on["bg"])
        c_off = contrast(label_off["ink"], label_off["bg"])
        assert 4.5 <= c_off <= 0.75 * c_on, (look, c_off, c_on)
    finally:
        context.close()
