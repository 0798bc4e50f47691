"""What every exported script shares: literals, optimizer and scheduler code, the header.

Optimizer and scheduler arguments are resolved by the catalogues' own rules (the
scheduler builder's defaults, OneCycleLR's resolved lengths), and written with
``repr`` so floats round-trip exactly.
"""

from __future__ import annotations

import ast
import math
import textwrap
from typing import Any

import torch

from optlab.catalog import optimizers, schedulers
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


def lambda_code(text: str) -> str:
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


def value_code(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({str(v)!r})"
    if isinstance(v, list | tuple):
        return "(" + ", ".join(value_code(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def kwargs_code(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={value_code(v)}" for k, v in kwargs.items())


def optimizer_class(name: str) -> str:
    info = optimizers.get_info(name)
    return (
        f"torch.optim.{info.cls.__name__}"
        if info.source == "torch"
        else f"pytorch_optimizer.{info.cls.__name__}"
    )


def optimizer_code(spec: OptimizerSpec, groups: str, run_steps: int | None = None) -> str:
    """``torch.optim.Adam(groups, lr=…)`` — Lookahead wraps its inner optimizer.

    ``run_steps`` fills the run-length arguments the spec leaves out, as the engine does."""
    kwargs = optimizers.call_kwargs(optimizers.get_info(spec.name), spec.kwargs, run_steps)
    if spec.inner is not None:
        inner = optimizer_code(spec.inner, groups, run_steps)
        return f"{optimizer_class(spec.name)}({inner}, {kwargs_code(kwargs)})".replace(", )", ")")
    args = kwargs_code(kwargs)
    return f"{optimizer_class(spec.name)}({groups}{', ' + args if args else ''})"


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
            lambda_code(texts)
            if isinstance(texts, str)
            else "[" + ", ".join(map(lambda_code, texts)) + "]"
        )
        out.append(
            f"{var} = {lrs}.{spec.name}(optimizer, lr_lambda={fn}"
            f"{', ' if kwargs else ''}{kwargs_code(kwargs)})"
        )
        return var
    if spec.name == "OneCycleLR":
        probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
        probe.defaults = defaults
        schedulers._onecycle_defaults(kwargs, probe, budget)
    args = kwargs_code(kwargs)
    out.append(f"{var} = {lrs}.{spec.name}(optimizer{', ' + args if args else ''})")
    return var


def run_functions(
    spec: ExperimentSpec, i: int, run: RunSpec, budget: int, run_steps: int | None = None
) -> str:
    """``make_optimizer_i`` and ``make_scheduler_i``; ``budget``: scheduler steps,
    ``run_steps``: optimizer steps (default ``budget``)."""
    run_steps = budget if run_steps is None else run_steps
    probe_params = [torch.zeros(2, requires_grad=True)]
    defaults = optimizers.build_optimizer(
        run.optimizer, [{"params": probe_params}], run_steps
    ).defaults
    lines: list[str] = []
    sched = scheduler_code(run.scheduler, budget, defaults, lines) if run.scheduler else None
    body = "\n".join([*lines, f"return {sched}"]) if sched else "return None"
    return (
        f"def make_optimizer_{i}(params):\n    # run {i}: see train(...) below\n"
        f"    return {optimizer_code(run.optimizer, 'params', run_steps)}\n\n\n"
        f"def make_scheduler_{i}(optimizer):\n{textwrap.indent(body, '    ')}\n"
    )


def header(spec: ExperimentSpec) -> list[str]:
    needs_po = any(
        optimizers.get_info(n).source == "pytorch_optimizer"
        for r in spec.runs
        for n in [r.optimizer.name] + ([r.optimizer.inner.name] if r.optimizer.inner else [])
    )
    # user text (the name, labels, paths) goes in only as ``repr`` literals, never inside
    # the docstring or a comment, where a quote or a line break would end it
    return [
        '"""An experiment exported from optlab; its name is EXPERIMENT below.',
        "",
        "The textbook PyTorch loop for every run of the experiment; run it with",
        '`python this_file.py`. It prints each run\'s final loss."""',
        "",
        "import math",
        "",
        "import torch",
        *(["import pytorch_optimizer"] if needs_po else []),
        "",
        f"EXPERIMENT = {(spec.name or 'optlab experiment')!r}",
    ]


def needs_closure(run: RunSpec) -> bool:
    """Whether the run's stepping optimizer (Lookahead's inner one) takes a closure."""
    return optimizers.get_info(optimizers.innermost(run.optimizer).name).needs_closure


def train_eval_modes(run: RunSpec) -> bool:
    """Whether the run's stepping optimizer has train()/eval() modes (Schedule-Free, SPlus)."""
    return optimizers.get_info(optimizers.innermost(run.optimizer).name).train_eval_modes


#: finds the optimizer with train()/eval() modes inside a wrapper such as Lookahead
MODES_HELPER = '''
def modes_of(optimizer):
    """The optimizer whose train()/eval() modes matter (Lookahead steps .optimizer)."""
    while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        optimizer = optimizer.optimizer
    return optimizer
'''


__all__ = [
    "MODES_HELPER",
    "header",
    "kwargs_code",
    "lambda_code",
    "needs_closure",
    "optimizer_code",
    "run_functions",
    "scheduler_code",
    "train_eval_modes",
    "value_code",
]
