"""Lessons: a lecture as ordered scenes (``lessons/*.json``, see ``optlab.ui.lessons``).

``?lesson=<name>&scene=<k>`` opens scene k (from 1); previous / next move through the
scenes and the URL follows, so students open the same scene on their laptops.
``?present=1`` (or the toggle) is presenter mode: no controls, no sidebar, the chart
across the whole width, the caption large; ``?controls=0`` hides the controls only.
A scene's question hides the race until it is answered.  The scene fills a left column,
the race a right one: at 1280x720 both are on screen without scrolling.
"""

from __future__ import annotations

from typing import Any, Literal

import streamlit as st

from optlab.spec import SpecError, parse_spec
from optlab.ui import lessons, theme
from optlab.ui.frame.present import controls_shown, present_toggle, presenting, url_flags
from optlab.ui.frame.run_bar import submit
from optlab.ui.live.live_view import live_view
from optlab.ui.live.seed_band_view import seed_band_view
from optlab.ui.state import client, page_state, view

PAGE = "lessons"
_SCENE = "optlab:lesson:scene:"
_ANSWER = "optlab:lesson:answer:"
#: px: three number inputs in one row of the scene's column at 1280x720
_NARROW_INPUT = 120


def _index() -> None:
    st.title("Lessons")
    st.caption("A lesson is a sequence of experiments with something to say about each.")
    for name in lessons.names():
        lesson = lessons.load(name)
        with st.container(border=True):
            st.markdown(f"**{lesson.title}** — {lesson.summary} ({len(lesson.scenes)} scenes)")
            st.button("Open", key=f"open:{name}", on_click=_open, args=(name, 1))


def _open(name: str, scene: int) -> None:
    st.session_state[_SCENE + name] = scene
    st.query_params.from_dict({**_kept(), "lesson": name, "scene": str(scene)})


def _kept() -> dict[str, str]:
    return view.kept()


def _scene_index(lesson: lessons.Lesson) -> int:
    """The scene number (from 1): the URL on a page's first run for it, then the session's."""
    key = _SCENE + lesson.name
    url = str(st.query_params.get("scene", "1"))
    seen = st.session_state.get(key + ":url")
    if url != seen:  # a new link (or a first visit): the URL decides
        st.session_state[key + ":url"] = url
        st.session_state[key] = int(url) if url.isdigit() else 1
    k = int(st.session_state.get(key, 1))
    return min(max(k, 1), len(lesson.scenes))


def _move(lesson: lessons.Lesson, k: int) -> None:
    st.session_state[_SCENE + lesson.name] = min(max(k, 1), len(lesson.scenes))


def _controls(lesson: lessons.Lesson, k: int, scene: lessons.Scene) -> dict[str, Any]:
    """The scene's number inputs side by side (three share a row of the scene's column)."""
    values: dict[str, Any] = {}
    width: int | Literal["stretch"] = "stretch" if len(scene.controls) < 3 else _NARROW_INPUT
    for c in scene.controls:
        default = lessons.get_path(scene.spec, c.path)
        locked = c.path in scene.locked
        integer = isinstance(default, int) and not isinstance(default, bool)
        cast = int if integer else float
        kwargs: dict[str, Any] = {}
        if c.min is not None:
            kwargs["min_value"] = cast(c.min)
        if c.max is not None:
            kwargs["max_value"] = cast(c.max)
        if c.step is not None:
            kwargs["step"] = cast(c.step)
        value = st.number_input(
            c.label + (" 🔒" if locked else ""),
            value=cast(default),
            disabled=locked,
            key=f"lesson:{lesson.name}:{k}:{c.path}",
            help="locked in this scene" if locked else None,
            format=None if integer else "%g",
            width=width,
            **kwargs,
        )
        if not locked:
            values[c.path] = value
    return values


def _question(lesson: lessons.Lesson, k: int, scene: lessons.Scene) -> bool:
    """Ask the scene's question (in the race's column); True once answered (or none)."""
    if scene.question is None:
        return True
    key = f"{_ANSWER}{lesson.name}:{k}"
    if st.session_state.get(key) is not None:
        return True
    with st.container(border=True, key="optlab-question"):
        choice = st.radio(scene.question, scene.choices, index=None, key=f"{key}:radio")
        if st.button("Answer", disabled=choice is None, key=f"{key}:button"):
            st.session_state[key] = choice
            st.rerun()
    st.info("Answer the question first: the race is revealed after.", icon="❓")
    return False


def _answered(lesson: lessons.Lesson, k: int, scene: lessons.Scene) -> None:
    """The class's answer, one line beside Run (the race's column keeps its height)."""
    answer = st.session_state.get(f"{_ANSWER}{lesson.name}:{k}")
    if scene.question is not None and answer is not None:
        st.caption(f"{scene.question} — you answered **{answer}**.", width="stretch")


def _nav(lesson: lessons.Lesson, k: int) -> None:
    """Previous / next, then the scene's number and the lesson's title in small print."""
    n = len(lesson.scenes)
    row = st.container(horizontal=True, vertical_alignment="center", key="optlab-lesson-nav")
    row.button(
        "Previous", icon=":material/arrow_back:", disabled=k <= 1, on_click=_move,
        args=(lesson, k - 1), key="lesson:prev",
    )  # fmt: skip
    row.button(
        "Next", icon=":material/arrow_forward:", disabled=k >= n, on_click=_move,
        args=(lesson, k + 1), key="lesson:next",
    )  # fmt: skip
    row.caption(f"**Scene {k} of {n}** · {lesson.title}", width="stretch")


def _run(lesson: lessons.Lesson, k: int, scene: lessons.Scene, spec: Any) -> None:
    """Run, with the class's answer beside it."""
    with st.container(
        horizontal=True, vertical_alignment="center", wrap=False, key="optlab-lesson-run"
    ):
        if st.button("Run", type="primary", icon=":material/play_arrow:", key="lesson:run"):
            submit(f"lessons:{lesson.name}:{k}", spec)
        _answered(lesson, k, scene)


def _race(lesson: lessons.Lesson, k: int, spec: Any) -> None:
    exp_id = page_state.shown(f"lessons:{lesson.name}:{k}")
    if exp_id and getattr(spec, "sweep", None) is not None:
        seed_band_view(exp_id, key="lesson")  # a sweep scene: the runs over seeds
    elif exp_id:
        live_view(exp_id, key="lesson", autoplay=True, fit=True, headline=False)
    elif getattr(spec, "sweep", None) is not None:
        st.caption("Press **Run** to start the sweep; the seed bands fill in epoch by epoch.")
    else:
        st.caption("Press **Run** to start the race; it plays at lecture pace (space pauses).")


# A lesson at 1280x720 (issue 13): the scene (navigation, title, caption, controls, Run)
# in a left column and the race (status, player bar, a fitted contour) in the right one,
# both from just below Streamlit's header, so the caption, Run and the contour's whole
# plot area with its player are on screen at once, without scrolling, sidebar shown.
# Presenter mode's own style (frame/present.py, emitted later) enlarges the caption;
# Run then heads the race's column.
_COMPACT_CSS = """<style>
  [data-testid="stMainBlockContainer"], .block-container { padding-top: 3.75rem !important;
    padding-left: 2rem !important; padding-right: 2rem !important; }
  .st-key-optlab-scene h4 { padding: 0.1rem 0 0.3rem 0; }
  .st-key-optlab-caption p { margin-bottom: 0.5rem; line-height: 1.5; }
</style>"""


def render() -> None:
    st.html(theme.PAGE_CSS)
    st.html(_COMPACT_CSS)
    client.remember()
    name = str(st.query_params.get("lesson", ""))
    if not name:
        _index()
        return
    try:
        lesson = lessons.load(name)
    except ValueError as exc:
        st.error(str(exc))
        _index()
        return
    present = presenting(PAGE)
    show_controls = controls_shown(PAGE)
    k = _scene_index(lesson)
    scene = lesson.scenes[k - 1]
    left, right = st.columns([4, 8] if present else [3, 4], gap="small")
    with left, st.container(key="optlab-scene", gap="xsmall"):
        _nav(lesson, k)
        st.markdown(f"{'###' if present else '####'} {scene.title}")
        with st.container(key="optlab-caption"):
            st.markdown(scene.caption)
        values: dict[str, Any] = {}
        if show_controls and scene.controls:
            with st.container(
                horizontal=True, gap="xsmall", vertical_alignment="bottom",
                key="optlab-lesson-controls",
            ):  # fmt: skip
                values = _controls(lesson, k, scene)
        try:
            spec = parse_spec(lessons.scene_spec(scene, values))
        except SpecError as exc:
            st.error("\n".join(f"{p}: {m}" for p, m in exc.errors))
            spec = None
    with right:
        answered = _question(lesson, k, scene)
    if answered and spec is not None:
        # Run under the controls; presenting (no controls, a large caption) it heads the race
        with right if present else left:
            _run(lesson, k, scene, spec)
        with right:
            _race(lesson, k, spec)
    present_toggle(PAGE, present)
    st.query_params.from_dict({**url_flags(present), "lesson": name, "scene": str(k)})
    st.session_state[_SCENE + lesson.name + ":url"] = str(k)
