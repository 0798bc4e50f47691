"""Export a 2-D surface experiment: the textbook loop on one float64 point per run.

The surface is written by the problem's ``code()`` with exact float literals; the
noise generator, the divergence box and the closure rule are the engine's
(``optlab/engine/surface_runner.py``), so the script reproduces its numbers.
"""

from __future__ import annotations

import textwrap

from optlab.export.common import (
    MODES_HELPER,
    header,
    needs_closure,
    run_functions,
    train_eval_modes,
)
from optlab.problem import Surface
from optlab.spec import ExperimentSpec, RunSpec

SURFACE_LOOP = '''
def train(label, make_optimizer, make_scheduler, clip_grad_norm=None, scheduler_first=False):
    xy = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([xy])
    scheduler = make_scheduler(optimizer)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    for t in range(STEPS):
        if scheduler_first and scheduler is not None:
            scheduler.step()  # PyTorch < 1.1's order: the schedule's first value is skipped
        value = f(xy[0], xy[1])
        loss = value if NOISE is None else value + NOISE[t, 0] * xy[0] + NOISE[t, 1] * xy[1]
        if not inside(value, xy):
            print(f"{label}: diverged at step {t}")
            return
        optimizer.zero_grad()
        loss.backward()
        if CLOSURE[label]:
            def closure():
                optimizer.zero_grad()
                value = f(xy[0], xy[1])
                loss = value if NOISE is None else value + NOISE[t, 0] * xy[0] + NOISE[t, 1] * xy[1]
                loss.backward()
                if clip_grad_norm is not None:  # every gradient the optimizer sees is clipped
                    torch.nn.utils.clip_grad_norm_([xy], clip_grad_norm)
                return loss
            optimizer.step(closure)
        else:
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_([xy], clip_grad_norm)
            optimizer.step()
        if plateau:
            scheduler.step(value.item())  # ReduceLROnPlateau reads the loss
        elif scheduler is not None and not scheduler_first:
            scheduler.step()
    if MODES[label]:
        modes_of(optimizer).eval()  # Schedule-Free & co.: evaluate at the averaged point
    with torch.no_grad():
        final = f(xy[0], xy[1])
    print(f"{label}: final loss = {final.item():.10g}")


def inside(value, xy):
    """The engine's divergence rule: finite, and inside the (widened) plot box."""
    (x0, x1), (y0, y1) = BOX
    x, y = xy.detach().tolist()
    return math.isfinite(value.item()) and x0 <= x <= x1 and y0 <= y <= y1
'''


def surface_script(spec: ExperimentSpec, problem: Surface) -> str:
    steps = int(spec.steps or 0)
    lines = header(spec)
    lines += [
        f"STEPS = {steps}",
        f"START = {tuple(problem.start)!r}",
        f"BOX = {problem.divergence_box()!r}",
    ]
    if problem.noise > 0:
        lines.append(
            f"NOISE = torch.randn(({steps}, 2), "
            f"generator=torch.Generator().manual_seed({spec.seed}), "
            f"dtype=torch.float64) * {problem.noise!r}  # seeded gradient noise u·x + v·y"
        )
    else:
        lines.append("NOISE = None")
    closure = {r.label: needs_closure(r) for r in spec.runs}
    modes = {r.label: train_eval_modes(r) for r in spec.runs}
    lines += [
        f"CLOSURE = {closure!r}",
        f"MODES = {modes!r}",
        "",
        "",
        f"def f(x, y):\n    {f'{problem.title}: {problem.formula}'!r}",
        textwrap.indent(problem.code(), "    "),
        "",
        "",
    ]
    lines.append(SURFACE_LOOP)
    lines.append(MODES_HELPER)
    for i, run in enumerate(spec.runs):
        if run.param_groups:
            _groups_code(run, "params")
        lines += ["", run_functions(spec, i, run, steps)]
    lines += ["", 'if __name__ == "__main__":']
    for i, run in enumerate(spec.runs):
        first = ", scheduler_first=True" if run.scheduler_first else ""
        lines.append(
            f"    train({run.label!r}, make_optimizer_{i}, make_scheduler_{i}, "
            f"{run.clip_grad_norm!r}{first})"
        )
    return "\n".join(lines) + "\n"


def _groups_code(run: RunSpec, params_expr: str) -> str:
    if not run.param_groups:
        return params_expr
    raise NotImplementedError("export of per-layer parameter groups is done for model problems")


__all__ = ["surface_script"]
