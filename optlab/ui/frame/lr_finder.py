"""The LR finder on the Surfaces and Training pages (issue 12 §1).

Pick a run, press **Find the lr**: the range test of that run alone (its optimizer,
groups and clipping; not its schedule).  On a surface it is a few hundred 2-D steps and
runs right here, bounded; a model's runs in a child process
(:mod:`optlab.jobs.lr_find_job`) while a fragment polls it, so the page never waits on
training.  The plot shows loss and smoothed loss against lr with the suggestions
(minimum/10, steep, valley); **use this lr** puts one in the run's editor, **check it**
launches short paired runs at each suggestion and at 10× each as a normal experiment.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import streamlit as st

from optlab import settings as limits
from optlab.engine.lr_find import LRFindSettings, lr_find
from optlab.jobs.lr_find_job import LRFindRefused, forget_lr_find, get_lr_find, start_lr_find
from optlab.spec import ExperimentSpec, SpecError, parse_spec
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.charts.lr_find_figure import SUGGESTIONS, lr_find_figure
from optlab.ui.frame.run_bar import submit
from optlab.ui.markdown_text import md_text
from optlab.ui.state import draft as drafts
from optlab.ui.state import page_state
from optlab.ui.state.client import client_id

#: a surface's range test runs in the page: at most this many 2-D steps
SURFACE_MAX_ITER = 1000
#: "check it": steps of a surface check (at most), epochs of a model check
CHECK_STEPS, CHECK_EPOCHS = 300, 1
_RESULT, _JOB = "optlab:lrfind:result:", "optlab:lrfind:job:"


def one_run_spec(spec: ExperimentSpec, index: int) -> dict[str, Any]:
    """The spec with only run ``index`` (the range test's input)."""
    out = spec.to_dict()
    out["runs"] = [out["runs"][index]]
    return out


def check_spec(spec: ExperimentSpec, index: int, suggestions: dict[str, Any]) -> dict[str, Any]:
    """Short paired runs of run ``index`` at each suggestion and at 10× each."""
    out = spec.to_dict()
    base = out["runs"][index]
    runs = []
    seen: set[float] = set()
    for key in SUGGESTIONS:
        lr = suggestions.get(key)
        if lr is None or not math.isfinite(lr) or lr in seen:
            continue
        seen.add(lr)
        for factor, name in ((1.0, f"{key} {lr:.2g}"), (10.0, f"10× {key} {10 * lr:.2g}")):
            run = copy.deepcopy(base)
            run["label"] = f"{base['label']} · {name}"[:60]
            run["optimizer"]["lr"] = lr * factor
            runs.append(run)
    out["runs"] = runs[: limits.max_runs()]
    out["name"] = f"LR finder check: {base['label']}"
    if out.get("steps"):
        out["steps"] = min(int(out["steps"]), CHECK_STEPS)
    if out.get("epochs"):
        out["epochs"] = min(int(out["epochs"]), CHECK_EPOCHS)
    out.pop("sweep", None)
    return out


def _use_lr(page: str, draft: dict[str, Any], index: int, lr: float) -> None:
    new = drafts.clean(copy.deepcopy(draft))
    new["runs"][index].setdefault("optimizer", {})["lr"] = float(lr)
    page_state.load_spec(page, new, exp_id=page_state.shown(page))


def _check(page: str, spec: ExperimentSpec, index: int, suggestions: dict[str, Any]) -> None:
    try:
        parsed = parse_spec(check_spec(spec, index, suggestions))
    except SpecError as exc:
        st.error(f"Could not build the check: {md_text(exc)}", icon="⚠️")
        return
    exp_id = submit(page, parsed)
    if exp_id is not None:
        page_state.load_spec(page, parsed.to_dict(), exp_id=exp_id)
        st.rerun(scope="app")


def _settings(key: str) -> LRFindSettings | None:
    cols = st.columns(3)
    num_iter = cols[0].number_input(
        "iterations",
        min_value=2,
        max_value=SURFACE_MAX_ITER,
        value=100,
        step=10,
        key=f"{key}:iters",
    )
    start = cols[1].number_input("start lr", value=1e-7, format="%.1e", key=f"{key}:start")
    end = cols[2].number_input("end lr", value=10.0, format="%.1e", key=f"{key}:end")
    found = LRFindSettings(start_lr=float(start), end_lr=float(end), num_iter=int(num_iter))
    problems = found.errors()
    names = {"--start-lr": "start lr", "--end-lr": "end lr", "--num-iter": "iterations"}
    for option, message in problems:
        st.error(f"**{names.get(option, option)}** — {message.replace('--start-lr', 'start lr')}")
    return None if problems else found


def _poll(state: str, key: str) -> None:
    """The model's range test while it runs (a fragment polls; the page goes on)."""
    held = st.session_state.get(_JOB + state)
    if not held:
        return
    job = get_lr_find(held["job"])

    @st.fragment(run_every=0.5)
    def waiting() -> None:
        status = job.status() if job is not None else "failed"
        if status == "running":
            st.info(f"Range test of **{md_text(held['label'])}** running…", icon="⏳")
            if st.button("Cancel", key=f"{key}:cancel"):
                forget_lr_find(held["job"])
                st.session_state.pop(_JOB + state, None)
                st.rerun(scope="app")
            return
        st.session_state.pop(_JOB + state, None)
        if status == "done" and job is not None and (result := job.result()):
            st.session_state[_RESULT + state] = {**held, "result": result["runs"][0]}
        else:
            why = job.message() if job is not None else "the job is gone (server restarted?)"
            st.session_state[_RESULT + state] = {**held, "error": why}
        forget_lr_find(held["job"])
        st.rerun(scope="app")

    waiting()


def _show(page: str, draft: dict[str, Any], spec: ExperimentSpec, state: str, key: str) -> None:
    held = st.session_state.get(_RESULT + state)
    if not held:
        return
    label = md_text(held["label"])
    if "error" in held:
        st.error(f"The range test of {label} failed: {md_text(held['error'])}", icon="⚠️")
        return
    result = held["result"]
    if "suggestions" not in result:
        st.error(f"The range test of {label} failed: {md_text(result.get('message', ''))}")
        return
    st.markdown(f"**{label}**: stopped at iteration {result['stopped_at']}")
    live_chart(lr_find_figure(result), key=f"{key}:plot", height=340)
    index = held["index"]
    valid = index < len(spec.runs) and spec.runs[index].label == held["label"]
    buttons = st.container(horizontal=True)
    for name in SUGGESTIONS:
        lr = result["suggestions"].get(name)
        if lr is None:
            continue
        buttons.button(
            f"use {name} lr {lr:.3g}",
            key=f"{key}:use:{name}",
            disabled=not valid,
            on_click=_use_lr,
            args=(page, draft, index, lr),
            help=f"set {md_text(held['label'])}'s lr to {lr:.6g} in the editor",
        )
    if buttons.button(
        "check it",
        key=f"{key}:check",
        disabled=not valid,
        icon=":material/play_arrow:",
        help="short paired runs at each suggestion and at 10× each, side by side",
    ):
        _check(page, spec, index, result["suggestions"])


def lr_finder(
    page: str, draft: dict[str, Any], spec: ExperimentSpec | None, *, model: bool
) -> None:
    """The LR finder section of a page (``spec``: the validated form, None if invalid)."""
    key = drafts.wkey(page, "lrfind")  # widgets: fresh when a new spec is loaded
    state = f"{page}:lrfind"  # the result survives "use this lr" (a new form generation)
    with st.expander("LR finder", icon=":material/troubleshoot:"):
        if spec is None:
            st.caption("Fix the form's errors first: the finder runs one of its runs.")
            return
        labels = [r.label for r in spec.runs]
        index = st.selectbox(
            "run", list(range(len(labels))), format_func=labels.__getitem__, key=f"{key}:run"
        )
        found = _settings(key)
        running = bool(st.session_state.get(_JOB + state))
        if st.button("Find the lr", key=f"{key}:go", disabled=found is None or running):
            assert found is not None
            one = one_run_spec(spec, int(index))
            label = labels[int(index)]
            st.session_state.pop(_RESULT + state, None)
            if model:
                try:
                    job = start_lr_find(one, found, client=client_id())
                except LRFindRefused as exc:
                    st.error(md_text(str(exc)), icon="⚠️")
                else:
                    st.session_state[_JOB + state] = {
                        "job": job,
                        "index": int(index),
                        "label": label,
                    }
            else:
                result = lr_find(parse_spec(one), found)["runs"][0]
                st.session_state[_RESULT + state] = {
                    "index": int(index),
                    "label": label,
                    "result": result,
                }
        _poll(state, key)
        _show(page, draft, spec, state, key)
