"""``python -m optlab check``: the classic pitfalls of a valid spec, named (issue 12 §4).

:func:`check_spec` works on a validated :class:`ExperimentSpec` and returns
:class:`Pitfall` (field path, message) pairs; ``optlab check``, ``run`` and ``sweep``
print each as ``warning: <field>: <what happens and the fix>`` on stderr.  A warning
never stops anything: the spec is valid, it is probably not what its author meant.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from optlab.catalog import optimizers
from optlab.catalog.schedulers import ExprLambda
from optlab.problem import ModelProblem, Surface
from optlab.spec import ExperimentSpec, RunSpec, SchedulerSpec

#: per-minibatch stepping of a schedule written in epochs matters from this many steps/epoch
MANY_STEPS_PER_EPOCH = 10
#: optimizers that adapt their own step size and want lr ≈ 1
SELF_TUNING = ("DAdapt", "Prodigy")
#: "decays far faster than meant": the per-step schedule ends below this factor of the lr
TINY_FACTOR = 1e-2


@dataclass(frozen=True)
class Pitfall:
    field: str
    message: str

    def line(self) -> str:
        return f"warning: {self.field}: {self.message}"


def _walk(sched: SchedulerSpec, budget: int, path: str) -> Iterator[tuple[str, SchedulerSpec, int]]:
    """Every scheduler of a (nested) schedule with how many times it is stepped, as
    ``optlab.catalog.schedulers`` builds it (warmup first, SequentialLR's segments)."""
    yield path, sched, budget
    inner = budget - sched.warmup.steps if sched.warmup is not None else budget
    if sched.name == "SequentialLR":
        marks = [0, *sched.kwargs.get("milestones", []), inner]
        for i, child in enumerate(sched.schedulers or []):
            yield from _walk(child, max(0, marks[i + 1] - marks[i]), f"{path}.schedulers[{i}]")
    for i, child in enumerate(sched.schedulers or []) if sched.name == "ChainedScheduler" else []:
        yield from _walk(child, inner, f"{path}.schedulers[{i}]")


def _factor(sched: SchedulerSpec, n: int) -> float:
    """lr factor of a LambdaLR / MultiplicativeLR / ExponentialLR after n steps (min over
    per-group lambdas); NaN where an expression cannot be evaluated."""
    try:
        if sched.name == "ExponentialLR":
            return float(sched.kwargs.get("gamma", 1.0)) ** n
        texts = sched.kwargs.get("lr_lambda", "1")
        out = math.inf
        for text in [texts] if isinstance(texts, str) else texts:
            f = ExprLambda(text)
            if sched.name == "LambdaLR":
                value = abs(f(n)) / max(abs(f(0)), 1e-300)
            else:
                value = math.prod(f(k) for k in range(1, n + 1))
            out = min(out, value)
        return out
    except (ArithmeticError, TypeError, ValueError, OverflowError):
        return math.nan


def _epoch_schedule(
    where: str, sched: SchedulerSpec, epochs: int, per_epoch: int
) -> Pitfall | None:
    """A schedule written in epochs but stepped every minibatch (the classic tutorial bug)."""
    steps = epochs * per_epoch
    kwargs = sched.kwargs
    tail = (
        f"stepped every minibatch ({per_epoch} per epoch) it decays {per_epoch}× faster than "
        "written in epochs; set the scheduler's interval to epoch (or scale it to "
        f"{steps} steps)"
    )
    if sched.name == "StepLR" and int(kwargs.get("step_size", 0)) <= epochs:
        return Pitfall(
            f"{where}.step_size", f"step_size {kwargs['step_size']} looks like epochs: {tail}"
        )
    if sched.name == "MultiStepLR" and max(kwargs.get("milestones") or [steps]) <= epochs:
        return Pitfall(f"{where}.milestones", f"milestones look like epochs: {tail}")
    if sched.name in ("ExponentialLR", "LambdaLR", "MultiplicativeLR"):
        if sched.name == "LambdaLR":
            texts = kwargs.get("lr_lambda", "")
            if "epoch" not in "".join([texts] if isinstance(texts, str) else texts):
                return None
        per_step, per_epoch_end = _factor(sched, steps - 1), _factor(sched, epochs - 1)
        if per_step < TINY_FACTOR and per_step < 0.1 * per_epoch_end:
            key = "gamma" if sched.name == "ExponentialLR" else "lr_lambda"
            return Pitfall(
                f"{where}.{key}",
                f"the lr falls to {per_step:.2g}× its start by the end (per epoch it would be "
                f"{per_epoch_end:.2g}×): {tail}",
            )
    return None


def _schedule_pitfalls(
    run: RunSpec, r: int, budget: int, epochs: int | None, per_epoch: int | None
) -> list[Pitfall]:
    sched = run.scheduler
    assert sched is not None
    out: list[Pitfall] = []
    for where, s, n in _walk(sched, budget, f"runs[{r}].scheduler"):
        kwargs = s.kwargs
        if s.warmup is not None and s.warmup.steps >= n:
            out.append(
                Pitfall(
                    f"{where}.warmup.steps",
                    f"the warmup lasts {s.warmup.steps} scheduler steps but the run steps "
                    f"it {n} times: the lr never reaches its peak; shorten the warmup",
                )
            )
        if s.name == "CosineAnnealingLR" and int(kwargs.get("T_max", n)) < n:
            out.append(
                Pitfall(
                    f"{where}.T_max",
                    f"T_max {kwargs['T_max']} is shorter than the {n} steps it runs: after "
                    f"T_max the lr climbs back up to its start; set T_max to {n}",
                )
            )
        if s.name == "OneCycleLR":
            length = kwargs.get("total_steps")
            if length is None and kwargs.get("epochs") and kwargs.get("steps_per_epoch"):
                length = int(kwargs["epochs"]) * int(kwargs["steps_per_epoch"])
            if length is not None and int(length) != n:
                out.append(
                    Pitfall(
                        f"{where}.total_steps",
                        f"OneCycleLR lasts {length} steps but the run steps it {n} times"
                        + (
                            ": the cycle never finishes (the lr stays high at the end)"
                            if int(length) > n
                            else ": torch stops with an error after the cycle"
                        )
                        + "; leave total_steps out to fit the run",
                    )
                )
        if s.name == "SequentialLR":
            late = [
                m
                for m in kwargs.get("milestones", [])
                if m >= n - (s.warmup.steps if s.warmup else 0)
            ]
            if late:
                out.append(
                    Pitfall(
                        f"{where}.milestones",
                        f"milestone(s) {late} are at or past the run's end ({n} steps): "
                        "the schedulers after them never run",
                    )
                )
        if s.name in ("CyclicLR", "OneCycleLR") and kwargs.get("cycle_momentum", True):
            momenta = _momenta(run)
            if run.optimizer.name == "SGD" and any(m == 0 for m in momenta):
                out.append(
                    Pitfall(
                        f"{where}.cycle_momentum",
                        "cycle_momentum (on by default) turns momentum on for this SGD run "
                        "whose momentum is 0 (it cycles between base_momentum and "
                        "max_momentum); set cycle_momentum to false to keep plain SGD",
                    )
                )
        many = per_epoch is not None and per_epoch >= MANY_STEPS_PER_EPOCH
        if many and epochs is not None and sched.interval == "step":
            assert per_epoch is not None
            found = _epoch_schedule(where, s, epochs, per_epoch)
            if found is not None:
                out.append(found)
    if per_epoch is not None and sched.name == "ReduceLROnPlateau" and sched.monitor != "val_loss":
        out.append(
            Pitfall(
                f"runs[{r}].scheduler.monitor",
                "ReduceLROnPlateau watches the training loss"
                + (
                    " of each minibatch (noisy: it reduces on noise)"
                    if sched.interval == "step"
                    else ""
                )
                + " while a validation loss exists; set monitor to val_loss and interval to epoch",
            )
        )
    if run.scheduler_first:
        out.append(
            Pitfall(
                f"runs[{r}].scheduler_first",
                "scheduler.step() runs before optimizer.step() (PyTorch < 1.1 order): the "
                "schedule's first value is skipped and every lr comes one step early; "
                "call optimizer.step() first",
            )
        )
    return out


def _momenta(run: RunSpec) -> list[float]:
    base = float(run.optimizer.kwargs.get("momentum", 0.0) or 0.0)
    groups = [float(g.overrides.get("momentum", base) or 0.0) for g in run.param_groups]
    return [base, *groups]


def _adam_weight_decay(run: RunSpec, r: int) -> list[Pitfall]:
    spec = optimizers.innermost(run.optimizer)
    if spec.name != "Adam":
        return []
    where = f"runs[{r}].optimizer" if spec is run.optimizer else f"runs[{r}].optimizer.optimizer"
    values = [(f"{where}.weight_decay", spec.kwargs.get("weight_decay", 0.0))]
    values += [
        (f"runs[{r}].param_groups[{g}].weight_decay", group.overrides.get("weight_decay", 0.0))
        for g, group in enumerate(run.param_groups)
    ]
    out = []
    for field, wd in values:
        if wd and float(wd) > 0 and not spec.kwargs.get("decoupled_weight_decay", False):
            out.append(
                Pitfall(
                    field,
                    "Adam's weight_decay is L2 added to the gradient, then divided by √v: "
                    "weights with large gradients barely decay; AdamW (decoupled decay) "
                    "was probably meant",
                )
            )
    return out


def _group_pitfalls(run: RunSpec, r: int, total_steps: int) -> list[Pitfall]:
    out = []
    for g, group in enumerate(run.param_groups):
        if group.frozen and (
            group.unfreeze_at_step is None or group.unfreeze_at_step >= total_steps
        ):
            out.append(
                Pitfall(
                    f"runs[{r}].param_groups[{g}].frozen",
                    "this group is frozen and never unfreezes within the run"
                    + ("" if group.unfreeze_at_step is None else f" ({total_steps} updates)")
                    + ": its parameters never train; set unfreeze_at_step or drop the group",
                )
            )
    name = optimizers.innermost(run.optimizer).name
    if name.startswith(SELF_TUNING):
        lrs = [(f"runs[{r}].optimizer.lr", run.optimizer.kwargs.get("lr", 1.0))]
        lrs += [
            (f"runs[{r}].param_groups[{g}].lr", group.overrides["lr"])
            for g, group in enumerate(run.param_groups)
            if "lr" in group.overrides
        ]
        for field, lr in lrs:
            if lr is not None and not 0.5 <= float(lr) <= 2.0:
                out.append(
                    Pitfall(
                        field,
                        f"{name} adapts its own step size and multiplies it by lr: "
                        f"lr {lr:g} scales every step; keep lr ≈ 1 (use d0 or "
                        "growth_rate to change the start)",
                    )
                )
    return out


def _stability_pitfalls(spec: ExperimentSpec, problem: Surface) -> list[Pitfall]:
    from optlab.engine.curvature import point_curvature, run_stability
    from optlab.engine.experiment import preview_schedule

    lam_max = point_curvature(problem, problem.start)["eigenvalues"][-1]
    out = []
    lrs = preview_schedule(spec)["runs"]
    for r, run in enumerate(spec.runs):
        limit = run_stability(run, lam_max)["stability_limit"]
        if limit is None:
            continue
        peak = max((v for row in lrs[r]["lr"] for v in row if v is not None), default=0.0)
        if peak > limit:
            out.append(
                Pitfall(
                    f"runs[{r}].optimizer.lr",
                    f"the lr reaches {peak:g}, above this quadratic's stability limit "
                    f"{limit:.4g} for {run.optimizer.name} with these settings: the run "
                    f"diverges; keep the lr below {limit:.4g} (see `optlab analyze`)",
                )
            )
    return out


def check_spec(spec: ExperimentSpec) -> list[Pitfall]:
    """Every pitfall of a validated spec, in run order."""
    problem = spec.problem.build()
    out: list[Pitfall] = []
    epochs = per_epoch = None
    if isinstance(problem, ModelProblem):
        epochs = int(spec.epochs or problem.default_epochs)
        batch = int(spec.batch_size or problem.default_batch_size)
        per_epoch = math.ceil(problem.train_size(spec.seed) / batch)
        total = epochs * per_epoch
    else:
        total = int(spec.steps or 0)
    for r, run in enumerate(spec.runs):
        if run.scheduler is not None:
            interval = run.scheduler.interval
            budget = epochs if (interval == "epoch" and epochs is not None) else total
            out += _schedule_pitfalls(run, r, int(budget), epochs, per_epoch)
        out += _adam_weight_decay(run, r)
        out += _group_pitfalls(run, r, total)
    if isinstance(problem, Surface) and problem.quadratic:
        out += _stability_pitfalls(spec, problem)
    return out


def warning_lines(spec: ExperimentSpec) -> list[str]:
    return [p.line() for p in check_spec(spec)]
