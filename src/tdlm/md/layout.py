"""Where every weight and neuron lives in the one flat coordinate buffer of a job.

All coordinates of all samples and replicas sit in a single 1-D tensor so that the
thermostat, the walls and the noise are a handful of whole-buffer operations. The buffer
is a sequence of blocks, one per layer tensor, each of shape (S, K, *tensor_shape)
(S samples, K replicas/branches per sample), so batched matrix products take views
without copies.

A hidden layer's spins S_l are stored sample-major, (M, N_l) per configuration, unless `spin_major`
flags them feature-major, (N_l, M): the order the CPU force pass of narrow layers works in
(tdlm.md.energy.ForceField), so that it reads and writes them without a transposing copy. `blocks`
always returns the (M, N_l) view, so everything but the force pass and the flat buffer's coordinate
order is the same in both; checkpoints hold the sample-major order (`relayout`).

The layout also carries the one architectural choice that every product of the network needs,
`preactivation` (tdlm.md.params): `plain` tanh(J_l S_{l-1}) (the spec) or `fan_in`
tanh(J_l S_{l-1} / sqrt(N_{l-1})); `gain(l)` is the factor, so the energy, its forces and the
read-outs of a job all take it from the one object they share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

PREACTIVATIONS = ("plain", "fan_in")


@dataclass(frozen=True)
class Layout:
    widths: tuple[int, ...]  # N_0, N_1, ..., N_L
    M: int  # training examples
    S: int  # samples in the job
    K: int  # configurations per sample (1 before branching, n_tw * n_replicas after)
    preactivation: str = "plain"  # plain: tanh(J S); fan_in: tanh(J S / sqrt(N_{l-1}))
    spin_major: tuple[bool, ...] = ()  # per hidden layer l = 1..L-1: S_l stored (N_l, M); () = none

    def __post_init__(self) -> None:
        if self.preactivation not in PREACTIVATIONS:
            raise ValueError(f"preactivation: got {self.preactivation!r}; allowed values: {', '.join(PREACTIVATIONS)}")
        flags = tuple(bool(f) for f in self.spin_major)
        if flags and len(flags) != self.L - 1:
            raise ValueError(f"spin_major: need {self.L - 1} flags (one per hidden layer) or none, got {len(flags)}")
        object.__setattr__(self, "spin_major", flags if any(flags) else ())

    @property
    def L(self) -> int:
        return len(self.widths) - 1

    def gain(self, l: int) -> float:
        """The factor of layer l's pre-activation (l = 1..L): 1, or 1/sqrt(N_{l-1}) with fan_in."""
        return 1.0 if self.preactivation == "plain" else 1.0 / math.sqrt(self.widths[l - 1])

    @property
    def gains(self) -> tuple[float, ...]:
        """gain(l) for l = 1..L."""
        return tuple(self.gain(l) for l in range(1, self.L + 1))

    def weight_shape(self, l: int) -> tuple[int, int]:
        """J_l maps layer l-1 to layer l (l = 1..L)."""
        return (self.widths[l], self.widths[l - 1])

    def spin_shape(self, l: int) -> tuple[int, int]:
        """S_l holds one representation per example (l = 1..L-1)."""
        return (self.M, self.widths[l])

    def feature_major(self, l: int) -> bool:
        """Whether S_l (l = 1..L-1) is stored (N_l, M) per configuration."""
        return bool(self.spin_major) and self.spin_major[l - 1]

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [self.weight_shape(l) for l in range(1, self.L + 1)] + [self.spin_shape(l) for l in range(1, self.L)]

    @property
    def stored_shapes(self) -> list[tuple[int, int]]:
        """`shapes` as the flat buffer holds them: a feature-major S_l as (N_l, M)."""
        shapes = self.shapes
        for l in range(1, self.L):
            if self.feature_major(l):
                shapes[self.L + l - 1] = shapes[self.L + l - 1][::-1]
        return shapes

    @property
    def sizes(self) -> list[int]:
        return [a * b for a, b in self.shapes]

    @property
    def n_weights(self) -> int:
        return sum(self.sizes[: self.L])

    @property
    def n_spins(self) -> int:
        return sum(self.sizes[self.L :])

    @property
    def per_config(self) -> int:
        """Coordinates of one configuration (all weights and hidden neurons)."""
        return self.n_weights + self.n_spins

    @property
    def total(self) -> int:
        return self.S * self.K * self.per_config

    def stored_blocks(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views (S, K, rows, cols) into the flat buffer as it is stored: J_1..J_L, then S_1..S_{L-1}."""
        views, offset = [], 0
        for shape, size in zip(self.stored_shapes, self.sizes):
            n = self.S * self.K * size
            views.append(flat[offset : offset + n].view(self.S, self.K, *shape))
            offset += n
        return views

    def blocks(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views (S, K, rows, cols) into the flat buffer: J_1..J_L, then S_1..S_{L-1} as (M, N_l) (a
        transposed view of a feature-major S_l)."""
        views = self.stored_blocks(flat)
        for l in range(1, self.L):
            if self.feature_major(l):
                views[self.L + l - 1] = views[self.L + l - 1].transpose(-1, -2)
        return views

    def weights(self, flat: torch.Tensor) -> list[torch.Tensor]:
        return self.blocks(flat)[: self.L]

    def spins(self, flat: torch.Tensor) -> list[torch.Tensor]:
        return self.blocks(flat)[self.L :]

    def with_k(self, K: int) -> Layout:
        return replace(self, K=K)

    def sample_major(self) -> Layout:
        """This layout with every S_l stored (M, N_l): the order of checkpoints and of the Gaussian step."""
        return replace(self, spin_major=())

    def per_config_view(self, flat: torch.Tensor, which: str = "all") -> torch.Tensor:
        """(S, K, n) copy of each configuration's weights ('weights'), spins ('spins') or both."""
        blocks = self.blocks(flat)
        chosen = {"weights": blocks[: self.L], "spins": blocks[self.L :], "all": blocks}[which]
        return torch.cat([b.reshape(self.S, self.K, -1) for b in chosen], dim=-1)


def relayout(flat: torch.Tensor, src: Layout, dst: Layout) -> torch.Tensor:
    """The coordinates of `flat` (stored as `src`) in the order of `dst`, a layout of the same shapes: `flat`
    itself where the orders agree, else a copy (an exact permutation)."""
    if src.stored_shapes == dst.stored_shapes:
        return flat
    if src.shapes != dst.shapes or (src.S, src.K) != (dst.S, dst.K):
        raise ValueError(f"relayout: {src} and {dst} describe different configurations")
    out = torch.empty_like(flat)
    for a, b in zip(src.blocks(flat), dst.blocks(out)):
        b.copy_(a)
    return out
