"""Per-layer parameter groups of one run: the model's layers, overrides, freeze/unfreeze.

The layer table (name, shape, parameter count) shows what the globs select; each
group overrides lr / weight decay / momentum, or freezes its parameters (optionally
until a step).  Two one-click presets: no weight decay on biases, 10× lr on the head.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pandas as pd
import streamlit as st

from optlab.catalog import optimizers
from optlab.problem import ModelProblem, get_problem
from optlab.ui.forms.widgets import new_uid, seed

OVERRIDES = ("lr", "weight_decay", "momentum")


@st.cache_data(show_spinner=False, max_entries=16)
def layer_table(problem_name: str, params_json: str) -> list[dict[str, Any]]:
    """name, shape and count of every parameter of the problem's model."""
    cls = get_problem(problem_name)
    assert issubclass(cls, ModelProblem), problem_name
    return cls(cls.Params.model_validate_json(params_json)).parameter_table()


def head_pattern(table: list[dict[str, Any]]) -> str:
    """The glob of the last layer (the "head"): ``fc2.*``, ``layer2.*``."""
    last = table[-1]["name"] if table else "*"
    return f"{last.rsplit('.', 1)[0]}.*" if "." in last else last


def no_decay_on_biases() -> dict[str, Any]:
    return {"params": "*.bias", "weight_decay": 0.0}


def head_lr(table: list[dict[str, Any]], lr: float) -> dict[str, Any]:
    return {"params": head_pattern(table), "lr": float(f"{10 * lr:.6g}")}


def matches(group: dict[str, Any], names: list[str]) -> list[str]:
    patterns = group.get("params") or []
    patterns = [patterns] if isinstance(patterns, str) else patterns
    return [n for n in names if any(fnmatchcase(n, str(p)) for p in patterns)]


def _patterns_text(value: Any) -> str:
    return value if isinstance(value, str) else ", ".join(map(str, value or []))


def _parse_patterns(text: str) -> str | list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def _group_row(
    group: dict[str, Any], key: str, keys: list[str], names: list[str], remove: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"_uid": group["_uid"]}
    cols = st.columns([2.2, *([1.2] * len(keys)), 0.9, 1.1, 0.5], vertical_alignment="bottom")
    seed(f"{key}:params", _patterns_text(group.get("params")))
    text = cols[0].text_input("parameters (globs)", key=f"{key}:params", help="e.g. fc*, *.bias")
    out["params"] = _parse_patterns(text)
    for col, name in zip(cols[1:], keys, strict=False):
        seed(f"{key}:{name}", group.get(name))
        value = col.number_input(
            name, key=f"{key}:{name}", value=None, format="%g", step=None, placeholder="inherit"
        )
        if value is not None:
            out[name] = value
    seed(f"{key}:frozen", bool(group.get("frozen")))
    frozen = cols[-3].checkbox("frozen", key=f"{key}:frozen")
    if frozen:
        out["frozen"] = True
        seed(f"{key}:unfreeze", group.get("unfreeze_at_step"))
        at = cols[-2].number_input(
            "unfreeze at step",
            key=f"{key}:unfreeze",
            value=None,
            step=1,
            format="%d",
            placeholder="never",
        )
        if at is not None:
            out["unfreeze_at_step"] = at
    cols[-1].button("✕", key=f"{key}:rm", on_click=remove, help="remove this group")
    hit = matches(out, names)
    st.caption(
        f"matches {len(hit)}: {', '.join(hit[:8])}{' …' if len(hit) > 8 else ''}"
        if hit
        else "matches no parameter yet"
    )
    return out


def group_editor(run: dict[str, Any], key: str, problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's ``param_groups`` as edited (an expander on the run's card)."""
    groups: list[dict[str, Any]] = run.setdefault("param_groups", [])
    for g in groups:
        g.setdefault("_uid", new_uid())
    name = str(problem.get("name", ""))
    cls = get_problem(name)
    try:
        params_json = cls.Params.model_validate(
            {k: v for k, v in problem.items() if k != "name"}
        ).model_dump_json()
    except Exception:
        params_json = cls.Params().model_dump_json()
    table = layer_table(name, params_json)
    names = [row["name"] for row in table]
    opt = run.get("optimizer") or {}
    try:
        allowed = optimizers.get_info(str(opt.get("name", "SGD"))).group_keys
    except ValueError:
        allowed = frozenset({"lr"})
    keys = [k for k in OVERRIDES if k in allowed]
    raw_lr = opt.get("lr")
    lr = raw_lr if isinstance(raw_lr, int | float) else 0.01

    def add(group: dict[str, Any]) -> None:
        groups.append({"_uid": new_uid(), **group})

    def remove(i: int) -> None:
        del groups[i]

    title = f"Per-layer groups ({len(groups)})" if groups else "Per-layer groups"
    with st.expander(title, icon=":material/layers:"):
        frame = pd.DataFrame(
            [
                {
                    "layer": r["name"],
                    "shape": " × ".join(map(str, r["shape"])),
                    "parameters": r["count"],
                }
                for r in table
            ]
        )
        st.dataframe(frame, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 260))
        b = st.columns(3)
        b[0].button(
            "No weight decay on biases",
            key=f"{key}:nodecay",
            on_click=add,
            args=(no_decay_on_biases(),),
            disabled="weight_decay" not in allowed,
        )
        b[1].button(
            "10× lr on the head", key=f"{key}:head", on_click=add, args=(head_lr(table, lr),)
        )
        b[2].button("Add a group", key=f"{key}:add", on_click=add, args=({"params": "*"},))
        out = [
            _group_row(g, f"{key}:g:{g['_uid']}", keys, names, lambda i=i: remove(i))
            for i, g in enumerate(groups)
        ]
        if groups:
            st.caption(
                "The first matching group wins; unmatched parameters keep the run's settings."
            )
    groups[:] = out  # the same list object: the buttons' callbacks edit it next run
    return groups
