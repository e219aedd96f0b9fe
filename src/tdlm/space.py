"""The box (-1, 1)^n with elastically reflecting walls."""

from __future__ import annotations

import torch


def reflect_(x: torch.Tensor, v: torch.Tensor) -> None:
    """Fold coordinates that crossed a wall back inside and reverse their velocity, in place.

    x > 1 -> 2 - x and x < -1 -> -2 - x are both x -> 2 clamp(x) - x, so the walls cost two
    element-wise passes and no boolean indexing.
    """
    inside = x.clamp(-1.0, 1.0)
    v.mul_(torch.where(inside == x, 1.0, -1.0).to(v.dtype))
    x.mul_(-1.0).add_(inside, alpha=2.0)
