"""Sharpness: λ_max of the training-loss Hessian by power iteration (issue 12 §3).

``record_sharpness: {"every": k, "iters": n}`` on a model run: before every k-th update
the engine runs n Hessian-vector-product power iterations on a fixed batch (the first
``batch_size`` training examples, without augmentation, the model in eval mode so that
dropout and BatchNorm statistics stay out of it) from a seeded random start, and records
the Rayleigh quotient: the dominant eigenvalue, which is λ_max once training has left the
region where a negative eigenvalue dominates.  Compare it with ``2/lr`` (``(2+2β)/lr``
with momentum β): the edge of stability.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def top_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: list[torch.Tensor],
    iters: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """The dominant eigenvalue of the Hessian of ``loss_fn()`` in ``params`` (a 0-d
    tensor on their device, so no sync)."""
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype) for p in params]
    norm = torch.sqrt(sum((x * x).sum() for x in v))  # type: ignore[arg-type]
    v = [x / norm for x in v]
    value = torch.zeros((), device=params[0].device, dtype=params[0].dtype)
    for _ in range(iters):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        value = sum((a * b).sum() for a, b in zip(v, hv, strict=True))  # type: ignore[assignment]
        norm = torch.sqrt(sum((h * h).sum() for h in hv))  # type: ignore[arg-type]
        v = [h / norm for h in hv]
    return value.detach()
