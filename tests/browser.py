"""Real-browser test harness: a `streamlit run` server and Debian's Chromium via Playwright.

Used by the pytest fixtures in conftest.py; usable directly for ad-hoc checks:

    with streamlit_server("tests/e2e_apps/live_chart_demo.py") as url:
        ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_PATH = "/usr/bin/chromium"
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
REQUIRE_ENV = "OPTLAB_REQUIRE_BROWSER"


def browser_missing_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM_PATH).exists():
        return f"{CHROMIUM_PATH} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def browser_required() -> bool:
    """OPTLAB_REQUIRE_BROWSER=1 turns a missing browser into a failure, not a skip."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group; kill it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def streamlit_server(
    app_path: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Run `streamlit run app_path` on a free port; yield its base URL until exit.

    `env` is added to this process's environment (OPTLAB_HOME and friends); the repo
    root goes first on PYTHONPATH so the app imports this checkout's optlab.
    """
    app = Path(app_path)
    if not app.is_absolute():
        app = REPO_ROOT / app
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-4000:]
                    state = (
                        f"exited with {proc.returncode}"
                        if proc.poll() is not None
                        else (f"not healthy after {timeout:.0f} s")
                    )
                    raise RuntimeError(f"streamlit server for {app} {state}:\n{tail}")
                time.sleep(0.2)
            yield url
        finally:
            _stop(proc)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, no network side traffic."""
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)


@dataclass
class WebSocketLog:
    """Sizes of websocket frames the page received (Streamlit's ForwardMsgs).

    With `marker`, `marked[i]` says whether frame i contained those bytes.
    """

    marker: bytes | None = None
    received: list[int] = field(default_factory=list)
    marked: list[bool] = field(default_factory=list)

    def attach(self, page: Any) -> WebSocketLog:
        def on_frame(payload: str | bytes) -> None:
            data = payload.encode() if isinstance(payload, str) else payload
            self.received.append(len(data))
            self.marked.append(self.marker is not None and self.marker in data)

        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        return self

    def mark(self) -> int:
        """An index to measure frames received from now on."""
        return len(self.received)

    def max_since(self, mark: int, *, marked: bool | None = None) -> int:
        """The largest frame since `mark`; only (un)marked ones if `marked` is given."""
        sizes = [
            size
            for size, m in zip(self.received[mark:], self.marked[mark:], strict=True)
            if marked is None or m == marked
        ]
        return max(sizes, default=0)


def wait_until(page: Any, cond: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``cond`` while Playwright processes the page's events (URL changes…); return
    its first true value, or fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(200)


# ---------------------------------------------------------------- computed colours

#: `(el) => {ink, bg, ...}`: the RGB (0-255) that `el`'s text and its background end up
#: as on screen (every ancestor's background and opacity composited, the canvas white),
#: its text taken from -webkit-text-fill-color (what an input's value is painted with),
#: and its border style, border colour and cursor.
PAINT_JS = """(el) => {
    const rgba = (s) => {
        const m = (s.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number);
        return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
    };
    const over = (top, base) => top.slice(0, 3).map((c, i) => c * top[3] + base[i] * (1 - top[3]));
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    const paint = (i, base, ink) => {
        const s = getComputedStyle(chain[i]);
        const b = over(rgba(s.backgroundColor), base);
        const inner = i === chain.length - 1 ? (ink ? over(ink, b) : b) : paint(i + 1, b, ink);
        const o = Number(s.opacity);
        return inner.map((c, k) => c * o + base[k] * (1 - o));
    };
    const s = getComputedStyle(el);
    const white = [255, 255, 255];
    return {
        ink: paint(0, white, rgba(s.webkitTextFillColor || s.color)),
        bg: paint(0, white, null),
        border: s.borderTopStyle + ' ' + s.borderTopColor,
        cursor: s.cursor,
        weight: s.fontWeight,
    };
}"""


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255 each)."""

    def luminance(rgb: list[float]) -> float:
        lin = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in rgb)
        ]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


#: every Plotly chart's colour bar on the page: its title text, the title's box, whether
#: it is drawn upright (not turned), its tick labels' boxes and the chart's SVG box
#: ([left, top, right, bottom] in the viewport)
COLORBARS_JS = """() => {
    const box = (el) => {
        const b = el.getBoundingClientRect();
        return [b.left, b.top, b.right, b.bottom];
    };
    return [...document.querySelectorAll('.js-plotly-plot')].flatMap((gd) =>
        [...gd.querySelectorAll('.colorbar')].map((bar) => {
            const title = bar.querySelector('.cbtitle text');
            return {
                text: title ? title.textContent : null,
                title: title ? box(title) : null,
                upright: !!title && ![title, title.parentElement].some(
                    (e) => /rotate[(] *-?[1-9]/.test(e.getAttribute('transform') || '')),
                ticks: [...bar.querySelectorAll('.cbaxis text')].map(box),
                svg: box(gd.querySelector('.main-svg')),
            };
        }));
}"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _colorbar_titles(page: Any) -> list[dict[str, Any]]:
    bars: list[dict[str, Any]] = page.evaluate(COLORBARS_JS)
    assert bars, "no colour bar on the page"
    for bar in bars:
        title, svg = bar["title"], bar["svg"]
        assert bar["text"] and title is not None, bar
        assert bar["upright"], ("a turned title (reads sideways, by the edge)", bar)
        assert title[2] - title[0] > 0 and title[3] - title[1] > 0, bar
        assert svg[0] <= title[0] and title[2] <= svg[2], ("title outside the SVG", bar)
        assert svg[1] <= title[1] and title[3] <= svg[3], ("title outside the SVG", bar)
        assert bar["ticks"] and not any(_overlap(title, t) for t in bar["ticks"]), bar
    return bars


def check_colorbar_titles(page: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every colour bar on the page has its title drawn upright, whole inside its chart's
    SVG and clear of its tick labels (AssertionError otherwise); the bars found.  Polled
    for up to ``timeout`` seconds: Plotly may still be laying a bar out after a rerun."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _colorbar_titles(page)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.wait_for_timeout(250)
