"""No traceback on the page, ever (issue 14, items 3 and 4), under Streamlit's AppTest.

Every path that turns outside input into the form (a ``?s=`` link, an upload, a
stored experiment's spec via ``?exp=``) is fed hostile input: the shapes that raised
before, sizes that never finished rendering, and hypothesis-generated JSON of any
shape.  The page must render without an exception element, refuse with the CLI's
field messages, and keep the defaults; what is valid is loaded and renders too.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optlab.spec import SpecError, parse_spec
from optlab.store.db import Store
from optlab.ui import presets
from optlab.ui.state import share
from tests import helpers
from tests.markdown_shown import has_active_markup, shown

DEFAULT_LABELS = ["SGD-momentum", "Adam"]
BASE: dict[str, Any] = {
    "problem": {"name": "rosenbrock", "start": [-1.0, 1.5]},
    "steps": 200,
    "runs": [
        {
            "label": "adam",
            "optimizer": {"name": "Adam", "lr": 0.01, "betas": [0.9, 0.99]},
            "scheduler": {"name": "StepLR", "step_size": 50, "gamma": 0.5},
        },
        {"label": "lbfgs", "optimizer": {"name": "LBFGS", "lr": 0.5, "history_size": 10}},
    ],
}


def labels(at: Any) -> list[str]:
    return [t.value for t in at.text_input if t.label == "label"]


def infos(at: Any) -> str:
    return shown("\n".join(i.value for i in at.info))


def errors(at: Any) -> str:
    return shown("\n".join(e.value for e in at.error))


def link(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def with_value(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    return helpers.with_value(BASE, path, value)


def assert_calm(at: Any) -> None:
    """No exception element; the page drew its form."""
    assert not at.exception, [e.message for e in at.exception]
    assert labels(at), "the form was not drawn"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return value


# ---------------------------------------------------------------- ?s= links

HOSTILE_LINKS: dict[str, Any] = {
    "runs is a string": with_value(("runs",), "abc"),
    "problem is a string": with_value(("problem",), "rosenbrock"),
    "optimizer is a string": with_value(("runs", 0, "optimizer"), "Adam"),
    "steps is text": with_value(("steps",), "abc"),
    "steps is true": with_value(("steps",), True),
    "lr is a string": with_value(("runs", 0, "optimizer", "lr"), "0.1"),
    "infinite start": with_value(("problem", "start"), [float("inf"), 1]),
    "900-deep nesting": with_value(("runs", 0, "optimizer", "deep"), nested(900)),
    "a list, not an object": [1, 2, 3],
    "LBFGS with 1e9 inner iterations": with_value(
        ("runs", 1, "optimizer"), {"name": "LBFGS", "max_iter": 10**9, "max_eval": 10**9}
    ),
    "5,000 chained schedulers": with_value(
        ("runs", 0, "scheduler"),
        {"name": "ChainedScheduler", "schedulers": [{"name": "ConstantLR"}] * 5000},
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_LINKS))
def test_a_hostile_link_is_refused_with_field_messages(ui_page: Any, name: str) -> None:
    data = HOSTILE_LINKS[name]
    at = ui_page("surfaces", query={share.FORM_PARAM: link(data)})
    assert_calm(at)
    assert labels(at) == DEFAULT_LABELS
    notice = infos(at)
    assert "The link's form settings could not be loaded" in notice
    assert "Showing the defaults instead" in notice
    with pytest.raises(SpecError) as exc:  # the CLI's words, field by field
        parse_spec(json.dumps(data))
    path, msg = exc.value.errors[0]
    assert f"**{path or 'spec'}** — {msg}" in notice


@pytest.mark.parametrize("count", [2_000, 96_000])
def test_thousands_of_runs_are_refused_before_a_card_is_built(ui_page: Any, count: int) -> None:
    runs = [{"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.01}} for i in range(count)]
    start = time.monotonic()
    at = ui_page("surfaces", query={share.FORM_PARAM: link({**BASE, "runs": runs})}, timeout=30)
    assert time.monotonic() - start < 20
    assert_calm(at)
    assert labels(at) == DEFAULT_LABELS
    notice = infos(at)
    # 2,000 runs fit in a link; 96,000 are cut by the link's length limit first
    assert "at most 12 runs per experiment" in notice or "could not be read" in notice


def test_a_zip_bomb_link_inflates_no_further_than_the_limit(ui_page: Any) -> None:
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * 12_000_000, 9)).decode()
    assert len(bomb) < share.MAX_FORM_CHARS
    at = ui_page("surfaces", query={share.FORM_PARAM: bomb})
    assert_calm(at)
    assert "inflates to more than 1,048,576 bytes" in infos(at)


def test_a_valid_link_loads_its_form(ui_page: Any) -> None:
    at = ui_page("surfaces", query={share.FORM_PARAM: link(BASE)})
    assert_calm(at)
    assert labels(at) == ["adam", "lbfgs"] and not at.info


# ---------------------------------------------------------------- uploads


def upload(at: Any, content: bytes, name: str = "spec.json") -> Any:
    at.file_uploader[0].set_value((name, content, "application/json"))
    return at.run()


HOSTILE_UPLOADS: dict[str, tuple[bytes, str]] = {
    "binary junk": (bytes(range(256)) * 8, "not UTF-8 text"),
    "100,000-deep JSON": (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels deep"),
    "a 5,000-digit integer": (
        json.dumps(BASE).replace('"steps": 200', '"steps": ' + "7" * 5000).encode(),
        "**steps** — an integer of 5,000 digits",
    ),
    "UTF-16 text": (json.dumps(BASE).encode("utf-16"), "not UTF-8 text"),
    "2,000 runs": (
        json.dumps({**BASE, "runs": [BASE["runs"][0]] * 2000}).encode(),
        "at most 12 runs per experiment",
    ),
    "a megabyte optimizer name": (
        json.dumps(with_value(("runs", 0, "optimizer", "name"), "x" * 1_000_000)).encode(),
        "**runs[0].optimizer.name** — a text of 1,000,000 characters",
    ),
    "true as a learning rate": (
        json.dumps(with_value(("runs", 0, "optimizer", "lr"), True)).encode(),
        "**runs[0].optimizer.lr** — a number is needed; true/false is not a number",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_UPLOADS))
def test_a_hostile_upload_is_refused_with_field_messages(ui_page: Any, name: str) -> None:
    content, words = HOSTILE_UPLOADS[name]
    at = upload(ui_page("surfaces"), content, "hostile.json")
    assert_calm(at)
    assert labels(at) == DEFAULT_LABELS
    assert "'hostile.json' is not a valid spec; it could not be loaded" in errors(at)
    assert words in errors(at)
    assert len(errors(at)) < 2000  # a huge value is quoted by a short prefix at most


def test_a_valid_upload_loads_its_form(ui_page: Any) -> None:
    at = upload(ui_page("surfaces"), json.dumps(BASE).encode())
    assert_calm(at)
    assert labels(at) == ["adam", "lbfgs"]


def test_streamlit_refuses_uploads_larger_than_a_spec_needs() -> None:
    import tomllib

    config = tomllib.loads(Path(".streamlit/config.toml").read_text())
    from optlab.settings import max_spec_bytes

    assert config["server"]["maxUploadSize"] * 1024 * 1024 == max_spec_bytes()


# ---------------------------------------------------------------- stored specs (?exp=)


def stored(home: Path, spec_text: str) -> str:
    """An experiment whose stored spec text is ``spec_text`` (an old or tampered row)."""
    store = Store(home / "optlab.db")
    try:
        exp_id = store.create_experiment(parse_spec(BASE), status="finished", source="cli")
        with store._tx() as conn:
            conn.execute("UPDATE experiments SET spec = ? WHERE id = ?", (spec_text, exp_id))
        return exp_id
    finally:
        store.close()


def test_a_stored_spec_that_no_longer_validates_is_refused(ui_page: Any, ui_home: Path) -> None:
    exp_id = stored(ui_home, json.dumps(with_value(("problem", "start"), [None, 1.0])))
    at = ui_page("surfaces", query={share.EXP_PARAM: exp_id})
    assert_calm(at)
    assert labels(at) == DEFAULT_LABELS
    assert f"Experiment {exp_id}'s spec could not be loaded" in infos(at)
    assert "**problem.start[0]**" in infos(at)


# ---------------------------------------------------------------- fuzzing every path

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=16,
)


# a value of any shape anywhere in a valid spec: some stay valid and reach the form
spec_like = st.builds(with_value, st.sampled_from(helpers.value_paths(BASE)), json_values)
any_input = st.one_of(json_values, spec_like)
FUZZ = settings(  # OPTLAB_FUZZ_EXAMPLES=200 for a longer hunt
    max_examples=int(os.environ.get("OPTLAB_FUZZ_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fits(value: Any) -> bool:
    try:
        parse_spec(value)
    except SpecError:
        return False
    return True


@FUZZ
@given(value=any_input)
def test_fuzz_links(ui_page: Any, value: Any) -> None:
    at = ui_page("surfaces", query={share.FORM_PARAM: link(value)})
    assert not at.exception, [e.message for e in at.exception]
    if not _fits(value):
        assert "could not be loaded" in infos(at)


@FUZZ
@given(content=any_input.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64))
def test_fuzz_uploads(ui_page: Any, content: bytes) -> None:
    at = upload(ui_page("surfaces"), content)
    assert not at.exception, [e.message for e in at.exception]
    assert ("is not a valid spec" in errors(at)) != _fits(content)


@FUZZ
@given(value=any_input)
def test_fuzz_stored_specs(ui_page: Any, ui_home: Path, value: Any) -> None:
    exp_id = stored(ui_home, json.dumps(value))
    at = ui_page("surfaces", query={share.EXP_PARAM: exp_id})
    assert not at.exception, [e.message for e in at.exception]
    if not _fits(value):
        assert "could not be loaded" in infos(at)


@FUZZ
@given(value=spec_like)
def test_fuzz_training_page_links(ui_page: Any, value: Any) -> None:
    model = copy.deepcopy(presets.get("per_layer_lr").spec)
    model["runs"] = value["runs"] if isinstance(value.get("runs"), list) else model["runs"]
    at = ui_page("training", query={share.FORM_PARAM: link(model)})
    assert not at.exception, [e.message for e in at.exception]


def test_comparing_stored_specs_that_no_longer_validate(ui_home: Path) -> None:
    from streamlit.testing.v1 import AppTest

    broken = json.dumps(with_value(("problem", "start"), [None, 1.0]))
    a, b = stored(ui_home, broken), stored(ui_home, broken)
    at = AppTest.from_string(
        "from optlab.ui.pages import history\nhistory.render()\n", default_timeout=60
    )
    at.query_params["cmp"] = f"{a},{b}"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "### Comparison" in "\n".join(m.value for m in at.markdown)


# ---------------------------------------------------------------- Markdown in user text

IMAGE = "![x](http://198.51.100.7/x.png)"


@pytest.mark.parametrize(
    "path", [("runs", 0, "optimizer", "name"), ("runs", 0, "label"), ("problem", "name")]
)
def test_markup_in_a_link_is_shown_as_text_never_fetched(ui_page: Any, path: Any) -> None:
    """Error notices quote what the link carried: as text, never an image or a link
    (a lecture hall's browsers must not fetch from a host a link names)."""
    data = with_value(path, IMAGE)
    if path[-1] == "label":  # a label is valid on its own: make the link fail elsewhere
        data["runs"][1]["label"] = IMAGE
    at = ui_page("surfaces", query={share.FORM_PARAM: link(data)})
    assert_calm(at)
    sources = [e.value for e in [*at.info, *at.error, *at.warning, *at.markdown]]
    quoted = [s for s in sources if "198.51.100.7" in s]
    assert quoted, "the notice should quote the link's value"
    for source in quoted:
        assert not has_active_markup(source), source
    assert any(IMAGE in shown(s) for s in quoted)
