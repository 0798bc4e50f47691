"""Per-layer parameter groups: select by glob, override, freeze and unfreeze.

Groups are ordered (docs/architecture.md §4), ``params`` globs match ``named_parameters()``
names, the first matching group wins, unmatched parameters form the default group
with the optimizer's own settings.  A frozen group keeps ``requires_grad=False``
and stays out of the optimizer; with ``unfreeze_at_step`` it joins through
``optimizer.add_param_group`` before that update.

Optimizer order of the groups (the columns of the recorded ``lr``): the spec's
non-frozen groups in spec order, then the default group, then the groups that
unfreeze, ordered by their step (ties in spec order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from optlab.spec import ParamGroupSpec


@dataclass
class PlannedGroup:
    name: str
    params: list[torch.Tensor]
    overrides: dict[str, Any] = field(default_factory=dict)
    unfreeze_at_step: int | None = None  # None: active from the start

    def as_optimizer_group(self) -> dict[str, Any]:
        return {"params": self.params, **self.overrides}


@dataclass
class GroupPlan:
    active: list[PlannedGroup]
    later: list[PlannedGroup]  # join at unfreeze_at_step, sorted by step
    frozen_forever: list[PlannedGroup]

    @cached_property
    def names(self) -> list[str]:
        """Group names in optimizer order (the lr columns)."""
        return [g.name for g in self.active + self.later]

    def joining_at(self, step: int) -> list[PlannedGroup]:
        return [g for g in self.later if g.unfreeze_at_step == step]


def group_name(spec: ParamGroupSpec) -> str:
    return ", ".join(spec.patterns)


def plan_groups(
    specs: list[ParamGroupSpec], named_params: list[tuple[str, torch.Tensor]]
) -> GroupPlan:
    """Assign every parameter to the first group whose glob matches it.

    Frozen parameters get ``requires_grad=False`` here; :func:`unfreeze` turns it back on.
    A glob matching nothing is an error (the spec validator reports it with its path;
    this check keeps the engine honest when called directly).
    """
    members: list[list[torch.Tensor]] = [[] for _ in specs]
    default: list[torch.Tensor] = []
    for name, param in named_params:
        for i, spec in enumerate(specs):
            if spec.matches(name):
                members[i].append(param)
                break
        else:
            default.append(param)
    active: list[PlannedGroup] = []
    later: list[PlannedGroup] = []
    never: list[PlannedGroup] = []
    for spec, params in zip(specs, members, strict=True):
        if not params:
            claimed = [n for n, _ in named_params if spec.matches(n)]
            why = "an earlier group took them all" if claimed else "it matches no parameter"
            raise ValueError(f"param group {group_name(spec)!r} is empty: {why}")
        group = PlannedGroup(group_name(spec), params, spec.overrides, spec.unfreeze_at_step)
        if not spec.frozen:
            active.append(group)
            continue
        for p in params:
            p.requires_grad_(False)
        (later if spec.unfreeze_at_step is not None else never).append(group)
    if default:
        active.append(PlannedGroup("default", default))
    if not active:
        raise ValueError("every parameter is frozen at the start: nothing to optimize")
    later.sort(key=lambda g: g.unfreeze_at_step or 0)
    return GroupPlan(active, later, never)


def unfreeze(group: PlannedGroup, optimizer: torch.optim.Optimizer) -> None:
    """Let the group's parameters learn again and add them to the optimizer."""
    for p in group.params:
        p.requires_grad_(True)
        p.grad = None
    optimizer.add_param_group(group.as_optimizer_group())
