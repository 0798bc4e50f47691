"""Sweeps: many runs as one experiment, watched as the trials come in (issue 10).

Left: the experiment (JSON), the axes editor (one row per axis: its dotted path and its
values as the spec writes them), mode, seeds and threshold; **Run sweep** submits it to
the job manager.  Below: live progress (trials done / total, ETA) and the views that
fill in as trials finish: LR sensitivity, the basin-of-attraction map (click a cell to
open that single run live on the Surfaces page), the (lr, momentum) map with the
stability boundary, seed bands and the equal-budget table.
"""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from optlab.problem import get_problem
from optlab.spec import SpecError, parse_spec
from optlab.ui import presets
from optlab.ui.charts import momentum_map
from optlab.ui.charts import sweep_figures as sf
from optlab.ui.charts.themed_chart import themed_chart
from optlab.ui.forms.sweep_axes import axes_editor
from optlab.ui.frame.sidebar import open_page
from optlab.ui.markdown_text import md_text
from optlab.ui.services import experiment_or_none, manager, store
from optlab.ui.state import client, navigation, page_state
from optlab.ui.state import draft as drafts

PAGE = "sweeps"
DEFAULT = presets.get("sweep_himmelblau_basins").spec
_OPEN = "optlab:sweeps:open-trial"
ACTIVE = ("queued", "running")


def _load(spec: dict[str, Any]) -> None:
    page_state.load_spec(PAGE, spec)


# --------------------------------------------------------------------------- the editor


def _editor(draft: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The form: returns the edited draft and its problems (one line each)."""
    problems: list[str] = []
    # widget defaults come from the draft as loaded (this generation), not as edited since
    init = st.session_state.setdefault(drafts.wkey(PAGE, "init"), drafts.clean(draft))
    sweep = dict(init.get("sweep") or {})
    base = {k: v for k, v in init.items() if k != "sweep"}
    text = st.text_area(
        "Experiment (spec JSON without the sweep)",
        json.dumps(base, indent=1),
        height=220,
        key=drafts.wkey(PAGE, "base"),
    )
    try:
        edited = json.loads(text)
        if not isinstance(edited, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        problems.append(f"experiment: not valid JSON ({exc})")
        edited = base
    st.markdown("#### Axes")
    st.caption(
        "Each axis is swept over every run: the paths offered are those that apply to all "
        "of them.  Log and linear points include both ends; a range is the integers "
        "from ≤ k < to."
    )
    axes_out, axis_problems = axes_editor(edited, sweep.get("axes") or {}, drafts.wkey(PAGE, "ax"))
    problems += axis_problems
    new_sweep = _options(sweep, problems)
    new_sweep["axes"] = axes_out
    with st.expander("Sweep as JSON (advanced)"):
        st.code(json.dumps(new_sweep, indent=1), language="json")
    return {**edited, "sweep": new_sweep}, problems


def _options(sweep: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """Mode and trials, seeds, threshold and the equal-budget ``tune``."""
    c1, c2, c3, c4 = st.columns(4)
    modes = ["grid", "random", "halton"]
    mode = c1.selectbox(
        "mode",
        modes,
        index=modes.index(sweep.get("mode", "grid")) if sweep.get("mode") in modes else 0,
        key=drafts.wkey(PAGE, "mode"),
    )
    tune = sweep.get("tune") or {}
    trials = c2.number_input(
        "trials per run (random, halton)",
        min_value=1,
        value=int(sweep.get("trials") or tune.get("trials") or 16),
        key=drafts.wkey(PAGE, "trials"),
        disabled=mode == "grid",
    )
    seeds = c3.number_input(
        "seeds",
        min_value=0,
        value=int(sweep["seeds"]) if isinstance(sweep.get("seeds"), int) else 0,
        key=drafts.wkey(PAGE, "seeds"),
        help="0: no seed axis; n: every point with seeds 0 … n-1",
    )
    threshold = c4.text_input(
        "threshold (loss)",
        "" if sweep.get("threshold") is None else repr(sweep["threshold"]),
        key=drafts.wkey(PAGE, "threshold"),
        help="steps (epochs) to threshold: the first with loss (val loss) at or below it",
    )
    out: dict[str, Any] = {"mode": mode}
    if seeds:
        out["seeds"] = int(seeds)
    elif isinstance(sweep.get("seeds"), list):
        out["seeds"] = sweep["seeds"]
    if threshold.strip():
        try:
            out["threshold"] = float(threshold)
        except ValueError:
            problems.append("sweep.threshold: not a number")
    t1, t2, t3 = st.columns(3)
    tuned = t1.toggle(
        "equal-budget tune",
        value=bool(tune),
        key=drafts.wkey(PAGE, "tune"),
        disabled=mode == "grid",
        help="each run's draws, then its best configuration re-run with new seeds",
    )
    metrics = ["final_loss", "val_loss", "val_acc"]
    metric = t2.selectbox(
        "tune metric",
        metrics,
        index=metrics.index(tune.get("metric", "final_loss")),
        key=drafts.wkey(PAGE, "tune-metric"),
        disabled=not tuned or mode == "grid",
    )
    reruns = t3.number_input(
        "re-run seeds",
        min_value=1,
        value=int(tune.get("rerun_seeds") or 3),
        key=drafts.wkey(PAGE, "tune-seeds"),
        disabled=not tuned or mode == "grid",
    )
    if tuned and mode != "grid":
        out["tune"] = {"trials": int(trials), "metric": metric, "rerun_seeds": int(reruns)}
    elif mode != "grid":
        out["trials"] = int(trials)
    return out


def _validate(draft: dict[str, Any]) -> tuple[Any, list[str]]:
    from optlab.engine.sweep_plan import plan
    from optlab.engine.sweep_work import total_trials

    try:
        spec = parse_spec(drafts.clean(draft))
        plan(spec)
    except SpecError as exc:
        return None, [f"{p}: {m}" if p else m for p, m in exc.errors]
    return (spec, total_trials(spec)), []


def _submit(spec: Any) -> None:
    from optlab.jobs.job import LimitError

    try:
        exp_id = manager().submit(spec, client=client.client_id())
    except (LimitError, SpecError) as exc:
        page_state.notice(PAGE, md_text(exc))
        return
    except Exception as exc:  # the workers could not start (Ray unreachable …): say so
        page_state.notice(PAGE, f"Could not start the sweep: {type(exc).__name__}: {md_text(exc)}")
        return
    page_state.show(PAGE, exp_id)


# --------------------------------------------------------------------------- the views


def _problem(spec: dict[str, Any]) -> Any:
    prob = dict(spec.get("problem") or {})
    cls = get_problem(str(prob.pop("name", "")))
    prob.pop("start", None)
    return cls(cls.Params.model_validate(prob)) if cls.kind == "surface" else None


def _progress(exp: dict[str, Any], result: dict[str, Any]) -> None:
    done, total = result["progress"]["done"], result["progress"]["total"]
    started = exp.get("started")
    end = exp.get("finished") or time.time()
    eta = sf.eta_seconds(done, total, end - started if started else 0.0)
    left = "" if eta is None or exp["status"] not in ACTIVE else f", about {eta:.0f} s left"
    st.progress(min(1.0, done / max(1, total)), text=f"{done} / {total} trials{left}")
    st.caption(f"sweep `{exp['id']}`: **{exp['status']}** {md_text(exp.get('message') or '')}")


def _views(exp_id: str) -> None:
    exp = experiment_or_none(exp_id)
    if exp is None:
        st.info(f"No sweep {md_text(repr(exp_id))} on this server.")
        return
    result = store().sweep_result(exp_id)
    if exp["status"] in ACTIVE and st.button("Cancel sweep", key=f"cancel:{exp_id}"):
        manager().cancel(exp_id)
    if exp["status"] == "interrupted" and st.button(
        "Resume", key=f"resume:{exp_id}", icon=":material/play_arrow:",
        help="run the trials it has not finished (the finished ones are kept, not redone)",
    ):  # fmt: skip
        try:
            manager().resume(exp_id)
        except Exception as exc:  # refused (a limit, not interrupted any more): say so
            st.warning(f"Could not resume: {md_text(exc)}")
        else:
            st.rerun(scope="app")
    _progress(exp, result)
    spec = result["spec"]
    axes = sf.axes(result)
    surface = "steps" in spec and spec.get("epochs") is None
    problem = _problem(spec) if surface else None
    if sf.START in axes and problem is not None:
        color = st.radio(
            "colour by",
            ["minimum", "steps_to_threshold", "final_loss"],
            horizontal=True,
            key=f"basin-colour:{exp_id}",
        )
        fig = sf.basin_map(result, color, problem.minima(), problem.bounds)
        event = themed_chart(fig, key=f"basin:{exp_id}", on_select="rerun", selection_mode="points")
        points = (getattr(event, "selection", None) or {}).get("points") or []
        picked = [p for p in points if p.get("customdata")]
        if picked:
            st.session_state[_OPEN] = (exp_id, int(picked[0]["customdata"][0]))
            st.rerun(scope="app")
        st.caption("Hover a cell for its numbers; click one to open that run live.")
    lr_axis = next((a for a in axes if a.endswith("lr")), None)
    mom_axis = next((a for a in axes if a.endswith("momentum")), None)
    if lr_axis and mom_axis and problem is not None:
        minimum = (problem.minima() or [(0.0, 0.0)])[0]
        eig = momentum_map.hessian_eigenvalues(problem, minimum)
        optimal = spec["problem"]["name"] == "quadratic"
        themed_chart(
            momentum_map.lr_momentum_map(result, lr_axis, mom_axis, eig, optimal=optimal),
            key=f"lrmom:{exp_id}",
        )
        st.caption(f"Hessian at the minimum: λmin = {eig[0]:.4g}, λmax = {eig[1]:.4g}.")
    elif lr_axis:
        name = "final_loss" if surface else st.radio(
            "metric", ["final_loss", "val_acc", "train_loss"], horizontal=True,
            key=f"lr-metric:{exp_id}",
        )  # fmt: skip
        themed_chart(sf.lr_sensitivity(result, lr_axis, name), key=f"lrsens:{exp_id}")
    target = None
    if not surface and any(t.get("epochs") for t in result["trials"]):
        accuracy = any(
            e.get("val_acc") is not None for t in result["trials"] for e in t.get("epochs") or []
        )
        for name in ("val_loss", "val_acc") if accuracy else ("val_loss",):
            themed_chart(sf.seed_bands(result, name), key=f"bands:{name}:{exp_id}")
        target = _target(exp_id, accuracy, spec)
    st.markdown("#### Equal-budget table")
    st.dataframe(sf.budget_rows(result, target), width="stretch", hide_index=True)


def _target(exp_id: str, accuracy: bool, spec: dict[str, Any]) -> tuple[str, float] | None:
    """The model table's target: a metric and its level (the threshold: val loss)."""
    c1, c2 = st.columns(2)
    names = ["val_acc", "val_loss"] if accuracy else ["val_loss"]
    name = c1.selectbox("epochs to target: metric", names, key=f"target-metric:{exp_id}")
    threshold = (spec.get("sweep") or {}).get("threshold")
    default = 0.5 if name == "val_acc" else float(threshold if threshold is not None else 1.0)
    level = c2.number_input(
        f"target {name}", value=default, format="%g", key=f"target-level:{exp_id}:{name}"
    )
    return name, float(level)


def _live(exp_id: str) -> None:
    exp = experiment_or_none(exp_id)
    active = exp is not None and exp["status"] in ACTIVE

    @st.fragment(run_every=0.5 if active else None)
    def poll() -> None:
        _views(exp_id)
        now = experiment_or_none(exp_id)
        if active and (now is None or now["status"] not in ACTIVE):
            st.rerun(scope="app")  # done: redraw once without the timer

    poll()


def _open_trial(pending: tuple[str, int]) -> None:
    """Open one trial of a stored sweep as a single run on its page (live)."""
    from optlab.engine.sweep_plan import Trial

    exp_id, index = pending
    rows = [t for t in store().trial_rows(exp_id) if t["index"] == index]
    stored = experiment_or_none(exp_id)
    if not rows or stored is None:
        return
    row = rows[0]
    spec = parse_spec(stored["spec"])
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in row["values"].items()}
    trial = Trial(index, row["run_index"], row["run"], values, row["seed"], row["phase"])
    single = trial.experiment(spec)
    target = page_state.page_for(single.to_dict())
    try:
        run_id = manager().submit(single, client=client.client_id())
    except Exception as exc:  # a limit: say so here
        page_state.notice(PAGE, f"Could not open trial {index}: {md_text(exc)}")
        return
    page_state.load_spec(target, single.to_dict(), exp_id=run_id)
    navigation.go(target, {"exp": run_id})


def render() -> None:
    draft = open_page(PAGE, DEFAULT, _load)
    pending = st.session_state.pop(_OPEN, None)
    if pending is not None:
        _open_trial(pending)
    st.markdown("### Sweeps")
    draft, problems = _editor(draft)
    checked, errors = _validate(draft) if not problems else (None, [])
    for line in problems + errors:
        st.error(line)
    if checked is not None:
        spec, total = checked
        st.caption(f"{total} trials ({len(spec.runs)} runs × points).")
        if st.button("Run sweep", type="primary", key="run-sweep", icon=":material/play_arrow:"):
            _submit(spec)
    drafts.put(PAGE, draft)
    exp_id = page_state.shown(PAGE)
    if exp_id:
        _live(exp_id)
    page_state.sync_url(PAGE, draft)
