"""Curvature and stability on a 2-D surface (issue 12 §3, ``python -m optlab analyze``).

At a point (the start, or any other): the gradient and the Hessian of f by autograd in
float64, its eigenvalues (ascending) and condition number.  Per run, the largest lr for
which the optimizer's update, linearized at that point, is stable, where a closed form
exists (``torch.optim.SGD``, read from the real optimizer's param group; one source,
:func:`sgd_stability_factor`, for every line the dashboard draws):

- plain SGD: ``lr < 2 / λ_max``;
- heavy ball (momentum β, dampening d): ``lr < (2 + 2β) / ((1 − d) λ_max)``;
- Nesterov (momentum β, dampening 0): ``lr < (2 + 2β) / ((1 + 2β) λ_max)``;

where ``λ_max`` includes the group's weight decay (``g + wd·x`` adds ``wd`` to every
eigenvalue).  On a quadratic surface (``Surface.quadratic``) the Hessian is the same
everywhere, so the limits hold globally, and Distill's optimal heavy ball is given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from optlab.catalog import optimizers
from optlab.engine.run_optimizer import RunOptimizer
from optlab.problem import Surface
from optlab.spec import ExperimentSpec, RunSpec

DTYPE = torch.float64


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def point_curvature(problem: Surface, at: tuple[float, float]) -> dict[str, Any]:
    """f, its gradient, Hessian (autograd, float64), eigenvalues and condition number."""
    xy = torch.tensor(at, dtype=DTYPE, requires_grad=True)
    value = problem.value(xy[0], xy[1])
    (grad,) = torch.autograd.grad(value, xy)

    def f(p: torch.Tensor) -> torch.Tensor:
        return problem.value(p[0], p[1])

    hessian = torch.autograd.functional.hessian(f, xy.detach()).numpy()
    hessian = (hessian + hessian.T) / 2  # exact for C² functions; removes rounding skew
    eigenvalues = np.linalg.eigvalsh(hessian)
    lo, hi = float(eigenvalues[0]), float(eigenvalues[-1])
    return {
        "at": [float(at[0]), float(at[1])],
        "loss": _num(float(value.detach())),
        "gradient": [float(v) for v in grad],
        "hessian": hessian.tolist(),
        "eigenvalues": [float(v) for v in eigenvalues],
        "condition_number": hi / lo if lo > 0 else None,
    }


def sgd_stability_factor(
    momentum: float = 0.0, *, nesterov: bool = False, dampening: float = 0.0
) -> float | None:
    """c such that torch's SGD, linearized, is stable iff lr·(λ + weight_decay) < c:
    2 (plain), (2+2β)/(1−dampening) (heavy ball: the dampened buffer is a heavy ball with
    lr·(1−dampening)), (2+2β)/(1+2β) (Nesterov, dampening 0); None where no closed form."""
    if momentum == 0:
        return 2.0  # torch ignores dampening without momentum
    if nesterov:
        return None if dampening else (2.0 + 2.0 * momentum) / (1.0 + 2.0 * momentum)
    if not dampening < 1:
        return None
    return (2.0 + 2.0 * momentum) / (1.0 - dampening)


def sgd_stability_limit(
    lam_max: float,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
) -> float | None:
    """The largest stable lr of SGD linearized where λ_max is the top eigenvalue; None
    where the curvature is not positive (no lr is stable there) or no closed form applies."""
    lam = lam_max + weight_decay
    factor = sgd_stability_factor(momentum, nesterov=nesterov, dampening=dampening)
    if not lam > 0 or factor is None:
        return None
    return factor / lam


def sgd_sharpness_edge(
    lr: np.ndarray,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
) -> np.ndarray | None:
    """The largest stable λ_max of the loss (without weight decay) at each lr: the edge of
    stability, c/lr − weight_decay; None where no closed form applies."""
    factor = sgd_stability_factor(momentum, nesterov=nesterov, dampening=dampening)
    if factor is None:
        return None
    lr = np.asarray(lr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lr > 0, factor / lr - weight_decay, np.nan)


def optimal_heavy_ball(lam_min: float, lam_max: float) -> dict[str, float] | None:
    """Distill's optimal heavy ball on a quadratic with eigenvalues in [λ_min, λ_max]."""
    if not (lam_min > 0 and lam_max > 0):
        return None
    kappa = lam_max / lam_min
    rate = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    return {
        "lr": (2 / (math.sqrt(lam_min) + math.sqrt(lam_max))) ** 2,
        "momentum": rate**2,
        "rate": rate,
    }


def run_group(run: RunSpec) -> dict[str, Any] | None:
    """The settings of the param group that trains the point at the start, read from the
    real optimizer (built without its schedule); None if the point starts frozen."""
    bare = run.model_copy(update={"scheduler": None, "scheduler_first": False})
    xy = torch.zeros(2, dtype=DTYPE, requires_grad=True)
    opt = RunOptimizer(bare, [("xy", xy)], scheduler_steps=1)
    groups = opt.optimizer.param_groups
    return dict(groups[0]) if groups else None


def run_stability(run: RunSpec, lam_max: float) -> dict[str, Any]:
    """``{"label", "optimizer", "lr", "momentum", "stability_limit"}`` for one run:
    the limit is None where no closed form applies (other optimizers, dampening,
    maximize, a wrapper, a frozen start)."""
    out: dict[str, Any] = {"label": run.label, "optimizer": run.optimizer.name}
    group = run_group(run)
    limit = None
    if group is not None:
        out["lr"] = float(group["lr"])
        out["momentum"] = float(group.get("momentum", 0.0) or 0.0)
        nesterov = bool(group.get("nesterov", False))
        damp = float(group.get("dampening", 0.0) or 0.0)
        wd = float(group.get("weight_decay", 0.0) or 0.0)
        sgd = optimizers.get_info(run.optimizer.name).name == "SGD"
        if sgd and not group.get("maximize", False):
            out.update(nesterov=nesterov, dampening=damp, weight_decay=wd)
            limit = sgd_stability_limit(
                lam_max, momentum=out["momentum"], nesterov=nesterov, dampening=damp,
                weight_decay=wd,
            )  # fmt: skip
    out["stability_limit"] = limit
    return out


def analyze(spec: ExperimentSpec, at: tuple[float, float] | None = None) -> dict[str, Any]:
    """The ``optlab analyze`` result for a surface spec (ValueError for a model problem)."""
    problem = spec.problem.build()
    if not isinstance(problem, Surface):
        raise ValueError(f"{problem.name} trains a model: analyze works on 2-D surfaces")
    point = at if at is not None else problem.start
    out: dict[str, Any] = {"problem": problem.name, **point_curvature(problem, point)}
    eig = out["eigenvalues"]
    out["quadratic"] = problem.quadratic
    if problem.quadratic:
        out["optimal"] = optimal_heavy_ball(eig[0], eig[-1])
    out["runs"] = [run_stability(run, eig[-1]) for run in spec.runs]
    return out
