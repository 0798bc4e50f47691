"""Shared pytest fixtures."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests import browser as browser_harness

# ---------------------------------------------------------------- real browser


def _require_browser() -> None:
    """Skip (or, with OPTLAB_REQUIRE_BROWSER=1, fail) when no browser can run."""
    reason = browser_harness.browser_missing_reason()
    if reason is None:
        return
    if browser_harness.browser_required():
        pytest.fail(f"browser tests required ({browser_harness.REQUIRE_ENV}=1) but {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session (Playwright sync API)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = browser_harness.launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh page in its own browser context."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


StreamlitAppFactory = Callable[..., str]


@pytest.fixture(scope="session")
def streamlit_app() -> Iterator[StreamlitAppFactory]:
    """Factory: `streamlit_app(app_path, env={...})` -> base URL of a running server.

    Servers are shared per (app, env) for the session and stopped at its end.
    """
    _require_browser()
    servers: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    with contextlib.ExitStack() as stack:

        def start(app_path: str | Path, env: Mapping[str, str] | None = None) -> str:
            cache_key = (str(app_path), tuple(sorted((env or {}).items())))
            if cache_key not in servers:
                servers[cache_key] = stack.enter_context(
                    browser_harness.streamlit_server(app_path, env)
                )
            return servers[cache_key]

        yield start


# ---------------------------------------------------------------- dashboard (AppTest)


def _reset_dashboard() -> None:
    """Stop the job manager and clear Streamlit's caches (shared by AppTests in a process)."""
    import streamlit as st

    from optlab.jobs import manager as jobs
    from optlab.ui import services as ui_manager

    jobs.shutdown_manager()
    st.cache_resource.clear()
    st.cache_data.clear()
    ui_manager._WARM.set()  # no background warm-up: a test that runs experiments starts it


@pytest.fixture
def ui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh OPTLAB_HOME for a dashboard test; manager and caches start clean."""
    monkeypatch.setenv("OPTLAB_HOME", str(tmp_path))
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    _reset_dashboard()
    yield tmp_path
    _reset_dashboard()


@pytest.fixture
def ui_page(ui_home: Path) -> Callable[..., Any]:
    """Factory: ``ui_page("surfaces", query={"exp": ...})`` -> a run AppTest of that page."""
    from streamlit.testing.v1 import AppTest

    def make(name: str, query: Mapping[str, str] | None = None, timeout: float = 60) -> Any:
        script = f"from optlab.ui.pages import {name}\n{name}.render()\n"
        at = AppTest.from_string(script, default_timeout=timeout)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        return at.run()

    return make


@pytest.fixture(scope="session")
def dashboard_url(
    streamlit_app: StreamlitAppFactory, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A real `streamlit run app.py` with its own OPTLAB_HOME, shared by the session."""
    home = tmp_path_factory.mktemp("optlab_home")
    return streamlit_app("app.py", env={"OPTLAB_HOME": str(home), "OPTLAB_WORKERS": "1"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests race a real server, worker and Chromium on 2 shared cores: a timing
    miss is retried twice (a real regression fails all three times)."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=2))
