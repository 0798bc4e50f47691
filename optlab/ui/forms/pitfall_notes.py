"""The pitfalls of ``optlab check`` next to their fields: a warning on each run's card.

The same words as the CLI (``optlab.engine.pitfalls``); a warning never blocks a run.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.engine.pitfalls import check_spec
from optlab.spec import ExperimentSpec


@st.cache_data(show_spinner=False, max_entries=256)
def _pitfalls(spec_json: str) -> list[tuple[str, str]]:
    from optlab.spec import parse_spec

    return [(p.field, p.message) for p in check_spec(parse_spec(spec_json))]


def show_run_warnings(boxes: list[Any], spec: ExperimentSpec | None) -> None:
    """Each run's pitfalls on its card, the field path relative to the run."""
    if spec is None:
        return
    for path, msg in _pitfalls(spec.to_json(indent=None)):
        for i, box in enumerate(boxes):
            prefix = f"runs[{i}]"
            if path == prefix or path.startswith((f"{prefix}.", f"{prefix}[")):
                field = path[len(prefix) :].lstrip(".") or "run"
                box.warning(f"**{field}** — {msg}", icon=":material/lightbulb:")
