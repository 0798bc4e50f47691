"""Export an experiment as a standalone PyTorch script a student can read and run.

The script is the textbook loop (docs/architecture.md §5), one run after another, importing
only torch, numpy/the standard library and the optimizer's own library.  It
reproduces the engine's numbers: the same float64 surface expression (written by
the problem's ``code()`` with exact float literals), the same noise generator, the
same optimizer and scheduler arguments (resolved by the scheduler builder's own
rules), and for models the same initial weights, batch order and data pipeline.
It ends by printing ``<label>: final loss = <value>`` for every run.
"""

from __future__ import annotations

import ast
import math
import textwrap
from typing import Any

import torch

from optlab.catalog import optimizers, schedulers
from optlab.problem import ModelProblem, Surface
from optlab.spec import ExperimentSpec, OptimizerSpec, RunSpec, SchedulerSpec

MATH_NAMES = {
    "pi",
    "e",
    "sin",
    "cos",
    "tan",
    "exp",
    "log",
    "log10",
    "log2",
    "sqrt",
    "tanh",
    "sinh",
    "cosh",
    "atan",
    "asin",
    "acos",
    "floor",
    "ceil",
}


def _lambda(text: str) -> str:
    """A safe expression of ``epoch`` as Python source, math functions spelled ``math.*``."""
    tree = ast.parse(text, mode="eval")

    class _Math(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in MATH_NAMES:
                return ast.copy_location(
                    ast.Attribute(ast.Name("math", ast.Load()), node.id, ast.Load()), node
                )
            return node

    return f"lambda epoch: {ast.unparse(_Math().visit(tree))}"


def _value(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({str(v)!r})"
    if isinstance(v, list | tuple):
        return "(" + ", ".join(_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def _kwargs(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in kwargs.items())


def _optimizer_class(name: str) -> str:
    info = optimizers.get_info(name)
    return (
        f"torch.optim.{info.cls.__name__}"
        if info.source == "torch"
        else f"pytorch_optimizer.{info.cls.__name__}"
    )


def optimizer_code(spec: OptimizerSpec, groups: str) -> str:
    """``torch.optim.Adam(groups, lr=…)`` — Lookahead wraps its inner optimizer."""
    kwargs = optimizers.call_kwargs(optimizers.get_info(spec.name), spec.kwargs)
    if spec.inner is not None:
        inner = optimizer_code(spec.inner, groups)
        return f"{_optimizer_class(spec.name)}({inner}, {_kwargs(kwargs)})".replace(", )", ")")
    args = _kwargs(kwargs)
    return f"{_optimizer_class(spec.name)}({groups}{', ' + args if args else ''})"


def scheduler_code(
    spec: SchedulerSpec, budget: int, defaults: dict[str, Any], out: list[str]
) -> str:
    """Append construction lines to ``out`` (children first, as PyTorch users write it);
    return the variable holding this scheduler."""
    var = f"sched{len(out)}"
    lrs = "torch.optim.lr_scheduler"
    if spec.warmup is not None:
        steps = spec.warmup.steps
        out.append(
            f"warm{len(out)} = {lrs}.LinearLR(optimizer, "
            f"start_factor={spec.warmup.start_factor!r}, "
            f"end_factor=1.0, total_iters={steps})"
        )
        warm = f"warm{len(out) - 1}"
        main = scheduler_code(
            spec.model_copy(update={"warmup": None}), budget - steps, defaults, out
        )
        var = f"sched{len(out)}"
        out.append(
            f"{var} = {lrs}.SequentialLR(optimizer, schedulers=[{warm}, {main}], "
            f"milestones=[{steps}])"
        )
        return var
    kwargs = dict(spec.kwargs)
    if spec.name == "SequentialLR":
        marks = [0, *kwargs["milestones"], budget]
        kids = [
            scheduler_code(c, marks[i + 1] - marks[i], defaults, out)
            for i, c in enumerate(spec.schedulers or [])
        ]
        var = f"sched{len(out)}"
        out.append(
            f"{var} = {lrs}.SequentialLR(optimizer, schedulers=[{', '.join(kids)}], "
            f"milestones={kwargs['milestones']!r})"
        )
        return var
    if spec.name == "ChainedScheduler":
        kids = [scheduler_code(c, budget, defaults, out) for c in spec.schedulers or []]
        var = f"sched{len(out)}"
        out.append(f"{var} = {lrs}.ChainedScheduler([{', '.join(kids)}], optimizer=optimizer)")
        return var
    if spec.name in ("LambdaLR", "MultiplicativeLR"):
        texts = kwargs.pop("lr_lambda")
        fn = (
            _lambda(texts) if isinstance(texts, str) else "[" + ", ".join(map(_lambda, texts)) + "]"
        )
        out.append(
            f"{var} = {lrs}.{spec.name}(optimizer, lr_lambda={fn}"
            f"{', ' if kwargs else ''}{_kwargs(kwargs)})"
        )
        return var
    if spec.name == "CyclicLR":
        kwargs.setdefault("cycle_momentum", False)
    elif spec.name == "OneCycleLR":
        probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
        probe.defaults = defaults
        schedulers._onecycle_defaults(kwargs, probe, budget)
    args = _kwargs(kwargs)
    out.append(f"{var} = {lrs}.{spec.name}(optimizer{', ' + args if args else ''})")
    return var


def _groups_code(run: RunSpec, params_expr: str) -> str:
    if not run.param_groups:
        return params_expr
    raise NotImplementedError("export of per-layer parameter groups is done for model problems")


def _run_function(spec: ExperimentSpec, i: int, run: RunSpec, budget: int) -> str:
    probe_params = [torch.zeros(2, requires_grad=True)]
    defaults = optimizers.build_optimizer(run.optimizer, [{"params": probe_params}]).defaults
    lines: list[str] = []
    sched = scheduler_code(run.scheduler, budget, defaults, lines) if run.scheduler else None
    body = "\n".join([*lines, f"return {sched}"]) if sched else "return None"
    return (
        f"def make_optimizer_{i}(params):\n    # {run.label}\n"
        f"    return {optimizer_code(run.optimizer, 'params')}\n\n\n"
        f"def make_scheduler_{i}(optimizer):\n{textwrap.indent(body, '    ')}\n"
    )


def _header(spec: ExperimentSpec) -> list[str]:
    needs_po = any(
        optimizers.get_info(n).source == "pytorch_optimizer"
        for r in spec.runs
        for n in [r.optimizer.name] + ([r.optimizer.inner.name] if r.optimizer.inner else [])
    )
    return [
        f'"""{spec.name or "optlab experiment"} — exported from optlab.',
        "",
        "The textbook PyTorch loop for every run of the experiment; run it with",
        '`python this_file.py`. It prints each run\'s final loss."""',
        "",
        "import math",
        "",
        "import torch",
        *(["import pytorch_optimizer"] if needs_po else []),
        "",
    ]


SURFACE_LOOP = '''
def train(label, make_optimizer, make_scheduler, clip_grad_norm=None):
    xy = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([xy])
    scheduler = make_scheduler(optimizer)
    for t in range(STEPS):
        value = f(xy[0], xy[1])
        loss = value if NOISE is None else value + NOISE[t, 0] * xy[0] + NOISE[t, 1] * xy[1]
        if not inside(value, xy):
            print(f"{label}: diverged at step {t}")
            return
        optimizer.zero_grad()
        loss.backward()
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([xy], clip_grad_norm)
        if CLOSURE[label]:
            def closure():
                optimizer.zero_grad()
                value = f(xy[0], xy[1])
                loss = value if NOISE is None else value + NOISE[t, 0] * xy[0] + NOISE[t, 1] * xy[1]
                loss.backward()
                return loss
            optimizer.step(closure)
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
    with torch.no_grad():
        final = f(xy[0], xy[1])
    print(f"{label}: final loss = {final.item():.10g}")


def inside(value, xy):
    """The engine's divergence rule: finite, and inside the (widened) plot box."""
    (x0, x1), (y0, y1) = BOX
    x, y = xy.detach().tolist()
    return math.isfinite(value.item()) and x0 <= x <= x1 and y0 <= y <= y1
'''


def _surface_script(spec: ExperimentSpec, problem: Surface) -> str:
    steps = int(spec.steps or 0)
    lines = _header(spec)
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
    closure = {r.label: optimizers.get_info(r.optimizer.name).needs_closure for r in spec.runs}
    lines += [
        f"CLOSURE = {closure!r}",
        "",
        "",
        f'def f(x, y):\n    """{problem.title}: {problem.formula}"""',
        textwrap.indent(problem.code(), "    "),
        "",
        "",
    ]
    lines.append(SURFACE_LOOP)
    for i, run in enumerate(spec.runs):
        if run.param_groups:
            _groups_code(run, "params")
        lines += ["", _run_function(spec, i, run, steps)]
    lines += ["", 'if __name__ == "__main__":']
    for i, run in enumerate(spec.runs):
        lines.append(
            f"    train({run.label!r}, make_optimizer_{i}, make_scheduler_{i}, "
            f"{run.clip_grad_norm!r})"
        )
    return "\n".join(lines) + "\n"


def export_script(spec: ExperimentSpec) -> str:
    """The standalone script for ``spec``; NotImplementedError where export is not possible."""
    problem = spec.problem.build()
    if isinstance(problem, Surface):
        return _surface_script(spec, problem)
    assert isinstance(problem, ModelProblem)
    from optlab.export.model_script import model_script

    return model_script(spec, problem)


__all__ = ["export_script", "optimizer_code", "scheduler_code"]
