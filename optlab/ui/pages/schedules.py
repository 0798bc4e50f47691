"""Schedules: preview learning-rate schedules instantly, overlaid, per parameter group.

No training happens: ``engine.preview_schedule`` steps the very optimizer and
scheduler objects a run would use, so the curves are exactly what a run records.
Below, every scheduler of ``torch.optim.lr_scheduler`` in one gallery.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pandas as pd
import streamlit as st

from optlab.catalog import schedulers
from optlab.engine.experiment import preview_schedule
from optlab.spec import parse_spec
from optlab.ui import presets, theme
from optlab.ui.charts.figures import schedule_figure
from optlab.ui.charts.live_chart import live_chart
from optlab.ui.charts.schedule_gallery import (
    GALLERY_LR,
    GALLERY_STEPS,
    gallery_figure,
    gallery_specs,
)
from optlab.ui.forms.hyperparam_form import log_input
from optlab.ui.forms.scheduler_form import scheduler_editor
from optlab.ui.forms.widgets import fmt_num, new_uid, seed
from optlab.ui.frame.sidebar import presets_section
from optlab.ui.markdown_text import md_text
from optlab.ui.state import draft as drafts
from optlab.ui.state.validation import show_errors, validate

PAGE = "schedules"
DEFAULT = presets.get("schedules_warmup_vs_step").spec
#: per-group mode trains nothing but needs a model with two layers: the MLP problem
GROUP_PROBLEM = {"name": "mse_regression", "n_samples": 1000, "val_fraction": 0.2}
STEPS_PER_EPOCH = 25  # 800 training examples / batch 32


@st.cache_data(show_spinner=False, max_entries=64)
def _preview(spec_json: str) -> dict[str, Any]:
    """The lr curves of a spec given as the form's JSON (validated again here)."""
    return preview_schedule(parse_spec(spec_json))


def _preview_or_error(spec_dict: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return _preview(json.dumps(drafts.clean(spec_dict), sort_keys=True))
    except Exception as exc:  # a schedule torch refuses to build: a message, not a traceback
        st.error(f"This schedule cannot be built: {md_text(exc)}", icon="⚠️")
        return None


def _to_spec(
    curves: list[dict[str, Any]], steps: int, groups: bool, head_factor: float
) -> dict[str, Any]:
    runs = []
    for c in curves:
        run: dict[str, Any] = {"label": c["label"], "optimizer": {"name": "SGD", "lr": c["lr"]}}
        if c.get("scheduler"):
            run["scheduler"] = c["scheduler"]
        if groups:
            run["param_groups"] = [{"params": "layer2.*", "lr": c["lr"] * head_factor}]
        runs.append(run)
    if groups:
        epochs = max(1, math.ceil(steps / STEPS_PER_EPOCH))
        return {"problem": dict(GROUP_PROBLEM), "epochs": epochs, "batch_size": 32, "runs": runs}
    return {"problem": {"name": "quadratic"}, "steps": steps, "runs": runs}


def _curves_from(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for run in spec.get("runs") or []:
        out.append(
            {
                "_uid": new_uid(),
                "label": run.get("label", "schedule"),
                "lr": (run.get("optimizer") or {}).get("lr", 0.1),
                "scheduler": copy.deepcopy(run.get("scheduler")),
            }
        )
    return out


def _curve_card(
    curve: dict[str, Any], i: int, steps: int, model: bool, remove: Any
) -> dict[str, Any]:
    key = drafts.wkey(PAGE, "curve", curve["_uid"])
    with st.container(border=True):
        st.markdown(
            f"<div style='height:7px;border-radius:4px;background:{theme.run_color(i)}'></div>",
            unsafe_allow_html=True,
        )
        cols = st.columns([2, 1], vertical_alignment="bottom")
        seed(f"{key}:label", curve.get("label", f"schedule {i + 1}"))
        label = cols[0].text_input("label", key=f"{key}:label")
        cols[1].button(
            "Remove", key=f"{key}:rm", on_click=remove, type="tertiary", icon=":material/delete:"
        )
        lr = log_input("initial lr", f"{key}:lr", curve.get("lr", 0.1))
        lr_value = lr if isinstance(lr, int | float) else 0.1
        sched = scheduler_editor(
            curve.get("scheduler"), f"{key}:sched", steps=steps, lr=lr_value, model=model
        )
    return {"_uid": curve["_uid"], "label": label, "lr": lr, "scheduler": sched}


def _editor(state: dict[str, Any]) -> tuple[int, bool, float]:
    cols = st.columns(2)
    k = drafts.wkey(PAGE, "steps")
    seed(k, int(state.get("steps", 1000)))
    steps = cols[0].number_input("Steps", key=k, value=None, step=50, format="%d")
    k = drafts.wkey(PAGE, "groups")
    seed(k, bool(state.get("groups", False)))
    groups = cols[1].toggle(
        "Two param groups", key=k, help="layer1 at the lr, layer2 (the head) at a multiple"
    )
    factor: float | None = 10.0
    if groups:
        k = drafts.wkey(PAGE, "factor")
        seed(k, float(state.get("factor", 10.0)))
        factor = st.number_input("head lr multiple", key=k, value=None, format="%g", step=1.0)
    curves: list[dict[str, Any]] = state["curves"]

    def remove(i: int) -> None:
        del curves[i]

    def add() -> None:
        curves.append(
            {
                "_uid": new_uid(),
                "label": f"schedule {len(curves) + 1}",
                "lr": 0.1,
                "scheduler": {"name": "CosineAnnealingLR", "T_max": int(steps or 1000)},
            }
        )

    edited = [
        _curve_card(c, i, int(steps or 100), groups, lambda i=i: remove(i))
        for i, c in enumerate(curves)
    ]
    curves[:] = edited
    st.button("Add a schedule", key=drafts.wkey(PAGE, "add"), on_click=add, icon=":material/add:")
    state.update(steps=steps, groups=groups, factor=factor)
    return int(steps or 0), groups, float(factor or 10.0)


def _load(spec: dict[str, Any]) -> None:
    steps = spec.get("steps") or (spec.get("epochs", 1) * STEPS_PER_EPOCH)
    drafts.replace(PAGE, {"steps": steps, "groups": "epochs" in spec, "curves": _curves_from(spec)})


def _describe(run: Any) -> str:
    if run.scheduler is None:
        return "constant"
    try:
        return schedulers.describe(run.scheduler)
    except Exception:
        return run.scheduler.name


def render() -> None:
    st.html(theme.PAGE_CSS)
    state = drafts.get(PAGE)
    if state is None:
        _load(DEFAULT)
        state = drafts.get(PAGE) or {}
    with st.sidebar:
        presets_section(PAGE, _load)
    left, right = st.columns([5, 7], gap="large")
    with left:
        steps, groups, factor = _editor(state)
    spec_dict = _to_spec(state["curves"], steps, groups, factor)
    spec, errors = validate(spec_dict)
    with right:
        st.markdown("#### Learning rate per step" + (" and parameter group" if groups else ""))
        preview = None
        if spec is None:
            show_errors(errors, title="Fix these settings to see the curves")
        else:
            preview = _preview_or_error(spec_dict)
        if preview is not None and spec is not None:
            live_chart(schedule_figure(preview["runs"]), key="schedules:preview", height=480)
            rows = []
            for run, curve in zip(spec.runs, preview["runs"], strict=True):
                first = curve["lr"][0] if curve["lr"] else []
                last = curve["lr"][-1] if curve["lr"] else []
                rows.append(
                    {
                        "schedule": run.label,
                        "what": _describe(run),
                        "first lr": " / ".join(fmt_num(v) for v in first),
                        "last lr": " / ".join(fmt_num(v) for v in last),
                    }
                )
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            if groups:
                st.caption(
                    "Solid: layer2 (the head, first group); dashed: layer1 (the default group)."
                )
    st.markdown("#### Every scheduler in torch.optim.lr_scheduler")
    st.caption(f"Each with example arguments, from lr {GALLERY_LR} over {GALLERY_STEPS} steps.")
    parts = [_preview_or_error(spec) for spec in gallery_specs()]
    if all(p is not None for p in parts):
        gallery = {"runs": [run for p in parts if p is not None for run in p["runs"]]}
        live_chart(gallery_figure(gallery), key="schedules:gallery", height=1150)
    drafts.put(PAGE, state)
