"""Hostile links and uploads in a real Chromium against `streamlit run app.py` (issue 14, 3-4).

Each link must end in a drawn page with a notice that names what was refused and no
exception element; each oversized or junk upload must be refused the same way.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.test_ui_hostile import BASE, HOSTILE_LINKS, link

pytestmark = pytest.mark.browser

EXCEPTION = "[data-testid='stException']"


def hostile_links() -> dict[str, str]:
    links = {name: link(value) for name, value in HOSTILE_LINKS.items()}
    runs = [{"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.01}} for i in range(2000)]
    links["2,000 runs"] = link({**BASE, "runs": runs})
    links["a zip bomb"] = base64.urlsafe_b64encode(zlib.compress(b"[" * 12_000_000, 9)).decode()
    links["not base64"] = "%%%not-a-form%%%"
    links["a cut link"] = link(BASE)[:40]
    return links


def wait_for_text(page: Any, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while page.get_by_text(text).count() == 0:
        assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {text!r}")
        page.wait_for_timeout(100)


def test_hostile_links_end_in_a_notice_never_a_traceback(dashboard_url: str, page: Any) -> None:
    from playwright.sync_api import expect

    for name, value in hostile_links().items():
        start = time.monotonic()
        page.goto(f"{dashboard_url}/?s={value}")
        wait_for_text(page, "could not be loaded", 60)
        expect(page.get_by_role("button", name="Run").first).to_be_visible(timeout=30_000)
        expect(page.get_by_label("label").first).to_have_value("SGD-momentum", timeout=30_000)
        assert page.locator(EXCEPTION).count() == 0, name
        assert time.monotonic() - start < 60, name


def test_junk_and_oversized_uploads_are_refused(
    dashboard_url: str, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(dashboard_url)
    wait_for_text(page, "Open a spec (JSON)", 60)
    junk = tmp_path / "junk.json"
    junk.write_bytes(bytes(range(256)) * 64)
    page.locator("input[type=file]").set_input_files(str(junk))
    wait_for_text(page, "not UTF-8 text", 30)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    page.locator("input[type=file]").set_input_files(str(deep))
    wait_for_text(page, "nested more than 32 levels deep", 30)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({**BASE, "name": "x" * 2_000_000}))
    page.locator("input[type=file]").set_input_files(str(big))
    wait_for_text(page, "1.0MB or smaller", 30)  # Streamlit's own limit (maxUploadSize)
    assert page.locator(EXCEPTION).count() == 0
    expect(page.get_by_label("label").first).to_have_value("SGD-momentum")
