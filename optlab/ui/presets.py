"""Classic comparisons that fill a form in one click.

Each preset is a complete spec (docs/architecture.md §4) for one page; the tests check that every
one of them validates, so a catalogue change that breaks one is caught at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optlab.ui.schedule_examples import warmup_cosine


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    page: str  # "surfaces", "training", "schedules" or "sweeps"
    blurb: str
    spec: dict[str, Any]


def _sgd(label: str, lr: float, **kw: Any) -> dict[str, Any]:
    return {"label": label, "optimizer": {"name": "SGD", "lr": lr, **kw}}


def _opt(label: str, name: str, lr: float, **kw: Any) -> dict[str, Any]:
    return {"label": label, "optimizer": {"name": name, "lr": lr, **kw}}


PRESETS: tuple[Preset, ...] = (
    Preset(
        "momentum_rosenbrock",
        "Momentum on Rosenbrock",
        "surfaces",
        "Plain SGD crawls along the curved valley; heavy-ball momentum and Nesterov build speed.",
        {
            "name": "Momentum on Rosenbrock: SGD vs SGD-momentum vs Nesterov",
            "problem": {"name": "rosenbrock", "start": [-1.5, 2.0]},
            "steps": 1500,
            "runs": [
                _sgd("SGD", 0.001),
                _sgd("SGD-momentum", 0.001, momentum=0.9),
                _sgd("Nesterov", 0.001, momentum=0.9, nesterov=True),
            ],
        },
    ),
    Preset(
        "sgdm_adam_rosenbrock",
        "SGD-momentum vs Adam (Rosenbrock)",
        "surfaces",
        "The everyday question: tuned SGD with momentum or Adam with its default-ish lr?",
        {
            "name": "SGD-momentum vs Adam on Rosenbrock",
            "problem": {"name": "rosenbrock", "start": [-1.5, 2.0]},
            "steps": 1000,
            "runs": [_sgd("SGD-momentum", 0.001, momentum=0.9), _opt("Adam", "Adam", 0.05)],
        },
    ),
    Preset(
        "saddle_escape",
        "Saddle-point escape",
        "surfaces",
        "Starting just off the ridge of x² − y²: who leaves the saddle first?",
        {
            "name": "Saddle-point escape: SGD vs Adam vs RMSprop",
            "problem": {"name": "saddle", "start": [-1.5, 0.001]},
            "steps": 300,
            "runs": [
                _sgd("SGD", 0.01),
                _opt("Adam", "Adam", 0.01),
                _opt("RMSprop", "RMSprop", 0.01),
            ],
        },
    ),
    Preset(
        "ill_conditioned",
        "Ill-conditioned quadratic",
        "surfaces",
        "A narrow valley (κ = 50): gradient descent zig-zags, momentum cuts across.",
        {
            "name": "Ill-conditioned quadratic (κ = 50)",
            "problem": {"name": "quadratic", "condition": 50.0, "angle": 30.0},
            "steps": 300,
            "runs": [
                _sgd("GD", 1.5),
                _sgd("GD + momentum", 0.5, momentum=0.8),
                _opt("Adam", "Adam", 0.1),
            ],
        },
    ),
    Preset(
        "warmup_cosine_vs_step",
        "Warmup + cosine vs step decay",
        "surfaces",
        "Same optimizer, two schedules: a linear warmup into a cosine, or halving every 200 steps.",
        {
            "name": "Warmup + cosine vs step decay (Adam on Rosenbrock)",
            "problem": {"name": "rosenbrock", "start": [-1.5, 2.0]},
            "steps": 800,
            "runs": [
                {
                    "label": "warmup + cosine",
                    "optimizer": {"name": "Adam", "lr": 0.05},
                    "scheduler": warmup_cosine(800, 80),
                },
                {
                    "label": "step decay",
                    "optimizer": {"name": "Adam", "lr": 0.05},
                    "scheduler": {"name": "StepLR", "step_size": 200, "gamma": 0.5},
                },
            ],
        },
    ),
    Preset(
        "cifar_sgdm_adam",
        "SGD-momentum vs Adam on CIFAR-10",
        "training",
        "The tutorial CNN, paired runs (same initial weights and batches): train vs validation.",
        {
            "name": "SGD-momentum vs Adam on CIFAR-10",
            "problem": {"name": "cifar10_cnn"},
            "epochs": 3,
            "batch_size": 128,
            "runs": [
                _sgd("SGD-momentum", 0.01, momentum=0.9, weight_decay=5e-4),
                _opt("Adam", "Adam", 0.001),
            ],
        },
    ),
    Preset(
        "per_layer_lr",
        "Per-layer learning rates",
        "training",
        "One lr for the whole MLP, or layer1 at 0.1 and layer2 at 0.2 (two param groups).",
        {
            "name": "Per-layer learning rates: layer1 0.1 / layer2 0.2",
            "problem": {"name": "mse_regression"},
            "epochs": 20,
            "batch_size": 32,
            "runs": [
                _sgd("one lr (0.1)", 0.1),
                {
                    **_sgd("layer1 0.1 / layer2 0.2", 0.1),
                    "param_groups": [
                        {"params": "layer1.*", "lr": 0.1},
                        {"params": "layer2.*", "lr": 0.2},
                    ],
                },
            ],
        },
    ),
    Preset(
        "adam_wd_vs_adamw",
        "Adam(weight_decay) vs AdamW",
        "training",
        "L2 added to the gradient (then rescaled by Adam) vs decoupled weight decay.",
        {
            "name": "Adam(weight_decay) vs AdamW",
            "problem": {"name": "mse_regression"},
            "epochs": 20,
            "batch_size": 32,
            "runs": [
                _opt("Adam wd=0.1", "Adam", 0.003, weight_decay=0.1),
                _opt("AdamW wd=0.1", "AdamW", 0.003, weight_decay=0.1),
            ],
        },
    ),
    Preset(
        "schedules_warmup_vs_step",
        "Warmup + cosine vs step decay",
        "schedules",
        "The two most common recipes, side by side.",
        {
            "name": "Warmup + cosine vs step decay",
            "problem": {"name": "quadratic"},
            "steps": 1000,
            "runs": [
                {
                    "label": "warmup + cosine",
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": warmup_cosine(1000, 100),
                },
                {
                    "label": "step decay",
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": {"name": "StepLR", "step_size": 300, "gamma": 0.3},
                },
            ],
        },
    ),
    Preset(
        "schedules_cyclic",
        "Cyclic vs one-cycle",
        "schedules",
        "Triangular cycles (CyclicLR) against a single one-cycle policy.",
        {
            "name": "CyclicLR vs OneCycleLR",
            "problem": {"name": "quadratic"},
            "steps": 1000,
            "runs": [
                {
                    "label": "CyclicLR",
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": {
                        "name": "CyclicLR",
                        "base_lr": 0.01,
                        "max_lr": 0.1,
                        "step_size_up": 125,
                        "cycle_momentum": False,
                    },
                },
                {
                    "label": "OneCycleLR",
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": {"name": "OneCycleLR", "max_lr": 0.1, "cycle_momentum": False},
                },
            ],
        },
    ),
    Preset(
        "schedules_scheduler_first",
        "Step order: scheduler first",
        "schedules",
        "scheduler.step() before optimizer.step() (PyTorch < 1.1): the first lr is skipped.",
        {
            "name": "optimizer.step() then scheduler.step(), or the other way round",
            "problem": {"name": "quadratic"},
            "steps": 40,
            "runs": [
                {
                    "label": "optimizer first",
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.5},
                },
                {
                    "label": "scheduler first",
                    "optimizer": {"name": "SGD", "lr": 0.1},
                    "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.5},
                    "scheduler_first": True,
                },
            ],
        },
    ),
)

SWEEP_PRESETS: tuple[Preset, ...] = (
    Preset(
        "sweep_lr_momentum_quadratic",
        "(lr, momentum) map on the quadratic",
        "sweeps",
        "SGD on an ill-conditioned bowl over a log lr × momentum grid: steps to 1e-6, the "
        "stability boundary lr·λmax = 2 + 2β and Distill's optimal point.",
        {
            "name": "(lr, momentum) map for SGD on the quadratic",
            "problem": {"name": "quadratic", "condition": 50, "angle": 0.0},
            "steps": 200,
            "runs": [_sgd("SGD", 0.1, momentum=0.5)],
            "sweep": {
                "mode": "grid",
                "axes": {
                    "optimizer.lr": {"log": [0.01, 4.0], "num": 40},
                    "optimizer.momentum": {"linear": [0.0, 0.99], "num": 40},
                },
                "threshold": 1e-6,
            },
        },
    ),
    Preset(
        "sweep_himmelblau_basins",
        "Himmelblau basins: SGD, SGD-momentum, Adam",
        "sweeps",
        "A 25 × 25 grid of start points: which of the four minima does each optimizer reach?",
        {
            "name": "Basins of attraction on Himmelblau",
            "problem": {"name": "himmelblau"},
            "steps": 300,
            "runs": [
                _sgd("SGD", 0.005),
                _sgd("SGD-momentum", 0.002, momentum=0.9),
                _opt("Adam", "Adam", 0.05),
            ],
            "sweep": {
                "mode": "grid",
                "axes": {"problem.start": {"grid": [[-4.5, 4.5], [-4.5, 4.5]], "num": [25, 25]}},
                "threshold": 1e-4,
            },
        },
    ),
    Preset(
        "sweep_cifar_sgdm_adam",
        "SGDM vs Adam on CIFAR-10: equal budgets, 3 seeds",
        "sweeps",
        "The same 4 lr draws for each optimizer on the bundled sample (3 epochs), the best "
        "re-run with 3 new seeds: loss and accuracy curves as median and band over the "
        "seeds, small enough for a CPU.",
        {
            "name": "SGDM vs Adam on CIFAR-10 (sample): equal budgets",
            "problem": {"name": "cifar10_cnn", "train_limit": 1024, "val_limit": 512},
            "epochs": 3,
            "batch_size": 64,
            "runs": [_sgd("SGDM", 0.01, momentum=0.9), _opt("Adam", "Adam", 0.001)],
            "sweep": {
                "mode": "halton",
                "trials": 4,
                "axes": {"optimizer.lr": {"log": [1e-4, 0.1], "num": 4}},
                "tune": {"trials": 4, "metric": "val_loss", "rerun_seeds": 3},
            },
        },
    ),
)
PRESETS = PRESETS + SWEEP_PRESETS


def for_page(page: str) -> list[Preset]:
    return [p for p in PRESETS if p.page == page]


def get(key: str) -> Preset:
    for p in PRESETS:
        if p.key == key:
            return p
    raise KeyError(key)


def get_by_title(title: str) -> Preset:
    for p in PRESETS:
        if p.title == title:
            return p
    raise KeyError(title)
