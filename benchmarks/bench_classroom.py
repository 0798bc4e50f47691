"""Classroom benchmark: the player's frame rate in a real Chromium, and reruns while playing.

Serves ``tests/e2e_apps/player_demo.py`` (6 finished runs x 1,000 steps on the real
Rosenbrock contour image, plus a loss chart with the cursor) and plays it:

- frames/s: how many times per second the player redraws the six paths and
  current points (on its canvas over the contour, one redraw per animation frame
  whose step changed), over ``--seconds`` of play at each speed (less at high
  speeds, to stop before the end); also the mean and 95th-percentile time of one
  redraw (aim: >= 30 frames/s);
- reruns: Streamlit script runs of the session (the demo counts them) and websocket
  messages the browser sent while playing (aim: 0 and 0).

Run: ``python benchmarks/bench_classroom.py [--seconds 5] [--speeds 1,10]``.
Headless Chromium paces requestAnimationFrame at about 60 Hz, the ceiling here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import launch_chromium, streamlit_server

APP = "tests/e2e_apps/player_demo.py"
INSTRUMENT = "() => { window.__optlabPlayer.log = []; }"


def script_runs(page: Any) -> int:
    import re

    text = page.get_by_text(re.compile(r"script runs: \d+")).inner_text()
    return int(text.split(":")[1])


def play(page: Any, speed: str, seconds: float, sent: list[int]) -> dict[str, float]:
    page.get_by_label("speed").select_option(speed)
    page.keyboard.press("Home")
    page.evaluate(INSTRUMENT)
    runs0, sent0 = script_runs(page), len(sent)
    page.keyboard.press(" ")
    page.wait_for_timeout(int(seconds * 1000))
    if page.locator("[data-testid='optlab-player']").get_attribute("data-playing") == "1":
        page.keyboard.press(" ")
    draws = page.evaluate("() => window.__optlabPlayer.log")
    step = int(page.locator("[data-testid='optlab-player-step']").get_attribute("data-step") or 0)
    page.wait_for_timeout(300)
    times = [d[0] for d in draws]
    span = (times[-1] - times[0]) / 1000 if len(times) > 1 else float("nan")
    cost = sorted(d[1] for d in draws)
    return {
        "fps": (len(times) - 1) / span if span == span and span > 0 else 0.0,
        "draw_ms_mean": statistics.fmean(cost) if cost else float("nan"),
        "draw_ms_p95": cost[int(0.95 * (len(cost) - 1))] if cost else float("nan"),
        "steps_shown": step,
        "reruns": script_runs(page) - runs0,
        "messages_sent": len(sent) - sent0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--speeds", default="1,10")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    env = {"PLAYER_DEMO_RUNS": "6", "PLAYER_DEMO_STEPS": "1000"}
    with streamlit_server(APP, env) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sent: list[int] = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(len(p))))
        page.goto(url)
        expect(page.locator("[data-testid='optlab-player-step']")).to_have_attribute(
            "data-step", "999", timeout=120_000
        )
        page.wait_for_timeout(1000)
        print(f"player: 6 runs x 1,000 steps on the Rosenbrock contour, {args.seconds:g} s each")
        worst = float("inf")
        for speed in args.speeds.split(","):
            # stop before the end: at 10x 1,000 steps take only 1 s
            r = play(page, speed, min(args.seconds, 900 / (100 * float(speed))), sent)
            worst = min(worst, r["fps"])
            print(
                f"  {speed:>4}x: {r['fps']:5.1f} frames/s, redraw {r['draw_ms_mean']:.1f} ms mean"
                f" / {r['draw_ms_p95']:.1f} ms p95, reached step {r['steps_shown']}, "
                f"Streamlit reruns {r['reruns']}, messages sent {r['messages_sent']}"
            )
        browser.close()
    print(f"worst frame rate {worst:.1f} frames/s (aim >= 30)")


if __name__ == "__main__":
    main()
