"""Sensible starting arguments for every scheduler, scaled to a run's length.

Picking a scheduler in a form fills its required arguments from here (StepLR's
``step_size``, CosineAnnealingLR's ``T_max``…), and the Schedules page's gallery
draws every scheduler with them, as the seed articles' LR-curve plots do.
"""

from __future__ import annotations

from typing import Any


def example(name: str, steps: int, lr: float = 0.1) -> dict[str, Any]:
    """A scheduler spec dict for ``name`` that shows its shape over ``steps`` steps."""
    n = max(int(steps), 8)
    q = max(n // 4, 1)
    third = max(n // 3, 1)
    examples: dict[str, dict[str, Any]] = {
        "LambdaLR": {"lr_lambda": f"1 / (1 + epoch / {q})"},
        "MultiplicativeLR": {"lr_lambda": f"{0.5 ** (1 / q):.6g}"},
        "StepLR": {"step_size": third, "gamma": 0.5},
        "MultiStepLR": {"milestones": [n // 2, (3 * n) // 4], "gamma": 0.3},
        "ConstantLR": {"factor": 0.3, "total_iters": q},
        "LinearLR": {"start_factor": 0.05, "total_iters": q},
        "ExponentialLR": {"gamma": float(f"{0.05 ** (1 / n):.6g}")},
        "PolynomialLR": {"total_iters": n, "power": 2.0},
        "CosineAnnealingLR": {"T_max": n},
        "CosineAnnealingWarmRestarts": {"T_0": max(n // 7, 1), "T_mult": 2},
        "CyclicLR": {"base_lr": lr / 10, "max_lr": lr, "step_size_up": max(n // 8, 1)},
        "OneCycleLR": {"max_lr": lr},
        "ReduceLROnPlateau": {"factor": 0.5, "patience": max(n // 10, 1)},
        "SequentialLR": {
            "milestones": [q],
            "schedulers": [
                {"name": "LinearLR", "start_factor": 0.05, "total_iters": q},
                {"name": "CosineAnnealingLR", "T_max": n - q},
            ],
        },
        "ChainedScheduler": {
            "schedulers": [
                {"name": "CosineAnnealingWarmRestarts", "T_0": max(n // 4, 1)},
                {"name": "ExponentialLR", "gamma": float(f"{0.2 ** (1 / n):.6g}")},
            ]
        },
    }
    return {"name": name, **examples.get(name, {})}


def warmup_cosine(steps: int, warmup: int) -> dict[str, Any]:
    """Linear warmup then cosine decay: the modern default schedule."""
    return {
        "name": "SequentialLR",
        "milestones": [warmup],
        "schedulers": [
            {"name": "LinearLR", "start_factor": 0.01, "total_iters": warmup},
            {"name": "CosineAnnealingLR", "T_max": max(steps - warmup, 1)},
        ],
    }
