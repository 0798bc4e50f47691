"""What each LR scheduler takes and does: its hyperparameters, a one-line description, a formula.

Data for the UI, ``optlab list`` and the spec, kept apart from :mod:`optlab.catalog.schedulers`
(which adds the validators and builds the schedulers) so both stay short.
``PARAMS`` lists the keyword arguments a user sets; defaults are torch's (the run's
length fills ``OneCycleLR.total_steps``; see :mod:`optlab.catalog.schedulers`).  Symbols:
:math:`\\eta_t` is the learning rate after ``t`` calls of ``scheduler.step()``,
:math:`\\eta_0` the optimizer's (per-group) initial learning rate.
"""

from __future__ import annotations

from typing import Any

from optlab.catalog.hyperparams import HyperParam


def _frac(name: str, default: Any, help: str, **kw: Any) -> HyperParam:
    """A float in (0, 1] (a multiplier of the lr), unless ``kw`` says otherwise."""
    bounds = {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True, **kw}
    return HyperParam(name, "float", default, help=help, **bounds)


def _int(name: str, default: Any, help: str, minimum: int = 1, **kw: Any) -> HyperParam:
    return HyperParam(name, "int", default, minimum=minimum, help=help, **kw)


def _lrs(name: str, help: str, **kw: Any) -> HyperParam:
    """A required lr: one number, or one per param group."""
    return HyperParam(name, "float", required=True, floats_or_scalar=True, help=help, **kw)


def _choice(name: str, choices: tuple[str, ...], help: str) -> HyperParam:
    return HyperParam(name, "choice", choices[0], choices=choices, help=help)


def _momentum(name: str, default: float, help: str) -> HyperParam:
    return HyperParam(
        name, "float", default, minimum=0.0, maximum=1.0, floats_or_scalar=True, help=help
    )


_GAMMA = _frac("gamma", 0.1, "multiplies the lr at each decay")
_TOTAL_ITERS = _int("total_iters", 5, "steps until the schedule ends")
_ETA_MIN = HyperParam("eta_min", "float", 0.0, minimum=0.0, help="lowest lr reached")
_MILESTONES = HyperParam(
    "milestones", "ints", minimum=1, required=True, help="steps at which to decay (increasing)"
)
_LAMBDA_HELP = "an expression of epoch, e.g. 0.95 ** epoch (or a list, one per param group)"
_LR_LAMBDA = HyperParam(
    "lr_lambda", "str", required=True, help="factor × initial lr: " + _LAMBDA_HELP
)
_MULT_LAMBDA = HyperParam(
    "lr_lambda", "str", required=True, help="factor × previous lr: " + _LAMBDA_HELP
)
_MOMENTUM_HELP = "cycle momentum inversely to the lr"

PARAMS: dict[str, tuple[HyperParam, ...]] = {
    "LambdaLR": (_LR_LAMBDA,),
    "MultiplicativeLR": (_MULT_LAMBDA,),
    "StepLR": (_int("step_size", None, "steps between decays", required=True), _GAMMA),
    "MultiStepLR": (_MILESTONES, _GAMMA),
    "ConstantLR": (
        _frac("factor", 1 / 3, "lr multiplier until total_iters"),
        _int("total_iters", 5, "steps at the reduced lr", minimum=0),
    ),
    "LinearLR": (
        _frac("start_factor", 1 / 3, "lr multiplier at the start"),
        _frac("end_factor", 1.0, "lr multiplier at the end", exclusive_minimum=False),
        _TOTAL_ITERS,
    ),
    "ExponentialLR": (
        _frac(
            "gamma",
            None,
            "per-step multiplier; above 1 it grows (an LR range test)",
            maximum=2.0,
            required=True,
        ),
    ),
    "PolynomialLR": (
        _TOTAL_ITERS,
        _frac("power", 1.0, "polynomial power", maximum=None),
    ),
    "CosineAnnealingLR": (_int("T_max", None, "steps of the half cosine", required=True), _ETA_MIN),
    "CosineAnnealingWarmRestarts": (
        _int("T_0", None, "steps until the first restart", required=True),
        _int("T_mult", 1, "each cycle is T_mult times longer"),
        _ETA_MIN,
    ),
    "CyclicLR": (
        _lrs("base_lr", "lower lr of the cycle (or one per param group)", minimum=0.0),
        _lrs(
            "max_lr",
            "upper lr of the cycle (or one per group)",
            minimum=0.0,
            exclusive_minimum=True,
            log_scale=True,
        ),
        _int("step_size_up", 2000, "steps from base_lr up to max_lr"),
        _int("step_size_down", None, "steps back down (default: step_size_up)", nullable=True),
        _choice(
            "mode",
            ("triangular", "triangular2", "exp_range"),
            "triangular2 halves the amplitude each cycle; exp_range scales it by gamma**step",
        ),
        _frac("gamma", 1.0, "amplitude decay per step in exp_range mode"),
        HyperParam(
            "cycle_momentum",
            "bool",
            True,
            help=_MOMENTUM_HELP + " (needs an optimizer with momentum or betas)",
        ),
        _momentum("base_momentum", 0.8, "lower momentum"),
        _momentum("max_momentum", 0.9, "upper momentum"),
    ),
    "OneCycleLR": (
        _lrs(
            "max_lr",
            "peak lr (or one per param group)",
            minimum=0.0,
            exclusive_minimum=True,
            log_scale=True,
        ),
        _int("total_steps", None, "length of the cycle (default: the run's steps)", nullable=True),
        _int("epochs", None, "with steps_per_epoch, instead of total_steps", nullable=True),
        _int("steps_per_epoch", None, "with epochs", nullable=True),
        _frac("pct_start", 0.3, "share of the cycle spent raising the lr", exclusive_maximum=True),
        _choice("anneal_strategy", ("cos", "linear"), "shape of the annealing"),
        HyperParam(
            "cycle_momentum",
            "bool",
            True,
            help=_MOMENTUM_HELP + " (needs an optimizer with momentum or betas)",
        ),
        _momentum("base_momentum", 0.85, "lower momentum"),
        _momentum("max_momentum", 0.95, "upper momentum"),
        HyperParam(
            "div_factor",
            "float",
            25.0,
            minimum=1.0,
            log_scale=True,
            help="initial lr = max_lr / div_factor",
        ),
        HyperParam(
            "final_div_factor",
            "float",
            1e4,
            minimum=1.0,
            log_scale=True,
            help="final lr = initial lr / final_div_factor",
        ),
        HyperParam("three_phase", "bool", False, help="a third phase annihilates the lr"),
    ),
    "SequentialLR": (
        HyperParam(
            "milestones",
            "ints",
            (),
            minimum=1,
            help="steps at which to switch to the next scheduler (one per switch)",
        ),
    ),
    "ChainedScheduler": (),
    "ReduceLROnPlateau": (
        _choice("mode", ("min", "max"), "min: the monitored loss should fall"),
        _frac("factor", 0.1, "lr multiplier on a plateau", exclusive_maximum=True),
        _int("patience", 10, "steps without improvement before reducing", minimum=0),
        HyperParam("threshold", "float", 1e-4, minimum=0.0, help="smallest change that counts"),
        _choice("threshold_mode", ("rel", "abs"), "rel: threshold relative to the best value"),
        _int("cooldown", 0, "steps to wait after a reduction", minimum=0),
        HyperParam(
            "min_lr",
            "float",
            0.0,
            minimum=0.0,
            floats_or_scalar=True,
            help="lower bound on the lr (or one per group)",
        ),
        HyperParam("eps", "float", 1e-8, minimum=0.0, help="smaller lr changes are skipped"),
    ),
}

DESCRIPTIONS: dict[str, str] = {
    "LambdaLR": "Initial lr times a factor written as an expression of epoch (0.95 ** epoch).",
    "MultiplicativeLR": "Multiplies the lr by a factor (an expression of epoch) at every step.",
    "StepLR": "Multiplies the lr by gamma every step_size steps.",
    "MultiStepLR": "Multiplies the lr by gamma at each milestone.",
    "ConstantLR": "Scales the lr by a constant factor until total_iters, then restores it.",
    "LinearLR": "Ramps the lr factor linearly from start_factor to end_factor over total_iters.",
    "ExponentialLR": "Multiplies the lr by gamma at every step.",
    "PolynomialLR": "Decays the lr to zero over total_iters with a polynomial of the given power.",
    "CosineAnnealingLR": "Anneals the lr from its initial value to eta_min along a half cosine.",
    "CosineAnnealingWarmRestarts": "Cosine annealing that restarts every T_0 steps (SGDR), "
    "each cycle T_mult times longer.",
    "CyclicLR": "Cycles the lr between base_lr and max_lr (triangular, triangular2, exp_range).",
    "OneCycleLR": "The 1cycle policy: warm up to max_lr, then anneal far below the start.",
    "SequentialLR": "Runs its schedulers one after another, switching at the milestones.",
    "ChainedScheduler": "Steps all its schedulers together, so their factors multiply.",
    "ReduceLROnPlateau": "Multiplies the lr by factor when the monitored loss stops improving.",
}

FORMULAS: dict[str, str] = {
    "LambdaLR": r"\eta_t = \eta_0 \cdot \lambda(t)",
    "MultiplicativeLR": r"\eta_t = \eta_{t-1} \cdot \lambda(t)",
    "StepLR": r"\eta_t = \eta_0 \cdot \gamma^{\lfloor t / \mathrm{step\_size} \rfloor}",
    "MultiStepLR": r"\eta_t = \eta_0 \cdot \gamma^{\left|\{m \in \mathrm{milestones} : m \le t\}"
    r"\right|}",
    "ConstantLR": r"\eta_t = \eta_0 \cdot \begin{cases} \mathrm{factor} & t < T \\ 1 & t \ge T"
    r" \end{cases}",
    "LinearLR": r"\eta_t = \eta_0 \left(s + (e - s)\,\frac{\min(t, T)}{T}\right)",
    "ExponentialLR": r"\eta_t = \eta_0 \cdot \gamma^{t}",
    "PolynomialLR": r"\eta_t = \eta_0 \left(1 - \frac{\min(t, T)}{T}\right)^{p}",
    "CosineAnnealingLR": r"\eta_t = \eta_{min} + \tfrac{1}{2}(\eta_0 - \eta_{min})"
    r"\left(1 + \cos\frac{\pi t}{T_{max}}\right)",
    "CosineAnnealingWarmRestarts": r"\eta_t = \eta_{min} + \tfrac{1}{2}(\eta_0 - \eta_{min})"
    r"\left(1 + \cos\frac{\pi T_{cur}}{T_i}\right),\quad T_i = T_0\,T_{mult}^{\,i}",
    "CyclicLR": r"\eta_t = b + (m - b)\max\left(0, 1 - \left|\frac{t}{s} - 2c + 1\right|\right)"
    r"\cdot\mathrm{scale},\quad c = \left\lfloor 1 + \frac{t}{2s} \right\rfloor",
    "OneCycleLR": r"\eta = \eta_{end} + \tfrac{1}{2}(\eta_{start} - \eta_{end})(1 + \cos \pi p)"
    r"\ \text{per phase};\ \frac{\max\_lr}{\mathrm{div}} \to \max\_lr"
    r" \to \frac{\max\_lr}{\mathrm{div}\cdot\mathrm{final\_div}}",
    "SequentialLR": "",
    "ChainedScheduler": "",
    "ReduceLROnPlateau": r"\eta \leftarrow \max(\eta \cdot \mathrm{factor},\ \mathrm{min\_lr})"
    r"\ \text{after patience epochs without improvement}",
}
