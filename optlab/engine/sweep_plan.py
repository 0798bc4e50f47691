"""A sweep's trials: each run of the spec times each point of the axes (issue 10).

:func:`plan` checks every axis value once per run (substituted alone into the
experiment and parsed, so errors read like ``optlab run``'s and name
``sweep.axes.<name>``), then builds the trials without validating each one.
:meth:`Trial.experiment` gives the single-run experiment a trial equals bit for bit;
it is built with ``model_copy`` from canonical (validated) values, so it is the spec
that ``optlab run`` would validate from its JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from optlab import problem as problems
from optlab.catalog import optimizers, schedulers
from optlab.settings import max_model_trials, max_trials
from optlab.spec import ExperimentSpec, SpecError, parse_spec
from optlab.sweep_spec import START_AXIS, SweepSpec

RUN_FIELDS = frozenset({"optimizer", "scheduler", "param_groups", "clip_grad_norm"})
EXPERIMENT_FIELDS = frozenset({"seed", "problem", "steps", "epochs", "batch_size"})
SEED_AXIS = "seed"
#: generated axes with more points than this are validated at these many points
#: (both ends included) and the rest take the canonical type of the validated ones
VALIDATE_POINTS = 64
_ALLOWED_PATHS = (
    "a run's optimizer.<hyperparameter>, scheduler.<parameter>, param_groups.<i>.<key> or "
    "clip_grad_norm, or the experiment's seed, problem.<field>, steps, epochs, batch_size"
)


@dataclass(frozen=True)
class Trial:
    """One point of the sweep for one run (the optimizer family)."""

    index: int  # position in the sweep (stable: the store's key)
    run: int  # index into spec.runs
    label: str  # spec.runs[run].label
    values: dict[str, Any]  # axis name exactly as written in the spec -> canonical value
    seed: int
    phase: str = "search"  # "search" | "rerun" (tune's re-runs with new seeds)

    def experiment(self, spec: ExperimentSpec) -> ExperimentSpec:
        """The single-run experiment (sweep removed, runs=[that run]) with the values in."""
        return substitute(spec, self.run, self.values, self.seed)


# --------------------------------------------------------------------------- paths


def is_run_axis(name: str) -> bool:
    return name.split(".")[0] in RUN_FIELDS


def get_path(obj: Any, parts: list[str]) -> Any:
    """The value at a dotted path in validated models (extras, lists and tuples too)."""
    for part in parts:
        if isinstance(obj, BaseModel):
            if part in type(obj).model_fields:
                obj = getattr(obj, part)
            else:
                obj = (obj.model_extra or {})[part]
        elif isinstance(obj, list | tuple):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj[part]
        else:
            raise KeyError(part)
    return obj


def set_path(obj: Any, parts: list[str], value: Any) -> Any:
    """A copy of ``obj`` with ``value`` at the path (``model_copy``, never validating)."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(obj, BaseModel):
        if head in type(obj).model_fields:
            current = getattr(obj, head)
        else:
            current = (obj.model_extra or {}).get(head)
        return obj.model_copy(update={head: set_path(current, rest, value)})
    if isinstance(obj, list | tuple):
        items = list(obj)
        i = int(head)
        items[i] = set_path(items[i], rest, value)
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {**obj, head: set_path(obj.get(head), rest, value)}
    raise KeyError(head)


def _set_raw(data: Any, parts: list[str], value: Any) -> Any:
    """Like :func:`set_path` on plain JSON data; missing object keys are created."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(data, list):
        i = int(head) if head.lstrip("-").isdigit() else None
        if i is None or not 0 <= i < len(data):
            raise KeyError(f"there is no item {head} (it has {len(data)})")
        items = list(data)
        items[i] = _set_raw(items[i], rest, value)
        return items
    if isinstance(data, dict):
        return {**data, head: _set_raw(data.get(head), rest, value)}
    if data is None:
        return {head: _set_raw(None, rest, value)}
    raise KeyError(f"{head}: the value there is not an object")


def substitute(spec: ExperimentSpec, run: int, values: dict[str, Any], seed: int) -> ExperimentSpec:
    """The experiment of one run with ``values`` substituted (they must be canonical)."""
    run_spec = spec.runs[run]
    exp_values: list[tuple[list[str], Any]] = []
    for name, value in values.items():
        parts = name.split(".")
        if parts[0] in RUN_FIELDS:
            run_spec = set_path(run_spec, parts, value)
        elif name != SEED_AXIS:
            exp_values.append((parts, value))
    exp = spec.model_copy(update={"sweep": None, "runs": [run_spec], "seed": seed})
    for parts, value in exp_values:
        exp = set_path(exp, parts, value)
    return exp


# --------------------------------------------------------------------------- checking


def _json_key(value: Any) -> str:
    """A key telling values apart exactly (repr keeps every float's bits, 1 vs 1.0 vs True)."""
    return repr(value)


def _sample(axis_values: list[Any], limit: int) -> list[Any]:
    if len(axis_values) <= limit:
        return axis_values
    step = (len(axis_values) - 1) / (limit - 1)
    return [axis_values[round(i * step)] for i in range(limit)]


def _cast_like(value: Any, like: Any) -> Any:
    """An unvalidated point of a generated axis in the type its validated ends took."""
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, int) and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not an integer")
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, tuple):
        return tuple(_cast_like(v, w) for v, w in zip(value, like, strict=True))
    return value


def _friendly(spec: ExperimentSpec, run: int | None, name: str, path: str, msg: str) -> str:
    """Turn a parse error about the substituted value into what the axis must be."""
    parts = name.split(".")
    if msg.startswith("unknown key") and run is not None and path.endswith(name):
        run_spec = spec.runs[run]
        if parts[0] == "optimizer":
            opt = get_path(run_spec, [*parts[:-2], "optimizer"]) if len(parts) > 2 else None
            opt = opt if isinstance(opt, BaseModel) else run_spec.optimizer
            info = optimizers.get_info(opt.name)  # type: ignore[attr-defined]
            allowed = ", ".join(info.params) or "none"
            return f"{info.name} has no hyperparameter {parts[-1]} (it has: {allowed})"
        if parts[0] == "scheduler" and run_spec.scheduler is not None:
            info_s = schedulers.get_info(run_spec.scheduler.name)
            allowed = ", ".join(info_s.params) or "none"
            return f"{info_s.name} has no parameter {parts[-1]} (it has: {allowed})"
    if msg.startswith("unknown key") and parts[0] == "problem":
        cls = problems.get_problem(spec.problem.name)
        allowed = ", ".join(cls.Params.model_fields)
        return f"{cls.name} has no field {parts[-1]} (its fields: {allowed})"
    return f"{path}: {msg}" if path else msg


def _check_start_box(spec: ExperimentSpec, name: str, sweep: SweepSpec) -> str | None:
    axis = sweep.axes[name]
    cls = problems.get_problem(spec.problem.name)
    if not issubclass(cls, problems.Surface):
        return f"{spec.problem.name} trains a model; {START_AXIS} is for 2-D surfaces"
    if axis.kind != "grid":
        return None
    (bx0, bx1), (by0, by1) = cls.bounds
    ok = all(bx0 <= x <= bx1 and by0 <= y <= by1 for x, y in axis.ends())
    if ok:
        return None
    return f"the grid must lie inside {cls.name}'s box: x in [{bx0}, {bx1}], y in [{by0}, {by1}]"


def _limit_error(spec: ExperimentSpec, sweep: SweepSpec) -> SpecError | None:
    per_run = sweep.points_per_run()
    total = len(spec.runs) * (per_run + (sweep.tune.rerun_seeds if sweep.tune else 0))
    surface = spec.is_surface
    limit = max_trials() if surface else max_model_trials()
    if total <= limit:
        return None
    var = "OPTLAB_MAX_TRIALS" if surface else "OPTLAB_MAX_MODEL_TRIALS"
    return SpecError(
        [
            (
                "sweep",
                f"{total} trials ({len(spec.runs)} runs × {per_run} points"
                f"{' + re-runs' if sweep.tune else ''}) is over this server's limit of "
                f"{limit} for {'surfaces' if surface else 'models'} ({var})",
            )
        ]
    )


def _canonical_values(
    spec: ExperimentSpec, base: dict[str, Any], run: int | None, name: str, reps: list[Any]
) -> tuple[dict[str, Any], str | None]:
    """{json key: canonical value} for ``reps`` checked in ``run`` (None: the experiment)."""
    parts = name.split(".")
    out: dict[str, Any] = {}
    for value in reps:
        data = dict(base)
        try:
            if run is not None:
                data["runs"] = [_set_raw(base["runs"][run], parts, value)]
            else:
                data = _set_raw(data, parts, value)
        except (KeyError, ValueError) as exc:
            where = f"run {spec.runs[run].label!r}: " if run is not None else ""
            return out, f"{where}{name}: {str(exc).strip(chr(39))}"
        try:
            parsed = parse_spec(data)
        except SpecError as exc:
            path, msg = exc.errors[0]
            where = f"run {spec.runs[run].label!r}, " if run is not None else ""
            return out, f"{where}value {value!r}: {_friendly(spec, run, name, path, msg)}"
        target = parsed.runs[0] if run is not None else parsed
        out[_json_key(value)] = get_path(target, parts)
    return out, None


def plan(spec: ExperimentSpec) -> list[Trial]:
    """Every search trial of the sweep: runs outermost, then the points, then the seeds.

    Raises :class:`SpecError` naming ``sweep.axes.<name>`` (or the limit) for bad input.
    """
    sweep = spec.sweep
    if sweep is None:
        raise SpecError([("sweep", "this spec has no sweep; run it with `python -m optlab run`")])
    limit = _limit_error(spec, sweep)
    if limit is not None:
        raise limit
    base = spec.to_dict()
    base.pop("sweep", None)
    errors: list[tuple[str, str]] = []
    # canon[(run or None, name)] = (validated {json key: value}, type witness)
    canon: dict[tuple[int | None, str], tuple[dict[str, Any], Any]] = {}
    points = sweep.points(spec.seed)
    for name, axis in sweep.axes.items():
        head = name.split(".")[0]
        where = f"sweep.axes.{name}"
        if head not in RUN_FIELDS and head not in EXPERIMENT_FIELDS:
            errors.append((where, f"unknown axis path; axes are {_ALLOWED_PATHS}"))
            continue
        if name == START_AXIS:
            problem_msg = _check_start_box(spec, name, sweep)
            if problem_msg:
                errors.append((where, problem_msg))
                continue
        drawn = axis.values() if axis.kind == "list" or sweep.mode == "grid" else None
        if drawn is None:  # random/halton: check the drawn values (or the ends)
            drawn = [p[name] for p in points]
        unique = list({_json_key(v): v for v in drawn}.values())
        limit_n = 256 if axis.kind == "list" else VALIDATE_POINTS
        reps = _sample(unique, limit_n)
        if axis.kind == "grid" or len(reps) < len(unique):
            reps = list({_json_key(v): v for v in [*axis.ends(), *reps]}.values())
            reps = reps if axis.kind != "grid" else reps[:4] + reps[4 : 4 + VALIDATE_POINTS]
        runs: list[int | None] = list(range(len(spec.runs))) if head in RUN_FIELDS else [None]
        for run in runs:
            checked, msg = _canonical_values(spec, base, run, name, reps)
            if msg:
                errors.append((where, msg))
                break
            witness = next(iter(checked.values()))
            canon[(run, name)] = (checked, witness)
    if errors:
        raise SpecError(errors)
    seeds = sweep.seed_list()
    trials: list[Trial] = []
    for r, run_spec in enumerate(spec.runs):
        for point in points:
            values: dict[str, Any] = {}
            for name, raw in point.items():
                checked, witness = canon[(r if is_run_axis(name) else None, name)]
                key = _json_key(raw)
                if key in checked:
                    values[name] = checked[key]
                else:
                    try:
                        values[name] = _cast_like(raw, witness)
                    except ValueError as exc:
                        raise SpecError([(f"sweep.axes.{name}", str(exc))]) from None
            seed = int(values[SEED_AXIS]) if SEED_AXIS in values else spec.seed
            for s in seeds if seeds is not None else [seed]:
                trials.append(Trial(len(trials), r, run_spec.label, values, s))
    return trials


# --------------------------------------------------------------------------- tune


def metric_of(result: Any, metric: str) -> float | None:
    """A trial result's tune metric (``val_loss`` of a surface is its final loss)."""
    value = result.val_acc if metric == "val_acc" else result.final_loss
    return float(value) if value is not None and math.isfinite(value) else None


def rerun_seeds(spec: ExperimentSpec) -> list[int]:
    """Tune's re-run seeds: the K seeds after the spec's own (new draws of the noise/data)."""
    assert spec.sweep is not None and spec.sweep.tune is not None
    return [spec.seed + 1 + k for k in range(spec.sweep.tune.rerun_seeds)]


@dataclass
class _Best:
    result: Any = None
    score: float = field(default=math.inf)


def best_results(spec: ExperimentSpec, results: list[Any], metric: str) -> dict[int, Any]:
    """Per run index, the finished search result with the best ``metric``."""
    sign = -1.0 if metric == "val_acc" else 1.0
    best: dict[int, _Best] = {}
    for res in results:
        if res.phase != "search" or res.status != "finished":
            continue
        value = metric_of(res, metric)
        if value is None:
            continue
        slot = best.setdefault(res.run, _Best())
        if sign * value < slot.score:
            slot.result, slot.score = res, sign * value
    return {run: b.result for run, b in best.items() if b.result is not None}


def rerun_plan(spec: ExperimentSpec, trials: list[Trial], results: list[Any]) -> list[Trial]:
    """Tune: each run's best configuration re-run with ``rerun_seeds`` new seeds.

    Indices follow every search trial of the whole sweep (stable whichever subset ran);
    a run with no finished search trial gets no re-runs.
    """
    sweep = spec.sweep
    if sweep is None or sweep.tune is None:
        return []
    start = len(spec.runs) * sweep.points_per_run()
    seeds = rerun_seeds(spec)
    best = best_results(spec, results, sweep.tune.metric)
    out = []
    for run, res in sorted(best.items()):
        for k, seed in enumerate(seeds):
            out.append(
                Trial(
                    start + run * len(seeds) + k,
                    run,
                    spec.runs[run].label,
                    dict(res.values),
                    seed,
                    phase="rerun",
                )
            )
    return out


def axis_kinds(names: Iterable[str]) -> dict[str, str]:
    """What each axis varies: a run's setting, the seed, the start, the noise, or the rest."""
    kinds = {}
    for name in names:
        head = name.split(".")[0]
        if head in RUN_FIELDS:
            kinds[name] = "run"
        elif name in (SEED_AXIS, "problem.start", "problem.noise"):
            kinds[name] = name
        else:
            kinds[name] = "block"
    return kinds
