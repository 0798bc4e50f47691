"""Hostile input at the spec: the raw-input gate, strict types, finite numbers, work limits.

Issue 14, items 2 (work per step and memory are bounded), 3 (limits are checked
before the work) and 6 (types are strict, numbers are finite).  Every refusal is a
:class:`SpecError` naming the field, never another exception.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optlab.spec import ExperimentSpec, SpecError, parse_spec
from optlab.store.db import Store
from tests.helpers import value_paths, with_value

BASE: dict[str, Any] = {
    "problem": {"name": "rosenbrock", "start": [-1.0, 1.5]},
    "steps": 20,
    "runs": [
        {
            "label": "adam",
            "optimizer": {"name": "Adam", "lr": 0.01, "betas": [0.9, 0.99]},
            "scheduler": {"name": "StepLR", "step_size": 5, "gamma": 0.5},
        },
        {"label": "sgd", "optimizer": {"name": "SGD", "lr": 0.001, "momentum": 0.9}},
    ],
}
MODEL: dict[str, Any] = {
    "problem": {"name": "mse_regression", "n_samples": 100},
    "epochs": 1,
    "batch_size": 16,
    "runs": [{"label": "a", "optimizer": {"name": "Adam", "lr": 0.01}}],
}


def spec_with(path: tuple[Any, ...], value: Any, base: dict[str, Any] = BASE) -> dict[str, Any]:
    return with_value(base, path, value)


def refused(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return info.value.errors


def fields(errors: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in errors]


# ---------------------------------------------------------------- item 6: strict types


NUMBER_FIELDS = [
    ("runs", 0, "optimizer", "lr"),
    ("runs", 0, "optimizer", "betas", 0),
    ("runs", 0, "scheduler", "step_size"),
    ("runs", 0, "scheduler", "gamma"),
    ("runs", 1, "optimizer", "momentum"),
    ("problem", "start", 0),
    ("steps",),
    ("seed",),
]


@pytest.mark.parametrize("path", NUMBER_FIELDS, ids=lambda p: ".".join(map(str, p)))
@pytest.mark.parametrize("value", [True, False, "0.1", "3", "abc"])
def test_booleans_and_strings_are_not_numbers(path: tuple[Any, ...], value: Any) -> None:
    errors = refused(spec_with(path, value))
    where = ".".join(str(p) for p in path).replace(".0", "[0]").replace(".1", "[1]")
    assert len(errors) == 1, errors
    assert errors[0][0] == where
    assert "number" in errors[0][1]


def test_model_numbers_are_strict_too() -> None:
    assert fields(refused(spec_with(("batch_size",), True, MODEL))) == ["batch_size"]
    assert fields(refused(spec_with(("epochs",), "2", MODEL))) == ["epochs"]
    assert fields(refused(spec_with(("problem", "hidden"), True, MODEL))) == ["problem.hidden"]


def test_the_words_say_what_is_wrong() -> None:
    (msg,) = [m for _, m in refused(spec_with(("runs", 0, "optimizer", "lr"), True))]
    assert msg == "a number is needed; true/false is not a number"
    (msg,) = [m for _, m in refused(spec_with(("runs", 0, "optimizer", "lr"), "0.1"))]
    assert msg == "a number is needed; '0.1' is text (write it without quotes)"
    (msg,) = [m for _, m in refused(spec_with(("steps",), 20.0))]
    assert msg == "a whole number is needed (write 20, not 20.0)"
    assert refused(spec_with(("runs",), "abc")) == [
        ("runs", "a list […] is needed here, not the text 'abc'")
    ]


def test_an_integer_is_a_float() -> None:
    spec = parse_spec(spec_with(("runs", 0, "optimizer", "lr"), 1))
    assert spec.runs[0].optimizer.kwargs["lr"] == 1.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize(
    "path",
    [("problem", "start", 0), ("runs", 0, "optimizer", "lr"), ("runs", 0, "scheduler", "gamma")],
)
def test_every_float_is_finite(path: tuple[Any, ...], bad: float) -> None:
    data = spec_with(path, bad)
    for form in (data, json.dumps(data)):  # a dict, and JSON text with Infinity / NaN
        errors = refused(form)
        assert len(errors) == 1 and "finite" in errors[0][1], errors


def test_overflowing_json_numbers_are_not_finite() -> None:
    text = json.dumps(BASE).replace("0.001", "1e400")
    assert refused(text) == [("runs[1].optimizer.lr", "must be a finite number, not inf")]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)


BASE_PATHS = value_paths(BASE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(BASE_PATHS), value=json_values)
def test_any_value_anywhere_is_refused_by_field_or_round_trips(
    path: tuple[Any, ...], value: Any
) -> None:
    """Fuzz: any JSON at any place of a valid spec.  Either one SpecError naming fields,
    or a spec whose stored form validates again to the same spec."""
    data = spec_with(path, value)
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert exc.errors and all(isinstance(p, str) and m for p, m in exc.errors)
        return
    again = parse_spec(json.loads(json.dumps(spec.to_dict(), allow_nan=False)))
    assert again.to_dict() == spec.to_dict()


def _leaf(path: tuple[Any, ...]) -> Any:
    node: Any = BASE
    for key in path:
        node = node[key]
    return node


NUMBER_PATHS = [
    p for p in BASE_PATHS if isinstance(_leaf(p), int | float) and not isinstance(_leaf(p), bool)
]
FLOAT_PATHS = [p for p in NUMBER_PATHS if isinstance(_leaf(p), float)]


def _field(path: tuple[Any, ...]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(NUMBER_PATHS),
    value=st.booleans() | st.text(max_size=8) | st.floats(-10, 10).map(str),
)
def test_fuzz_no_boolean_or_text_passes_for_a_number(path: tuple[Any, ...], value: Any) -> None:
    errors = refused(spec_with(path, value))
    assert fields(errors) == [_field(path)]


@settings(max_examples=100, deadline=None)
@given(
    path=st.sampled_from(FLOAT_PATHS),
    value=st.sampled_from([math.inf, -math.inf, math.nan]) | st.floats().filter(math.isinf),
    as_text=st.booleans(),
)
def test_fuzz_no_float_is_infinite_or_nan(
    path: tuple[Any, ...], value: float, as_text: bool
) -> None:
    data = spec_with(path, value)
    errors = refused(json.dumps(data) if as_text else data)
    assert fields(errors) == [_field(path)] and "finite" in errors[0][1]


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_json_of_any_shape_is_a_spec_error_or_a_spec(value: Any) -> None:
    for form in (value, json.dumps(value)):
        with contextlib.suppress(SpecError):
            parse_spec(form)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def valid_specs(draw: Any) -> dict[str, Any]:
    surface = draw(st.sampled_from(["rosenbrock", "himmelblau", "quadratic", "beale"]))
    runs = []
    for i in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]))
        opt: dict[str, Any] = {"name": name, "lr": draw(st.floats(1e-6, 10.0))}
        if name in ("Adam", "AdamW"):
            opt["betas"] = [draw(st.floats(0.0, 0.999)), draw(st.floats(0.0, 0.9999))]
        if draw(st.booleans()):
            opt["weight_decay"] = draw(st.floats(0.0, 1.0))
        run: dict[str, Any] = {"label": f"run {i}", "optimizer": opt}
        if draw(st.booleans()):
            run["scheduler"] = {
                "name": "StepLR",
                "step_size": draw(st.integers(1, 10**6)),
                "gamma": draw(st.floats(0.01, 1.0)),
            }
        runs.append(run)
    return {
        "problem": {"name": surface, "start": [draw(st.floats(-3, 3)), draw(st.floats(-3, 3))]},
        "steps": draw(st.integers(1, 1000)),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "runs": runs,
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=valid_specs())
def test_what_is_stored_always_loads_back(data: dict[str, Any], tmp_path: Path) -> None:
    spec = parse_spec(data)
    store = Store(tmp_path / "roundtrip.db")
    try:
        exp_id = store.create_experiment(spec, source="cli")
        stored = store.get_experiment(exp_id)["spec"]
    finally:
        store.close()
    assert parse_spec(stored).to_dict() == spec.to_dict()
    assert parse_spec(json.dumps(stored)).to_dict() == spec.to_dict()


def test_an_infinite_start_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    """Today's bug: accepted, stored as [null, 1.0], then failed to load."""
    assert fields(refused(spec_with(("problem", "start"), [math.inf, 1]))) == ["problem.start[0]"]


# ---------------------------------------------------------------- item 3: the gate


def test_oversized_input_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [{"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.1}} for i in range(1_260_000)]
    text = json.dumps({"problem": {"name": "rosenbrock"}, "runs": runs})
    assert len(text) > 50_000_000
    start = time.process_time()
    errors = refused(text.encode())
    assert time.process_time() - start < 1.0
    assert errors == [
        ("", f"the spec is {len(text):,} bytes; at most 1,048,576 (OPTLAB_MAX_SPEC_BYTES)")
    ]
    monkeypatch.setenv("OPTLAB_MAX_SPEC_BYTES", "100")
    assert "at most 100 (OPTLAB_MAX_SPEC_BYTES)" in refused(json.dumps(BASE))[0][1]


@pytest.mark.parametrize("count", [13, 2_000, 96_000])
def test_run_count_is_checked_before_any_run_is_built(count: int) -> None:
    runs = [{"label": f"r{i}", "optimizer": {"name": "SGD", "lr": 0.1}} for i in range(count)]
    data = {"problem": {"name": "rosenbrock"}, "runs": runs}
    start = time.process_time()
    errors = refused(data)
    assert time.process_time() - start < 0.5
    assert errors == [
        ("runs", f"at most 12 runs per experiment (OPTLAB_MAX_RUNS); this spec has {count:,}")
    ]


def nested(depth: int) -> Any:
    deep: Any = 1
    for _ in range(depth):
        deep = {"x": deep}
    return deep


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    text = '{"problem": {"name": "rosenbrock"}, "runs": [], "x": ' + "[" * depth + "]" * depth + "}"
    assert refused(text) == [("", "nested more than 32 levels deep (OPTLAB_MAX_SPEC_DEPTH)")]
    errors = refused({"problem": {"name": "rosenbrock"}, "runs": [], "x": nested(min(depth, 5000))})
    assert errors[0][1] == "nested more than 32 levels deep (OPTLAB_MAX_SPEC_DEPTH)"


def test_huge_integers_and_binary_junk_are_spec_errors() -> None:
    assert refused('{"seed": ' + "9" * 5000 + "}") == [
        ("seed", "an integer of 5,000 digits; at most 19 (64 bits)")
    ]
    assert refused(spec_with(("seed",), 2**70)) == [
        ("seed", "integers are limited to 64 bits (at most 19 digits)")
    ]
    assert refused(b"\xff\xfe\x00\x81junk") == [
        ("", "not UTF-8 text (byte 0); a spec is a JSON text file")
    ]
    assert refused(b"\x00\x01\x02")[0][1].startswith("not valid JSON")


def test_long_lists_and_texts_are_refused_by_field() -> None:
    errors = refused(
        spec_with(
            ("runs", 0, "scheduler"), {"name": "MultiStepLR", "milestones": list(range(1, 5000))}
        )
    )
    assert errors == [
        ("runs[0].scheduler.milestones", "4,999 elements; at most 1,000 (OPTLAB_MAX_SPEC_ITEMS)")
    ]
    errors = refused(spec_with(("name",), "x" * 20_000))
    assert errors == [
        ("name", "a text of 20,000 characters; at most 10,000 (OPTLAB_MAX_TEXT_CHARS)")
    ]


@pytest.mark.parametrize("what", ["optimizer", "scheduler", "problem"])
def test_a_huge_name_is_quoted_by_a_short_prefix(
    what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTLAB_MAX_TEXT_CHARS", str(2_000_000))
    monkeypatch.setenv("OPTLAB_MAX_SPEC_BYTES", str(4_000_000))
    name = "x" * 1_000_000
    path = {
        "optimizer": ("runs", 0, "optimizer", "name"),
        "scheduler": ("runs", 0, "scheduler", "name"),
        "problem": ("problem", "name"),
    }[what]
    errors = refused(json.dumps(spec_with(path, name)))
    assert errors and all(len(msg) < 400 for _, msg in errors), [len(m) for _, m in errors]
    assert "1,000,000 characters" in errors[0][1]


def test_every_message_is_bounded() -> None:
    err = SpecError([("x", "y" * 100_000)])
    assert len(err.errors[0][1]) < 1100 and len(str(err)) < 1200


# ---------------------------------------------------------------- item 2: work per step


def lbfgs(**kwargs: Any) -> dict[str, Any]:
    return spec_with(("runs", 0, "optimizer"), {"name": "LBFGS", **kwargs})


def test_lbfgs_inner_loop_and_history_are_bounded() -> None:
    errors = refused(
        lbfgs(max_iter=10**9, max_eval=10**9, tolerance_grad=0.0, tolerance_change=0.0)
    )
    assert fields(errors) == ["runs[0].optimizer.max_iter", "runs[0].optimizer.max_eval"]
    assert "at most 1,000 on this server (OPTLAB_MAX_INNER_ITERATIONS)" in errors[0][1]
    errors = refused(lbfgs(history_size=10**9))
    assert errors == [
        (
            "runs[0].optimizer.history_size",
            "at most 256 on this server (OPTLAB_MAX_HISTORY); "
            "it sets how many vectors as large as the parameters are kept",
        )
    ]
    parse_spec(lbfgs(max_iter=1000, max_eval=1000, history_size=256))


def test_work_limits_are_server_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTLAB_MAX_INNER_ITERATIONS", "50")
    assert fields(refused(lbfgs(max_iter=51))) == ["runs[0].optimizer.max_iter"]
    monkeypatch.setenv("OPTLAB_MAX_HISTORY", "5000")
    parse_spec(lbfgs(history_size=5000))


def test_matrix_iterations_and_kept_gradients_are_bounded() -> None:
    errors = refused(spec_with(("runs", 0, "optimizer"), {"name": "AdaShift", "keep_num": 10**6}))
    assert fields(errors) == ["runs[0].optimizer.keep_num"]
    errors = refused(
        spec_with(("runs", 0, "optimizer"), {"name": "DASH", "newton_steps": 10**6}, MODEL)
    )
    assert fields(errors) == ["runs[0].optimizer.newton_steps"]
    assert "OPTLAB_MAX_MATRIX_ITERATIONS" in errors[0][1]


def test_lookahead_inner_optimizer_is_bounded_too() -> None:
    errors = refused(
        spec_with(
            ("runs", 0, "optimizer"),
            {"name": "Lookahead", "optimizer": {"name": "LBFGS", "history_size": 10**6}},
        )
    )
    assert fields(errors) == ["runs[0].optimizer.optimizer.history_size"]


def test_composite_schedulers_have_a_bound_on_children(monkeypatch: pytest.MonkeyPatch) -> None:
    chained = {"name": "ChainedScheduler", "schedulers": [{"name": "ConstantLR"}] * 17}
    errors = refused(spec_with(("runs", 0, "scheduler"), chained))
    assert errors == [
        (
            "runs[0].scheduler",
            "18 schedulers in one schedule; at most 16 (OPTLAB_MAX_SCHEDULERS), "
            "composites and their children counted",
        )
    ]
    start = time.process_time()
    many = {"name": "ChainedScheduler", "schedulers": [{"name": "ConstantLR"}] * 5000}
    assert fields(refused(spec_with(("runs", 0, "scheduler"), many))) == [
        "runs[0].scheduler.schedulers"
    ]
    assert time.process_time() - start < 0.5
    nested = {
        "name": "ChainedScheduler",
        "schedulers": [dict(chained, schedulers=[{"name": "ConstantLR"}] * 8)] * 2,
    }
    assert fields(refused(spec_with(("runs", 0, "scheduler"), nested))) == ["runs[0].scheduler"]
    monkeypatch.setenv("OPTLAB_MAX_SCHEDULERS", "20")
    assert isinstance(parse_spec(spec_with(("runs", 0, "scheduler"), chained)), ExperimentSpec)


def test_group_overrides_and_inner_optimizers_use_the_same_words() -> None:
    groups = spec_with(("runs", 0, "param_groups"), [{"params": "layer1.*", "lr": True}], MODEL)
    assert refused(groups) == [
        ("runs[0].param_groups[0].lr", "a number is needed; true/false is not a number")
    ]
    inner = {"name": "Lookahead", "optimizer": {"name": "Adam", "lr": "0.1", "bogus": 1}}
    assert refused(spec_with(("runs", 0, "optimizer"), inner)) == [
        (
            "runs[0].optimizer.optimizer.lr",
            "a number is needed; '0.1' is text (write it without quotes)",
        ),
        (
            "runs[0].optimizer.optimizer.bogus",
            "unknown key (check the spelling; see `python -m optlab list`)",
        ),
    ]


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe\x00junk", "error: {file}: not UTF-8 text (byte 0); a spec is a JSON text file"),
        (b"[" * 100_000, "error: {file}: nested more than 32 levels deep (OPTLAB_MAX_SPEC_DEPTH)"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "error: seed: an integer of 5,000 digits"),
        (b" " * 2_000_000, "error: the spec is 2,000,000 bytes; at most 1,048,576"),
        (
            json.dumps(spec_with(("runs", 0, "optimizer", "lr"), True)).encode(),
            "error: runs[0].optimizer.lr: a number is needed; true/false is not a number",
        ),
    ],
)
def test_the_cli_refuses_hostile_files_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    from optlab.cli.main import main

    path = tmp_path / "spec.json"
    path.write_bytes(content)
    assert main(["run", str(path), "--no-store", "--quiet"]) == 2
    err = capsys.readouterr().err
    words = words.format(file=f"spec file {str(path)!r}")
    assert err.startswith(words) and "Traceback" not in err and len(err) < 1000


@pytest.mark.parametrize(
    "text",
    ['"' + '\\"' * 500_000, '"\\' * 500_000, '"' * 1_000_000, json.dumps(["[[{{"] * 150_000)],
    ids=["escaped quotes", "backslashes", "quotes", "brackets in strings"],
)
def test_the_gate_scans_any_text_in_linear_time(text: str) -> None:
    """A quadratic scan would take minutes on these (an unterminated string re-scanned
    from every escaped quote)."""
    start = time.process_time()
    with pytest.raises(SpecError):
        parse_spec(text)
    assert time.process_time() - start < 2.0


def test_a_generous_depth_setting_still_cannot_recurse_too_deep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPTLAB_MAX_SPEC_DEPTH", "1000000")
    errors = refused("[" * 50_000 + "]" * 50_000)
    assert errors == [("", "nested more than 200 levels deep (OPTLAB_MAX_SPEC_DEPTH)")]
    errors = refused({"problem": {"name": "rosenbrock"}, "runs": [], "x": nested(5000)})
    assert errors[0][1] == "nested more than 200 levels deep (OPTLAB_MAX_SPEC_DEPTH)"
