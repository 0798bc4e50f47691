"""The scheduler part of a run: any ``torch.optim.lr_scheduler`` class with its arguments.

Composites (``SequentialLR``, ``ChainedScheduler``) list their child schedulers,
each with its own arguments; a linear warmup can precede any schedule; models also
choose whether the scheduler steps per update or per epoch.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from optlab.catalog import schedulers
from optlab.ui.forms.hyperparam_form import render_params
from optlab.ui.forms.widgets import new_uid, seed
from optlab.ui.schedule_examples import example

NONE = "(constant lr)"
_SPEC_ONLY = ("name", "interval", "monitor", "warmup", "schedulers", "_uid")


def _kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in _SPEC_ONLY}


def _label(name: str) -> str:
    if name == NONE:
        return name
    info = schedulers.catalogue()[name]
    return f"{name} — {info.description.split('.')[0][:70]}"


def scheduler_select(
    label: str, key: str, current: str | None, *, allow_composite: bool = True
) -> str | None:
    names = [
        n for n, info in schedulers.catalogue().items() if allow_composite or not info.composite
    ]
    if not allow_composite:
        names = [n for n in names if n != "ReduceLROnPlateau"]
    options = [NONE, *names]
    seed(key, current if current in options else NONE)
    chosen = st.selectbox(label, options, key=key, format_func=_label)
    return None if chosen == NONE else chosen


def _drop(items: list[dict[str, Any]], uid: str) -> None:
    items[:] = [item for item in items if item.get("_uid") != uid]


def _children(spec: dict[str, Any], key: str, steps: int, lr: float) -> list[dict[str, Any]]:
    kids = spec.setdefault("schedulers", [])
    for kid in kids:
        kid.setdefault("_uid", new_uid())
    out = []
    for i, kid in enumerate(list(kids)):
        ukey = f"{key}:kid:{kid['_uid']}"
        with st.container(border=True):
            name = scheduler_select(
                f"schedule {i + 1}", f"{ukey}:name", kid.get("name"), allow_composite=False
            )
            if len(kids) > 1:
                st.button(
                    "Remove this schedule",
                    key=f"{ukey}:rm",
                    type="tertiary",
                    icon=":material/close:",
                    on_click=_drop,
                    args=(kids, kid["_uid"]),
                )
            if name is None:
                continue
            if name != kid.get("name"):
                kid = {"_uid": kid["_uid"], **example(name, steps, lr)}
                kids[i] = kid
            info = schedulers.get_info(name)
            values = render_params(info.params, _kwargs(kid), f"{ukey}:{name}", keep=())
            out.append({"_uid": kid["_uid"], "name": name, **values})
    st.button(
        "Add a schedule",
        key=f"{key}:add",
        on_click=kids.append,
        args=({"_uid": new_uid(), **example("CosineAnnealingLR", steps, lr)},),
    )
    kids[:] = out  # the same list object: the buttons' callbacks edit it next run
    return kids


def scheduler_editor(
    spec: dict[str, Any] | None,
    key: str,
    *,
    steps: int,
    lr: float = 0.1,
    model: bool = False,
) -> dict[str, Any] | None:
    """Widgets for one run's scheduler; returns the scheduler spec dict (or None)."""
    spec = dict(spec) if spec else None
    name = scheduler_select("Scheduler", f"{key}:name", spec["name"] if spec else None)
    if name is None:
        return None
    if spec is None or spec.get("name") != name:
        spec = example(name, steps, lr)
    info = schedulers.get_info(name)
    out: dict[str, Any] = {"name": name}
    st.caption(info.description)
    if info.formula:
        st.latex(info.formula)
    if info.composite:
        kids = _children(spec, f"{key}:{name}", steps, lr)
        out["schedulers"] = kids
    out.update(render_params(info.params, _kwargs(spec), f"{key}:{name}", keep=()))
    if model:
        seed(f"{key}:interval", spec.get("interval", "step"))
        interval = st.radio(
            "the schedule steps",
            ["step", "epoch"],
            key=f"{key}:interval",
            horizontal=True,
            format_func=lambda v: "after every update" if v == "step" else "after every epoch",
        )
        if interval != "step":
            out["interval"] = interval
    if name == "ReduceLROnPlateau":
        options = ["loss", "val_loss"] if model else ["loss"]
        seed(f"{key}:monitor", spec.get("monitor", "loss"))
        out["monitor"] = st.selectbox("watches", options, key=f"{key}:monitor")
    elif not info.composite:
        warm = spec.get("warmup") or {}
        cols = st.columns([1.4, 1], vertical_alignment="bottom")
        seed(f"{key}:warm", bool(warm))
        if cols[0].checkbox("linear warmup first", key=f"{key}:warm"):
            seed(f"{key}:warm_steps", int(warm.get("steps", max(steps // 10, 1))))
            w = cols[1].number_input("warmup steps", key=f"{key}:warm_steps", step=1, value=None)
            out["warmup"] = {"steps": w, "start_factor": warm.get("start_factor", 0.01)}
    return out
