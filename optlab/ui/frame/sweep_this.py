"""The "Sweep this" action of the Surfaces and Training pages (issue 10).

It opens the Sweeps page with the page's current spec and a starting sweep: the
learning rate on a log grid around the first run's (a decade each way), and for
models two seeds; the axes editor there changes it.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from optlab.ui.state import page_state
from optlab.ui.state.draft import clean


def sweep_spec(draft: dict[str, Any], *, model: bool) -> dict[str, Any]:
    """The draft with a starting sweep over ``optimizer.lr`` (and seeds for models)."""
    spec = copy.deepcopy(clean(draft))
    runs = spec.get("runs") or []
    lr = next(
        (
            float(r["optimizer"]["lr"])
            for r in runs
            if isinstance(r, dict)
            and isinstance(r.get("optimizer"), dict)
            and isinstance(r["optimizer"].get("lr"), int | float)
            and r["optimizer"]["lr"] > 0
        ),
        0.01,
    )
    sweep: dict[str, Any] = {
        "mode": "grid",
        "axes": {"optimizer.lr": {"log": [lr / 10, lr * 10], "num": 4 if model else 9}},
    }
    if model:
        sweep["seeds"] = 2
    spec["sweep"] = sweep
    return spec


def sweep_this(page: str, draft: dict[str, Any], *, model: bool) -> None:
    """A sidebar button that opens the Sweeps page with this spec."""
    if st.button(
        "Sweep this",
        key=f"sweep-this:{page}",
        icon=":material/grid_on:",
        width="stretch",
        help="Open the Sweeps page with this spec and an lr axis around its learning rate",
    ):
        page_state.load_spec(page, sweep_spec(draft, model=model))
