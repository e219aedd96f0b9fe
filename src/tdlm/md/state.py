"""The MD state, in its own module: the integrator, the CUDA-graph step, the setup and the run loop all
take it, and none of them owns it (the integrator and the graphed step import it from here, not from each
other)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MDState:
    """Positions and velocities (flat buffers), the noise generator and the step counter.

    The trajectory is a pure function of this state: a checkpoint stores exactly these four things
    (tdlm.md.checkpoint), and a run resumed from them continues bit for bit.
    """

    position: torch.Tensor
    velocity: torch.Tensor
    rng: torch.Generator
    step: int = 0
