"""AppTest: the sidebar's Workers box (issue 11) — which executor runs the work, and where."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from optlab.jobs import manager as jobs

SCRIPT = "from optlab.ui.frame.workers import workers_status\nworkers_status()\n"


def box_text(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.sidebar.markdown) + "\n".join(
        str(c.value) for c in at.sidebar.caption
    )


def test_the_box_names_the_local_executor_and_its_workers(ui_home: Path) -> None:
    at = AppTest.from_string(SCRIPT, default_timeout=30).run()
    assert not at.exception
    assert "starting…" in box_text(at)  # drawing the box never starts the manager
    assert jobs.current_manager() is None
    manager = jobs.get_manager()
    run = {"label": "a", "optimizer": {"name": "Adam"}}
    exp = manager.submit({"problem": {"name": "rosenbrock"}, "steps": 50, "runs": [run]})
    assert manager.wait(exp, 60) == "finished"
    text = box_text(at.run())
    assert "**Local**" in text and "worker process(es) on cpu" in text
    assert "0 running, 0 waiting" in text


def test_an_unknown_executor_is_one_line_in_the_box(
    ui_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLAB_EXECUTOR", "kubernetes")
    at = AppTest.from_string(SCRIPT, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.sidebar.error] == [
        "OPTLAB_EXECUTOR='kubernetes' is not an executor; allowed: local, ray"
    ]
