"""The runs editor: add, duplicate, remove runs; label, optimizer, hyperparameters, schedule.

Every run is a bordered card in the run's chart colour.  The optimizer box searches
the whole catalogue (torch.optim and pytorch_optimizer) as you type; its
hyperparameters are form fields built from the catalogue (learning rate on a log
slider first, the rest folded away); the schedule editor handles composites.
Validation messages for a run (``runs[1].optimizer.betas``) appear on its card.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from optlab import settings
from optlab.catalog import optimizers
from optlab.ui import theme
from optlab.ui.forms.hyperparam_form import render_params
from optlab.ui.forms.instrument_fields import instrument_fields
from optlab.ui.forms.scheduler_form import scheduler_editor
from optlab.ui.forms.widgets import new_uid, seed
from optlab.ui.frame.teach import optimizer_teach
from optlab.ui.markdown_text import md_text
from optlab.ui.state import draft as drafts

Extra = Callable[[dict[str, Any], str, int], dict[str, Any]]


@st.cache_data(show_spinner=False)
def optimizer_names() -> list[str]:
    """torch.optim first (the classics), then pytorch_optimizer, each alphabetical."""
    cat = optimizers.catalogue()
    torch_names = [n for n, i in cat.items() if i.source == "torch"]
    extra = sorted((n for n, i in cat.items() if i.source != "torch"), key=str.lower)
    return torch_names + extra


def _opt_label(name: str) -> str:
    info = optimizers.catalogue()[name]
    where = "torch.optim" if info.source == "torch" else "pytorch_optimizer"
    return f"{name}  ·  {where}"


def unique_label(label: str, taken: list[str]) -> str:
    if label not in taken:
        return label
    n = 2
    while f"{label} {n}" in taken:
        n += 1
    return f"{label} {n}"


def _switch(opt: dict[str, Any], name: str) -> dict[str, Any]:
    """A new optimizer keeps the learning rate (when it has one), not the rest."""
    info = optimizers.get_info(name)
    out: dict[str, Any] = {"name": name}
    if "lr" in info.params and "lr" in opt:
        out["lr"] = opt["lr"]
    if info.wraps_optimizer:
        out["optimizer"] = {"name": "Adam", "lr": opt.get("lr", 0.01)}
    return out


def optimizer_select(opt: dict[str, Any], key: str, *, wrapped: bool = False) -> dict[str, Any]:
    """The optimizer box (type to search the catalogue); the spec, switched if it changed."""
    names = [
        n for n in optimizer_names() if not (wrapped and optimizers.get_info(n).wraps_optimizer)
    ]
    current = opt.get("name")
    try:
        current = optimizers.canonical_name(str(current))
    except ValueError:
        current = names[0]
    seed(f"{key}:name", current if current in names else names[0])
    name = st.selectbox(
        "inner optimizer" if wrapped else "optimizer",
        names,
        key=f"{key}:name",
        format_func=_opt_label,
        help="type to search every optimizer of the catalogue",
    )
    return _switch(opt, name) if name != current else {**opt, "name": name}


def optimizer_params(opt: dict[str, Any], key: str) -> dict[str, Any]:
    """The optimizer's hyperparameters: lr on a log slider, the rest folded away."""
    name = opt["name"]
    info = optimizers.get_info(name)
    pkey = f"{key}:{name}"
    values = {k: v for k, v in opt.items() if k not in ("name", "optimizer")}
    first = {k: hp for k, hp in info.params.items() if k == "lr"}
    rest = {k: hp for k, hp in info.params.items() if k != "lr"}
    out: dict[str, Any] = {"name": name}
    out.update(render_params(first, values, pkey))
    if info.wraps_optimizer:
        inner_key = f"{pkey}:inner"
        inner = optimizer_select(opt.get("optimizer") or {"name": "Adam"}, inner_key, wrapped=True)
        out["optimizer"] = optimizer_params(inner, inner_key)
    if rest:
        with st.expander(f"{name} hyperparameters", expanded=not first, icon=":material/tune:"):
            out.update(render_params(rest, values, pkey))
    if info.needs_closure:
        st.caption(f"{name} calls the loss several times per step (a closure).")
    return out


def _stripe(index: int) -> None:
    """A bar in the run's chart colour, so the card and its curves match."""
    st.markdown(
        f"<div style='height:7px;border-radius:4px;background:{theme.run_color(index)};"
        "margin:-2px 0 2px'></div>",
        unsafe_allow_html=True,
    )


def _label(run: dict[str, Any], key: str, taken: list[str]) -> str:
    seed(f"{key}:label", run.get("label") or unique_label("run", taken))
    return st.text_input("label", key=f"{key}:label", max_chars=60)


def run_card(
    page: str,
    run: dict[str, Any],
    index: int,
    *,
    steps: int,
    model: bool,
    taken: list[str],
    extra: Extra | None = None,
    on_duplicate: Callable[[], None],
    on_remove: Callable[[], None] | None,
) -> tuple[dict[str, Any], Any]:
    """One run's card; returns the run as edited and a box for its validation messages."""
    key = drafts.wkey(page, "run", run["_uid"])
    with st.container(border=True):
        _stripe(index)
        top = st.columns([1, 1.6], vertical_alignment="bottom")
        with top[0]:
            label = _label(run, key, taken)
        with top[1]:
            opt = optimizer_select(run.get("optimizer") or {"name": "SGD"}, f"{key}:opt")
        opt = optimizer_params(opt, f"{key}:opt")
        out: dict[str, Any] = {"_uid": run["_uid"], "label": label, "optimizer": opt}
        sched = run.get("scheduler")
        title = f"Schedule: {sched['name']}" if sched else "Schedule: constant lr"
        with st.expander(title, expanded=False, icon=":material/trending_down:"):
            raw_lr = opt.get("lr")
            lr = raw_lr if isinstance(raw_lr, int | float) else 0.01
            new_sched = scheduler_editor(sched, f"{key}:sched", steps=steps, lr=lr, model=model)
        if new_sched:
            out["scheduler"] = new_sched
        # kept as given (no field yet): clipping and the step order (issue 12)
        for kept in ("clip_grad_norm", "scheduler_first"):
            if run.get(kept) not in (None, False):
                out[kept] = run[kept]
        out.update(instrument_fields(run, key, model=model))
        if extra is not None:
            out.update(extra(run, key, index))
        optimizer_teach(opt.get("name", "SGD"))
        errbox = st.container()
        buttons = st.container(horizontal=True, horizontal_alignment="right")
        buttons.button(
            "Duplicate",
            key=f"{key}:dup",
            on_click=on_duplicate,
            type="tertiary",
            icon=":material/content_copy:",
        )
        buttons.button(
            "Remove",
            key=f"{key}:rm",
            on_click=on_remove,
            disabled=on_remove is None,
            type="tertiary",
            icon=":material/delete:",
        )
    return out, errbox


def runs_editor(
    page: str,
    draft: dict[str, Any],
    *,
    steps: int,
    model: bool,
    extra: Extra | None = None,
) -> list[Any]:
    """All run cards plus "Add a run"; edits ``draft['runs']`` in place.

    Returns one message box per run: validation happens once every card is read, then
    :func:`show_run_errors` fills the boxes.
    """
    runs: list[dict[str, Any]] = draft.setdefault("runs", [])
    max_runs = settings.max_runs()
    for run in runs:
        run.setdefault("_uid", new_uid())

    def duplicate(i: int) -> None:
        twin = drafts.with_uids({"runs": [_strip_uids(copy.deepcopy(runs[i]))]})["runs"][0]
        twin["label"] = unique_label(f"{runs[i].get('label', 'run')} copy", _labels(runs))
        runs.insert(i + 1, twin)

    def remove(i: int) -> None:
        del runs[i]

    def add() -> None:
        last = copy.deepcopy(runs[-1]) if runs else {"optimizer": {"name": "Adam", "lr": 0.01}}
        new = drafts.with_uids({"runs": [_strip_uids(last)]})["runs"][0]
        new["label"] = unique_label(new["optimizer"].get("name", "run"), _labels(runs))
        runs.append(new)

    edited, boxes = [], []
    for i, run in enumerate(runs):
        out, box = run_card(
            page,
            run,
            i,
            steps=steps,
            model=model,
            taken=_labels(runs),
            extra=extra,
            on_duplicate=partial(duplicate, i),
            on_remove=partial(remove, i) if len(runs) > 1 else None,
        )
        edited.append(out)
        boxes.append(box)
    st.button(
        "Add a run",
        key=drafts.wkey(page, "add_run"),
        on_click=add,
        disabled=len(runs) >= max_runs,
        help=f"at most {max_runs} runs per experiment",
        icon=":material/add:",
    )
    runs[:] = edited
    return boxes


def show_run_errors(boxes: list[Any], errors: list[tuple[str, str]]) -> None:
    """Each run's validation messages on its own card (paths relative to the run)."""
    for i, box in enumerate(boxes):
        mine = [(p[len(f"runs[{i}]") :].lstrip("."), m) for p, m in errors if _in_run(p, i)]
        for path, msg in mine:
            box.error(f"**{md_text(path or 'run')}** — {md_text(msg)}", icon="⚠️")


def _in_run(path: str, i: int) -> bool:
    return path == f"runs[{i}]" or path.startswith((f"runs[{i}].", f"runs[{i}]["))


def _labels(runs: list[dict[str, Any]]) -> list[str]:
    return [str(r.get("label", "")) for r in runs]


def _strip_uids(value: Any) -> Any:
    return drafts.clean(value)
