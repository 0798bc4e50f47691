"""How a sweep block's rows are grouped and stepped (issue 10 performance).

Rows that may share one real optimizer on a (B, 2) leaf form a :class:`Group`.  An
(lr, momentum) map has one SGD per cell, so the per-call cost of ``SGD.step`` (hooks,
profiling, ``_default_to_fused_or_foreach`` per call, ``no_grad`` per call) dominates.
Both helpers call torch's own functional ``sgd`` -- the function ``SGD.step`` calls -- with
the arguments ``SGD.step`` would pass and the momentum buffers kept in ``optimizer.state``,
so every cell is still a real ``torch.optim.SGD`` update, bit for bit.
:func:`value_and_grad` evaluates a block's rows and their gradients in one graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.optim.optimizer import _default_to_fused_or_foreach
from torch.optim.sgd import sgd as functional_sgd

from optlab.catalog import optimizers
from optlab.engine.run_optimizer import RunOptimizer
from optlab.problem import Surface
from optlab.spec import RunSpec, SchedulerSpec


def has_plateau(sched: SchedulerSpec | None) -> bool:
    if sched is None:
        return False
    if sched.name == "ReduceLROnPlateau":
        return True
    return any(has_plateau(s) for s in sched.schedulers or [])


def needs_single(run: RunSpec) -> bool:
    stepping = run.optimizer.inner or run.optimizer
    return run.clip_grad_norm is not None or optimizers.get_info(stepping.name).needs_closure


def shareable(run: RunSpec) -> bool:
    """B trials with these settings can share one optimizer on a (B, 2) leaf."""
    info = optimizers.get_info(run.optimizer.name)
    return info.elementwise and not info.needs_closure and not has_plateau(run.scheduler)


class Group:
    """Rows ``lo … hi-1`` of a block stepped by one real optimizer."""

    def __init__(self, lo: int, hi: int, run: RunSpec) -> None:
        self.lo, self.hi, self.run = lo, hi, run
        self.opt: RunOptimizer | None = None
        self.leaf: torch.Tensor | None = None
        self.error = ""
        self.fast_sgd = False
        self.fixed: FixedSGD | None = None  # constant one-tensor SGD: stepped in bulk
        self.alive = True


@torch.no_grad()  # as SGD.step (not differentiable)
def functional_sgd_step(optimizer: torch.optim.Optimizer) -> None:
    """``torch.optim.SGD.step`` on single-tensor groups, through torch's functional ``sgd``."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            state = optimizer.state[p]
            bufs = [state.get("momentum_buffer")] if group["momentum"] != 0 else [None]
            functional_sgd(
                [p],
                [p.grad],
                bufs,
                weight_decay=group["weight_decay"],
                momentum=group["momentum"],
                lr=group["lr"],
                dampening=group["dampening"],
                nesterov=group["nesterov"],
                maximize=group["maximize"],
                has_sparse_grad=False,
                foreach=group["foreach"],
                fused=group["fused"],
            )
            if group["momentum"] != 0:
                state["momentum_buffer"] = bufs[0]


class FixedSGD:
    """One ``torch.optim.SGD`` with one group of one tensor and constant settings (no
    scheduler, no groups joining later): its step with the arguments resolved once."""

    __slots__ = ("bufs", "grads", "kwargs", "params", "state")

    def __init__(self, optimizer: torch.optim.SGD, param: torch.Tensor, grad: torch.Tensor):
        group = optimizer.param_groups[0]
        self.params, self.grads = [param], [grad]
        self.state = optimizer.state[param]
        self.bufs: list[torch.Tensor | None] = [self.state.get("momentum_buffer")]
        # what SGD.step resolves on every call (the default: neither foreach nor fused
        # for these CPU tensors), resolved once; the functional sgd then takes that branch
        fused, foreach = group["fused"], group["foreach"]
        if foreach is None and fused is None:
            fused, foreach = _default_to_fused_or_foreach(
                [param], differentiable=False, use_fused=False
            )
        self.kwargs: dict[str, Any] = {
            "has_sparse_grad": False,
            "foreach": bool(foreach),
            "fused": bool(fused),
            "weight_decay": group["weight_decay"],
            "momentum": group["momentum"],
            "lr": group["lr"],
            "dampening": group["dampening"],
            "nesterov": group["nesterov"],
            "maximize": group["maximize"],
        }

    @staticmethod
    def eligible(optimizer: torch.optim.Optimizer) -> bool:
        groups = optimizer.param_groups
        return (
            type(optimizer) is torch.optim.SGD
            and len(groups) == 1
            and len(groups[0]["params"]) == 1
            and not groups[0]["differentiable"]
        )

    def step(self) -> None:
        """One update (call under ``torch.no_grad()``, as ``SGD.step`` runs)."""
        functional_sgd(self.params, self.grads, self.bufs, **self.kwargs)
        if self.bufs[0] is not None:
            self.state["momentum_buffer"] = self.bufs[0]


def value_and_grad(
    problem: Surface,
    points: torch.Tensor,
    grad: torch.Tensor,
    ones: torch.Tensor,
    noise: torch.Tensor | None,
) -> np.ndarray:
    """f at every row of the (B, 2) ``points`` (a numpy array), the gradient of each row's
    loss written into ``grad``, as a single run's autograd gives them bit for bit.

    Without noise the gradient is taken with respect to the two columns (x and y, as the
    single run's selects give them) and written into ``grad``'s columns: no interleaving
    ``stack`` in the backward pass and no ``sum`` node (whose backward hands every row a
    gradient of exactly 1, as ``grad_outputs=ones`` does).  With noise (this step's (B, 2)
    u, v): the loss adds u·x + v·y through selects of their own, as a single run does, so
    the terms join the surface's gradient in the same order.
    """
    if noise is None:
        x, y = points.detach().requires_grad_().unbind(-1)
        value = problem.value(x, y)
        gx, gy = torch.autograd.grad(value, (x, y), ones, allow_unused=True, materialize_grads=True)
        grad[:, 0].copy_(gx)
        grad[:, 1].copy_(gy)
        return value.detach().numpy()
    xy = points.detach().requires_grad_()
    value = problem.value(xy[..., 0], xy[..., 1])
    loss = value + noise[:, 0] * xy[..., 0] + noise[:, 1] * xy[..., 1]
    (g,) = torch.autograd.grad(loss, xy, ones)
    grad.copy_(g)
    return value.detach().numpy()
