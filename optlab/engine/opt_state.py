"""The optimizer's own state, read from ``optimizer.state`` (issue 12 §2, ``record_state``).

Only the tensors shaped like their parameter are read (``momentum_buffer``, ``exp_avg``,
``exp_avg_sq``, ``max_exp_avg_sq``, ``square_avg``, ``acc_delta``, ``sum``, …); scalars
such as ``step`` are not.  A wrapper (Lookahead) is read with the optimizer it steps; the
first name found wins.  Surfaces record each tensor's value after every update, models the
L2 norm over each group's parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _chain(optimizer: Any) -> list[Any]:
    out = [optimizer]
    while isinstance(getattr(out[-1], "optimizer", None), torch.optim.Optimizer):
        out.append(out[-1].optimizer)
    return out


def param_state(optimizer: Any, param: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every state tensor of ``param`` shaped like it, by name."""
    found: dict[str, torch.Tensor] = {}
    for opt in _chain(optimizer):
        for name, value in opt.state.get(param, {}).items():
            if (
                isinstance(value, torch.Tensor)
                and value.shape == param.shape
                and name not in found
                and (value.is_floating_point() or value.is_complex())
            ):
                found[name] = value
    return found


def point_state(optimizer: Any, param: torch.Tensor) -> dict[str, np.ndarray]:
    """A 2-D point's state tensors as float64 numpy copies."""
    return {
        name: value.detach().to(torch.float64).cpu().numpy().copy()
        for name, value in param_state(optimizer, param).items()
    }


def group_state_norms(optimizer: Any, names: list[str]) -> dict[str, dict[str, torch.Tensor]]:
    """``{group: {state name: L2 norm over the group's parameters}}``, on the device (no
    sync); ``names`` are the group names in optimizer order."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for group, group_name in zip(optimizer.param_groups, names, strict=False):
        squares: dict[str, list[torch.Tensor]] = {}
        for p in group["params"]:
            for name, value in param_state(optimizer, p).items():
                squares.setdefault(name, []).append(value.detach().pow(2).sum())
        out[group_name] = {name: torch.stack(v).sum().sqrt() for name, v in squares.items()}
    return out
