"""A run's instrument switches (issue 12): ``record_state`` and, for models, ``record_sharpness``.

Off by default (they cost time and store space).  The values go into the run's spec as
written; the spec's own validation names a bad ``every``/``iters``
(``runs[i].record_sharpness.every``) on the run's card, like every other field.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

#: the engine's defaults for a new record_sharpness (every k updates, n power iterations)
SHARPNESS_DEFAULT = {"every": 10, "iters": 20}


def instrument_fields(run: dict[str, Any], key: str, *, model: bool) -> dict[str, Any]:
    """The run's ``record_state`` / ``record_sharpness`` entries as the widgets set them."""
    out: dict[str, Any] = {}
    on = run.get("record_state") not in (None, False) or run.get("record_sharpness") is not None
    with st.expander("Instruments", expanded=on, icon=":material/speed:"):
        state = st.checkbox(
            "record the optimizer's state",
            value=bool(run.get("record_state")),
            key=f"{key}:record_state",
            help=(
                "keeps optimizer.state after every update (momentum buffer, Adam's m and v…): "
                "arrows and the step inspector on the contour"
                if not model
                else "keeps the L2 norm of every state tensor per parameter group after each update"
            ),
        )
        if state:
            out["record_state"] = True
        if model:
            sharp = run.get("record_sharpness")
            enabled = st.checkbox(
                "record sharpness (λ_max of the loss Hessian)",
                value=sharp is not None,
                key=f"{key}:record_sharpness",
                help="every k updates, n Hessian-vector power iterations on a fixed batch; "
                "plotted against 2/lr (the edge of stability)",
            )
            if enabled:
                given = sharp if isinstance(sharp, dict) else SHARPNESS_DEFAULT
                cols = st.columns(2)
                every = cols[0].number_input(
                    "every (updates)",
                    value=_int(given.get("every"), SHARPNESS_DEFAULT["every"]),
                    step=1,
                    key=f"{key}:sharp_every",
                )
                iters = cols[1].number_input(
                    "power iterations",
                    value=_int(given.get("iters"), SHARPNESS_DEFAULT["iters"]),
                    step=1,
                    key=f"{key}:sharp_iters",
                )
                out["record_sharpness"] = {"every": int(every), "iters": int(iters)}
    return out


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default
