"""AppTest with the real job manager and worker process: Run, stream, finish, reattach."""

from __future__ import annotations

import json
import time
from typing import Any

from optlab.ui.state import share


def _status(at: Any) -> str:
    return "\n".join(m.value for m in at.markdown if "optlab-status" in m.value)


def _wait_finished(at: Any, runs: int, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = _status(at)
        if status.count("finished") >= runs or time.monotonic() > deadline:
            return status
        time.sleep(0.3)
        at.run()  # AppTest runs fragments once per run(): this is one poll


def test_run_streams_to_the_end_and_a_second_tab_reattaches(ui_page: Any) -> None:
    at = ui_page("surfaces")
    next(n for n in at.number_input if n.label == "Steps").set_value(300).run()
    next(b for b in at.button if b.label == "Run").click().run(timeout=120)
    assert not at.exception
    exp_id = at.query_params[share.EXP_PARAM]
    exp_id = exp_id[0] if isinstance(exp_id, list) else exp_id
    assert share.FORM_PARAM not in at.query_params  # a stored experiment's link is ?exp= only
    status = _wait_finished(at, runs=2)
    assert status.count("finished") == 2, status
    at.run()  # the full rerun after the last poll: polling stopped, the player replays
    players = [
        json.loads(e.proto.json)["player"]
        for e in at.get("bidi_component")
        if json.loads(e.proto.json).get("player")
    ]
    assert len(players) == 1 and players[0]["live"] is False and players[0]["total"] == 300
    assert not at.slider  # no second replay control next to the player

    # A refresh or a second tab: the same experiment, from the store.
    other = ui_page("surfaces", query={share.EXP_PARAM: exp_id})
    assert exp_id in "\n".join(m.value for m in other.markdown)
    assert _status(other).count("finished") == 2
    assert [t.value for t in other.text_input if t.label == "label"] == ["SGD-momentum", "Adam"]


def test_a_refused_submission_is_a_friendly_message(ui_page: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPTLAB_MAX_QUEUED_PER_CLIENT", "0")
    at = ui_page("surfaces")
    next(b for b in at.button if b.label == "Run").click().run(timeout=120)
    assert not at.exception
    text = "\n".join(w.value for w in at.warning)
    assert "Not started" in text and "OPTLAB_MAX_QUEUED_PER_CLIENT" in text
    assert share.EXP_PARAM not in at.query_params
