"""AppTest: the History page — per-client listing, open, rename, delete, compare."""

from __future__ import annotations

import re
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from optlab.engine.experiment import run_experiment
from optlab.spec import parse_spec
from optlab.store.db import Store
from optlab.store.export import result_batch
from optlab.ui.presets import get

CLIENT = "0123456789abcdef"


def _store_ui(store: Store, preset: str, client: str, steps: int = 60) -> str:
    """A finished dashboard experiment of ``client`` (computed by the real engine)."""
    spec = parse_spec({**get(preset).spec, "steps": steps})
    result = run_experiment(spec)
    exp_id = store.create_experiment(spec, client=client, status="running", source="ui")
    store.write_batch(exp_id, result_batch(result))
    store.set_status(exp_id, "finished")
    return exp_id


@pytest.fixture
def stored(ui_home: Any) -> dict[str, str]:
    store = Store()
    ids = {
        "mine": _store_ui(store, "sgdm_adam_rosenbrock", CLIENT),
        "mine2": _store_ui(store, "momentum_rosenbrock", CLIENT),
        "theirs": _store_ui(store, "saddle_escape", "fedcba9876543210"),
    }
    spec = parse_spec({**get("ill_conditioned").spec, "steps": 40})
    ids["cli"] = store.store_result(spec, run_experiment(spec), source="cli")
    store.close()
    return ids


def history(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_string(
        "from optlab.ui.pages import history\nhistory.render()\n", default_timeout=60
    )
    at.session_state["optlab:client"] = CLIENT
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def listed(at: Any) -> list[str]:
    return list(next(d.value for d in at.dataframe if "id" in d.value.columns)["id"])


def test_mine_lists_this_browser_and_the_cli(stored: dict[str, str]) -> None:
    at = history()
    assert not at.exception
    assert set(listed(at)) == {stored["mine"], stored["mine2"], stored["cli"]}
    at.segmented_control[0].set_value("everyone").run()
    assert set(listed(at)) == set(stored.values())


def test_rename_and_delete(stored: dict[str, str]) -> None:
    at = history()
    at.multiselect[0].set_value([stored["mine"]]).run()
    assert any(b.label == "Open" for b in at.button)
    name = next(t for t in at.text_input if t.label == "new name")
    name.set_value("lecture 3 demo").run()
    next(b for b in at.button if b.label == "Save name").click().run()
    assert Store().get_experiment(stored["mine"])["name"] == "lecture 3 demo"
    at.multiselect[0].set_value([stored["mine2"]]).run()
    next(b for b in at.button if b.label == "Delete for good").click().run()
    assert stored["mine2"] not in listed(at)
    assert not at.exception


def test_compare_two_experiments(stored: dict[str, str]) -> None:
    at = history()
    at.multiselect[0].set_value([stored["mine"], stored["mine2"]]).run()
    next(b for b in at.button if b.label == "Compare these two").click().run()
    assert not at.exception
    assert at.query_params["cmp"] in (
        f"{stored['mine']},{stored['mine2']}",
        [f"{stored['mine']},{stored['mine2']}"],
    )
    text = "\n".join(m.value for m in at.markdown)
    assert "### Comparison" in text and f"`{stored['mine']}`" in text
    tables = [m.value for m in at.markdown if "optlab-summary" in m.value]
    runs = [re.findall(r"<b>(.*?)</b>", t) for t in tables]
    assert runs == [
        ["A · SGD-momentum", "A · Adam"],
        ["B · SGD", "B · SGD-momentum", "B · Nesterov"],
    ]


def test_a_comparison_link_reopens_it(stored: dict[str, str]) -> None:
    at = history({"cmp": f"{stored['cli']},{stored['theirs']}"})
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "### Comparison" in text and stored["theirs"] in text
    assert "different surfaces" in "\n".join(c.value for c in at.caption)


def test_empty_history_says_how_to_start(ui_home: Any) -> None:
    at = history()
    assert "No experiments yet" in at.info[0].value
