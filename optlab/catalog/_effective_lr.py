"""The learning rate an optimizer really applies, where that is not its group's ``lr``.

Some optimizers scale the group ``lr`` inside ``step()``: D-Adaptation and Prodigy by their
distance estimate ``d``, Schedule-Free by its warm-up (RAdam's by rectification), Ranger21 by
its built-in warm-up and warm-down.  Each accessor here returns, per parameter group, the
value the library's ``step()`` computes and uses where a plain optimizer uses
``group["lr"]`` (the local ``lr`` / ``d_lr`` of its source), read from the optimizer's state
*before* the step, after the gradient is in place: exactly what the next ``step()`` will
apply.  ``None`` means the optimizer, with these settings, applies the group ``lr`` as is.

Where the library exposes the math (``debias``, ``apply_adam_debias``,
``get_rectify_step_size``, Ranger21's ``warm_up_dampening``/``warm_down``,
``get_global_gradient_norm``) it is called; only what ``step()`` writes inline is restated.
Checked against pytorch_optimizer 4.1 (tests/test_effective_lr.py recomputes every family in
a plain loop); revisit when upgrading it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

EffectiveLr = Callable[[Any], "list[float] | None"]


def _first_group_for_all(optimizer: Any, value: float) -> list[float]:
    """D-Adaptation and Prodigy compute one step size from the FIRST group's ``d`` and
    ``lr`` and apply it to every group: later groups' own ``lr`` is not used for the step."""
    return [float(value)] * len(optimizer.param_groups)


def _dadapt(optimizer: Any) -> list[float]:
    """DAdaptAdaGrad, DAdaptAdan, DAdaptLion: ``d_lr = d · lr`` (``d`` may be a tensor)."""
    group = optimizer.param_groups[0]
    return _first_group_for_all(optimizer, float(group["d"] * group["lr"]))


def _dadapt_adam(optimizer: Any) -> list[float]:
    """DAdaptAdam: ``d · lr``, divided by the Adam bias correction when ``bias_correction``."""
    group = optimizer.param_groups[0]
    beta1, beta2 = group["betas"]
    step = group.get("step", 0) + 1  # step() uses the count + 1 before incrementing it
    correction = (1.0 - beta1**step) / math.sqrt(1.0 - beta2**step)
    d_lr = optimizer.apply_adam_debias(
        not group["bias_correction"],
        step_size=group["d"] * group["lr"],
        bias_correction1=correction,
    )
    return _first_group_for_all(optimizer, d_lr)


def _dadapt_sgd(optimizer: Any) -> list[float]:
    """DAdaptSGD: ``d · lr / ‖g₀‖``, ``g₀`` the first step's gradient (0 while it is zero:
    the step then returns without an update)."""
    from pytorch_optimizer.optimizer.utils import get_global_gradient_norm

    group = optimizer.param_groups[0]
    if group.get("step", 0) == 0:  # the step about to run measures g0 from these gradients
        g0 = get_global_gradient_norm(optimizer.param_groups).sqrt_().item()
    else:
        g0 = group["g0_norm"]
    return _first_group_for_all(optimizer, group["d"] * group["lr"] / g0 if g0 else 0.0)


def _prodigy(optimizer: Any) -> list[float]:
    """Prodigy: ``d · lr``, divided by ``(1-β₁ᵗ)/√(1-β₂ᵗ)`` when ``bias_correction``.

    ``d_coef`` scales the estimate ``d`` itself (it is inside ``group["d"]``), not the step.
    """
    group = optimizer.param_groups[0]
    beta1, beta2 = group["betas"]
    step = group["step"]  # Prodigy counts from 1 and increments after computing d_lr
    correction = (
        optimizer.debias(beta1, step) / math.sqrt(optimizer.debias(beta2, step))
        if group["bias_correction"]
        else 1.0
    )
    return _first_group_for_all(optimizer, group["d"] * group["lr"] / correction)


def _schedule_free_warmup(optimizer: Any) -> list[float] | None:
    """ScheduleFreeSGD, ScheduleFreeAdamW: ``lr · min(1, t / warmup_steps)`` per group
    (``t`` counts from 1); None without a warm-up."""
    if all(g["warmup_steps"] <= 1 for g in optimizer.param_groups):
        return None
    out = []
    for group in optimizer.param_groups:
        step, warmup = group.get("step", 0) + 1, group["warmup_steps"]
        out.append(float(group["lr"]) * (step / warmup if step < warmup else 1.0))
    return out


def _schedule_free_radam(optimizer: Any) -> list[float]:
    """ScheduleFreeRAdam: RAdam's rectified step size over √(1-β₂ᵗ); during the first steps,
    where the rectification is undefined, 0 (``silent_sgd_phase``, the default) or 1."""
    out = []
    for group in optimizer.param_groups:
        step, beta2 = group.get("step", 0) + 1, group["betas"][1]
        lr, n_sma = optimizer.get_rectify_step_size(
            is_rectify=True,
            step=step,
            lr=group["lr"],
            beta2=beta2,
            n_sma_threshold=4,
            degenerated_to_sgd=False,
        )
        if lr < 0.0:
            lr = float(not group["silent_sgd_phase"])
        elif n_sma > 4.0:
            lr = lr / math.sqrt(optimizer.debias(beta2, step))
        out.append(float(lr))
    return out


def _ranger21(optimizer: Any) -> list[float] | None:
    """Ranger21: its own warm-up then warm-down (on ``starting_lr``, the constructor's lr),
    through the optimizer's methods; None with ``disable_lr_scheduler``."""
    if optimizer.disable_lr_scheduler:
        return None
    kept = optimizer.current_lr  # the methods record what they return there: keep it as is
    try:
        out = []
        for group in optimizer.param_groups:
            step = group.get("step", 0) + 1
            out.append(
                float(optimizer.warm_down(optimizer.warm_up_dampening(group["lr"], step), step))
            )
        return out
    finally:
        optimizer.current_lr = kept


#: optimizer class name → its accessor
ACCESSORS: dict[str, EffectiveLr] = {
    "DAdaptAdaGrad": _dadapt,
    "DAdaptAdan": _dadapt,
    "DAdaptLion": _dadapt,
    "DAdaptAdam": _dadapt_adam,
    "DAdaptSGD": _dadapt_sgd,
    "Prodigy": _prodigy,
    "ScheduleFreeSGD": _schedule_free_warmup,
    "ScheduleFreeAdamW": _schedule_free_warmup,
    "ScheduleFreeRAdam": _schedule_free_radam,
    "Ranger21": _ranger21,
}
