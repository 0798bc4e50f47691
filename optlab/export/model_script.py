"""Export a model experiment as a standalone PyTorch script: the generic training loop.

The script is the textbook training loop, one run after another, and reproduces the
engine's numbers (``optlab/engine/model_runner.py``): the same initial weights (torch
seeded, then the model built), the same per-epoch permutation (a generator seeded with
``seed * 1_000_003 + epoch``, batches as index slices, the last partial batch kept),
the same augmentation draws (``seed * 7_919 + epoch``), the same parameter groups
(first matching glob wins, default group last), the same scheduler stepping and the
same validation (eval mode, batches of ``EVAL_BATCH``, float32 sums).  The problem
writes its own data pipeline, model and loss (:meth:`ModelProblem.export_code`), so
this module names no problem.
"""

from __future__ import annotations

import math

from optlab.catalog import optimizers
from optlab.engine.model_runner import EVAL_BATCH
from optlab.export.common import (
    MODES_HELPER,
    header,
    needs_closure,
    run_functions,
    train_eval_modes,
    value_code,
)
from optlab.problem import ModelProblem
from optlab.spec import ExperimentSpec, RunSpec

GROUPS_HELPER = '''
SPEC_ONLY = ("params", "frozen", "unfreeze_at_step")  # group keys that are not optimizer settings


def param_groups(model, groups):
    """Optimizer groups the engine's way: every parameter joins the first group whose glob
    matches its name, the rest form the default group (last).  Frozen groups stay out
    (requires_grad off); those with an unfreeze step come back as {step: [group, ...]}."""
    members = [[] for _ in groups]
    default = []
    for name, param in model.named_parameters():
        for i, group in enumerate(groups):
            if any(fnmatchcase(name, pattern) for pattern in group["params"]):
                members[i].append(param)
                break
        else:
            default.append(param)
    active, later = [], []
    for group, params in zip(groups, members):
        settings = {k: v for k, v in group.items() if k not in SPEC_ONLY}
        if not group.get("frozen"):
            active.append({"params": params, **settings})
            continue
        for param in params:
            param.requires_grad_(False)
        if group.get("unfreeze_at_step") is not None:
            later.append((group["unfreeze_at_step"], {"params": params, **settings}))
    if default:
        active.append({"params": default})
    joining = {}
    for step, group in sorted(later, key=lambda item: item[0]):
        joining.setdefault(step, []).append(group)
    return active, joining


def unfreeze(group, optimizer):
    """Let a frozen group learn again: it joins the optimizer before this update."""
    for param in group["params"]:
        param.requires_grad_(True)
        param.grad = None
    optimizer.add_param_group(group)
'''

LOOP = '''
@torch.no_grad()
def evaluate(model, val_x, val_y):
    """Mean validation loss, in eval mode, in batches of EVAL_BATCH."""
    model.eval()
    n = val_x.shape[0]
    total = torch.zeros((), device=DEVICE)
    for start in range(0, n, EVAL_BATCH):
        index = torch.arange(start, min(n, start + EVAL_BATCH), device=DEVICE)
        x, y = val_batch(val_x, val_y, index)
        total += loss_fn(model(x), y) * y.shape[0]
    model.train()
    return float(total) / n


def train(label, data, make_optimizer, make_scheduler, groups=(), interval="step",
          monitor="loss", clip_grad_norm=None, needs_closure=False, modes=False,
          scheduler_first=False):
    train_x, train_y, val_x, val_y = data
    n_train = train_x.shape[0]
    steps_per_epoch = math.ceil(n_train / BATCH_SIZE)
    torch.manual_seed(SEED)  # every run starts from the same initial weights
    model = prepare(build_model())
    model.train()
    params, joining = param_groups(model, groups)
    optimizer = make_optimizer(params)
    scheduler = make_scheduler(optimizer)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    val_loss = None
    for epoch in range(EPOCHS):
        # the same shuffle (and augmentation draws) for every run
        order = torch.Generator(device=DEVICE).manual_seed(SEED * 1_000_003 + epoch)
        perm = torch.randperm(n_train, generator=order, device=DEVICE)
        aug = torch.Generator(device=DEVICE).manual_seed(SEED * 7_919 + epoch)
        loss_sum = 0.0
        for b in range(steps_per_epoch):
            for group in joining.get(epoch * steps_per_epoch + b, []):
                unfreeze(group, optimizer)
            if scheduler_first and scheduler is not None and (interval == "step" or b == 0):
                scheduler.step()  # PyTorch < 1.1's order: the schedule's first value is skipped
            index = perm[b * BATCH_SIZE : (b + 1) * BATCH_SIZE]
            x, y = train_batch(train_x, train_y, index, aug)

            def clip():
                trained = [p for g in optimizer.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_([p for p in trained if p.grad is not None],
                                               clip_grad_norm)

            def closure():
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                if clip_grad_norm is not None and needs_closure:
                    clip()  # every gradient the optimizer sees is clipped
                return loss

            loss = closure()
            if clip_grad_norm is not None and not needs_closure:
                clip()
            if needs_closure:
                optimizer.step(closure)
            else:
                optimizer.step()
            loss_sum = loss_sum + loss.detach() * y.shape[0]
            if scheduler is not None and interval == "step" and not scheduler_first:
                if plateau:
                    scheduler.step(loss.item())
                else:
                    scheduler.step()
        train_loss = float(loss_sum) / n_train
        if not math.isfinite(train_loss):
            print(f"{label}: diverged in epoch {epoch + 1}")
            return
        if modes:  # Schedule-Free & co.: validate at the averaged point
            modes_of(optimizer).eval()
        val_loss = evaluate(model, val_x, val_y)
        if modes:
            modes_of(optimizer).train()
        if scheduler is not None and interval == "epoch" and not scheduler_first:
            if plateau:
                scheduler.step({"loss": train_loss, "val_loss": val_loss}[monitor])
            else:
                scheduler.step()
    print(f"{label}: final loss = {val_loss:.10g}")
'''


def _device_code(device: str) -> str:
    if device == "auto":
        return (
            'DEVICE = torch.device("cuda" if torch.cuda.is_available() else '
            '"mps" if torch.backends.mps.is_available() else "cpu")'
        )
    return f"DEVICE = torch.device({device!r})"


# --------------------------------------------------------------------------- runs


def _check_run(run: RunSpec) -> None:
    if run.scheduler is not None and any(g.unfreeze_at_step is not None for g in run.param_groups):
        raise NotImplementedError("export of unfreeze_at_step is not supported yet")
    if (
        run.scheduler is not None
        and run.scheduler.interval == "step"
        and run.scheduler.monitor == "val_loss"
    ):
        raise NotImplementedError(
            "export of a per-step schedule monitoring val_loss is not supported"
        )


def _groups_literal(run: RunSpec) -> str:
    rows = []
    for g in run.param_groups:
        items = [f'"params": {g.patterns!r}']
        if g.frozen:
            items.append('"frozen": True')
        if g.unfreeze_at_step is not None:
            items.append(f'"unfreeze_at_step": {g.unfreeze_at_step!r}')
        items += [f"{k!r}: {value_code(v)}" for k, v in g.overrides.items()]
        rows.append("    {" + ", ".join(items) + "},")
    return "[\n" + "\n".join(rows) + "\n]" if rows else "[]"


def _call(i: int, run: RunSpec) -> str:
    sched = run.scheduler
    args = [repr(run.label), "data", f"make_optimizer_{i}", f"make_scheduler_{i}", f"GROUPS_{i}"]
    if sched is not None:
        args += [f"interval={sched.interval!r}", f"monitor={(sched.monitor or 'loss')!r}"]
    if run.clip_grad_norm is not None:
        args.append(f"clip_grad_norm={run.clip_grad_norm!r}")
    if needs_closure(run):
        args.append("needs_closure=True")
    if train_eval_modes(run):
        args.append("modes=True")
    if run.scheduler_first:
        args.append("scheduler_first=True")
    return f"    train({', '.join(args)})"


def _imports(lines: list[str], after: str, extra: list[str]) -> None:
    """Put ``extra`` import lines (each once) right after the line ``after``."""
    at = lines.index(after) + 1
    new = [line for i, line in enumerate(extra) if line not in extra[:i] and line not in lines]
    lines[at:at] = new


def _train_size(spec: ExperimentSpec, problem: ModelProblem, read_data: bool) -> int:
    if read_data:
        return problem.train_size(spec.seed)
    n = problem.known_train_size(spec.seed)
    if n is None:
        raise NotImplementedError(
            "the schedule's length depends on how many training examples the data folder "
            "holds, and the dashboard does not read data to show code: export it with "
            "`python -m optlab export spec.json`"
        )
    return n


def model_script(spec: ExperimentSpec, problem: ModelProblem, read_data: bool = True) -> str:
    """The standalone training script for a model experiment (see the module docstring).

    ``read_data=False`` (the dashboard) never reads a dataset: a schedule whose length
    depends on a training-set size the problem does not know up front is not exported."""
    for run in spec.runs:
        _check_run(run)
    epochs, batch_size = (
        int(spec.epochs or problem.default_epochs),
        int(spec.batch_size or problem.default_batch_size),
    )
    piece = problem.export_code()
    # a schedule's length depends on the epoch length: read what the engine would read
    # (and fills optimizers' run-length arguments, e.g. Ranger21.num_iterations)
    needs_length = any(r.scheduler for r in spec.runs) or any(
        o.name in optimizers.RUN_LENGTH_PARAMS
        for r in spec.runs
        for o in (r.optimizer, optimizers.innermost(r.optimizer))
    )
    n_train = _train_size(spec, problem, read_data) if needs_length else 0
    steps = epochs * math.ceil(n_train / batch_size) if n_train else 0
    lines = header(spec)
    _imports(lines, "import math", [*piece.std_imports, "from fnmatch import fnmatchcase"])
    _imports(lines, "import torch", list(piece.imports))
    lines += [
        f"SEED = {spec.seed!r}",
        f"EPOCHS = {epochs!r}",
        f"BATCH_SIZE = {batch_size!r}",
        f"EVAL_BATCH = {EVAL_BATCH!r}",
        _device_code(spec.device),
        piece.code,
        GROUPS_HELPER,
        MODES_HELPER,
        LOOP,
    ]
    for i, run in enumerate(spec.runs):
        interval = run.scheduler.interval if run.scheduler else "step"
        budget = max(1, epochs if interval == "epoch" else steps)
        lines += [
            "",
            f"GROUPS_{i} = {_groups_literal(run)}",
            "",
            "",
            run_functions(spec, i, run, budget, max(1, steps)),
        ]
    lines += ["", 'if __name__ == "__main__":', "    data = load_data()"]
    lines += [_call(i, run) for i, run in enumerate(spec.runs)]
    return "\n".join(lines) + "\n"


__all__ = ["model_script"]
