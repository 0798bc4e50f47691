"""Probe a running dashboard: /_stcore/health says ok, and a real browser renders the app.

Used by CI after `make run` to prove the README's run command serves the dashboard.
Usage: python scripts/probe.py http://127.0.0.1:8501 [--timeout 300]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"probe: {url} did not become healthy within {timeout:.0f} s")
        time.sleep(1)


def page_renders(url: str, text: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        expect(page.get_by_text(text).filter(visible=True).first).to_be_visible(timeout=60_000)
        if page.locator("[data-testid='stException']").count():
            sys.exit("probe: the page shows a Python exception")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--text", default="Runs", help="text the rendered page must show")
    parser.add_argument("--health-only", action="store_true")
    args = parser.parse_args()
    wait_healthy(args.url, args.timeout)
    print(f"probe: {args.url}/_stcore/health ok")
    if not args.health_only:
        page_renders(args.url, args.text)
        print(f"probe: the page rendered and shows {args.text!r}")


if __name__ == "__main__":
    main()
