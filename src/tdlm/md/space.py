"""The box (-1, 1)^n with elastically reflecting walls."""

from __future__ import annotations

import torch


def reflect_(x: torch.Tensor, v: torch.Tensor, work: torch.Tensor | None = None) -> None:
    """Fold coordinates that crossed a wall back inside and reverse their velocity, in place.

    x > 1 -> 2 - x and x < -1 -> -2 - x are both x -> 2 clamp(x) - x, and a coordinate crossed
    a wall exactly when the folded x differs from clamp(x), so the walls are four element-wise
    passes with no boolean indexing and no data-dependent control flow (CUDA-graph safe).
    `work` (same shape and dtype as x) is scratch space; without it one buffer is allocated.
    """
    c = torch.clamp(x, -1.0, 1.0, out=work) if work is not None else torch.clamp(x, -1.0, 1.0)
    x.lerp_(c, 2.0)  # x + 2 (c - x) = 2 c - x; exactly x where x = c
    torch.ne(x, c, out=c)  # 1 where the coordinate was reflected, else 0
    v.addcmul_(v, c, value=-2.0)  # v - 2 v = -v where reflected, v + (-0) = v elsewhere
