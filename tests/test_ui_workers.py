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


def test_workers_that_could_not_start_say_why_not_starting_forever(
    ui_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start that failed (here: the store's folder is a file) is named in the box."""
    blocked = ui_home / "not-a-folder"
    blocked.write_text("a file where the store's folder should be")
    monkeypatch.setenv("OPTLAB_HOME", str(blocked))
    with pytest.raises(OSError):
        jobs.get_manager()
    at = AppTest.from_string(SCRIPT, default_timeout=30).run()
    assert not at.exception
    [error] = [e.value for e in at.sidebar.error]
    assert error.startswith("The workers could not start:") and "not-a-folder" in error
    assert "starting…" not in box_text(at)
