"""Validate the form with the CLI's own rules and show what is wrong, field by field."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import streamlit as st

from optlab.settings import spec_limits
from optlab.spec import ExperimentSpec, SpecError, parse_spec
from optlab.ui.markdown_text import md_text
from optlab.ui.state.draft import clean

_CACHE: OrderedDict[str, ExperimentSpec | SpecError] = OrderedDict()
_CACHE_SIZE = 256


def validate(draft: dict[str, Any]) -> tuple[ExperimentSpec | None, list[tuple[str, str]]]:
    """(the validated spec, []) or (None, [(field path, message), …]).

    Cached by the draft's JSON: the form validates on every rerun.
    """
    data = clean(draft)
    try:
        text = json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None, [("", "a value is not a plain number (NaN or infinity?)")]
    text += repr(spec_limits())  # server limits are part of the answer
    hit = _CACHE.get(text)
    if hit is None:
        try:
            hit = parse_spec(data)
            structure = _structure_errors(hit)
            if structure:
                hit = SpecError(structure)
        except SpecError as exc:
            hit = exc
        _CACHE[text] = hit
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(text)
    if isinstance(hit, SpecError):
        return None, list(hit.errors)
    return hit, []


def _structure_errors(spec: ExperimentSpec) -> list[tuple[str, str]]:
    """Scheduler nesting errors torch would raise only when the run starts."""
    from optlab.catalog.schedulers import check_structure

    out = []
    for i, run in enumerate(spec.runs):
        if run.scheduler is not None:
            where = f"runs[{i}].scheduler."
            out += [(where + path, msg) for path, msg in check_structure(run.scheduler)]
    return out


def outside_runs(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The errors not shown on a run card (problem, steps, limits…)."""
    return [(p, m) for p, m in errors if not p.startswith("runs[")]


def show_errors(errors: list[tuple[str, str]], *, title: str = "Fix these settings to run") -> None:
    """One box listing every error with its field path (the same words as the CLI)."""
    if not errors:
        return
    lines = "\n".join(f"- **{md_text(path or 'spec')}** — {md_text(msg)}" for path, msg in errors)
    st.error(f"{title}:\n\n{lines}", icon="⚠️")
