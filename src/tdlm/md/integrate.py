"""Leap-frog Langevin dynamics over a plain state, in the spirit of JAX-MD.

A step is: gradient of the energy, friction and noise on the velocities, a drift of the
positions, reflection at the walls. With friction gamma and noise amplitude
sqrt(gamma (2 - gamma) T) the velocity update is an exact Ornstein-Uhlenbeck step whose
stationary variance is T (m = 1), for any gamma. The "per_step" thermostat uses gamma = eta,
the "literal" reading of the paper's equations gamma = eta * dt.

The noise is drawn from the state's generator (`tdlm.md.noise`: its streams, pieces, workers),
so the trajectory is a pure function of (position, velocity, generator state). `noise` picks the
numbers: "gaussian" (the spec's N(0, 1), default) or "uniform" (unit-variance uniform numbers, as
LAMMPS's fix langevin does for speed): on the CPU the uniform step is one compiled pass per piece
whose numbers come from a counter-based generator keyed by one draw of the state's generator per
step (`tdlm.md.native`); on CUDA they are torch's uniform numbers in the Gaussian's place. Two optional
accelerations keep the numbers and the arithmetic unchanged, and fall back to the plain step
where they do not apply:
  cuda_graph=True (CUDA only): the whole step replayed from a CUDA graph (`tdlm.md.cuda_graph`);
  overlap_noise=True (CPU only): the step's noise drawn on a helper thread while the forces are computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tdlm.md.cuda_graph import GraphedStep
from tdlm.md.native import UNIFORM_SCALE, langevin_uniform_
from tdlm.md.noise import NOISES, NoiseSource
from tdlm.md.space import reflect_
from tdlm.md.state import MDState

GradientFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (position, out) -> layer energies


@dataclass(frozen=True)
class Thermostat:
    friction: float  # gamma
    noise: float  # sqrt(gamma (2 - gamma) T)

    @classmethod
    def from_params(cls, kind: str, eta: float, dt: float, T: float) -> Thermostat:
        gamma = {"per_step": eta, "literal": eta * dt}[kind]
        return cls(gamma, math.sqrt(gamma * (2.0 - gamma) * T))


def maxwell_boltzmann(shape: int, T: float, rng: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Velocities with <v^2> = k_B T / m (m = 1)."""
    return torch.randn(shape, generator=rng, dtype=dtype, device=device).mul_(math.sqrt(T))


class Integrator:
    """Advances an MDState in place; owns the preallocated gradient and noise buffers.

    `noise` holds the step's N(0, 1) numbers (see NoiseSource) and doubles as the walls' scratch
    buffer, so a step allocates nothing of the state's size. Flags (see the module docstring):
    `cuda_graph`, `overlap_noise`; `graph_active` tells whether steps are being replayed from a
    graph, `graph_error` why a capture was given up. `noise_workers` (default
    torch.get_num_threads()) caps the threads that draw the noise.
    """

    def __init__(
        self,
        gradient_fn: GradientFn,
        dt: float,
        thermostat: Thermostat,
        like: torch.Tensor,
        *,
        cuda_graph: bool = False,
        overlap_noise: bool = False,
        noise_workers: int | None = None,
        noise: str = "gaussian",
    ):
        if noise not in NOISES:
            raise ValueError(f"noise: got {noise!r}; allowed values: {', '.join(NOISES)}")
        self.gradient_fn = gradient_fn
        self.dt = dt
        self.thermostat = thermostat
        self.grad = torch.empty_like(like)
        draws = thermostat.noise > 0
        # the CPU's uniform numbers are made inside the compiled update: no streams, no overlap
        self.fused_uniform = noise == "uniform" and like.device.type == "cpu"
        self.overlap_noise = bool(overlap_noise) and like.device.type == "cpu" and draws and not self.fused_uniform
        self.noise_source = NoiseSource(
            like,
            draws=draws and not self.fused_uniform,
            workers=noise_workers,
            overlap=self.overlap_noise,
            kind=noise,
            pool=self.fused_uniform,
        )
        self.noise = self.noise_source.buffer
        self._graphed = GraphedStep(self._eager) if cuda_graph and like.device.type == "cuda" else None

    @property
    def cuda_graph(self) -> bool:
        """Whether steps go through the CUDA graph (False on the CPU and after a failed capture)."""
        return self._graphed is not None and self._graphed.error is None

    @property
    def graph_active(self) -> bool:
        return self._graphed is not None and self._graphed.active

    @property
    def graph_error(self) -> str | None:
        return None if self._graphed is None else self._graphed.error

    def draw_noise(self, rng: torch.Generator, out: torch.Tensor | None = None) -> None:
        """One step's N(0, 1) numbers, exactly as the step draws them (the benchmark's noise floor)."""
        self.noise_source.draw(rng, out)

    def step(self, state: MDState) -> torch.Tensor:
        """One MD step; returns the layer energies at the positions before the step."""
        energies = self._graphed(state) if self._graphed is not None else self._eager(state)
        state.step += 1
        return energies

    def _eager(self, state: MDState) -> torch.Tensor:
        """Forces, then the update (with overlap_noise the noise is drawn while the forces are computed)."""
        if self.noise_source.overlaps:
            with self.noise_source.drawing_meanwhile(state.rng):
                energies = self.gradient_fn(state.position, self.grad)
            self._update(state, noise_drawn=True)
        else:
            energies = self.gradient_fn(state.position, self.grad)
            self._update(state)
        return energies

    def _update(self, state: MDState, noise_drawn: bool = False) -> None:
        """Everything after the forces (self.grad holds dH/dx): friction, noise, drift, walls, piece by piece."""
        gamma, dt, sigma = self.thermostat.friction, self.dt, self.thermostat.noise
        if self.fused_uniform:
            key = int(torch.randint(0, 1 << 62, (1,), generator=state.rng)) if sigma > 0 else 0
            x, v, g = state.position, state.velocity, self.grad
            self.noise_source.for_pieces(
                lambda p: langevin_uniform_(x[p], v[p], g[p], p.start, key, 1.0 - gamma, -dt, sigma * UNIFORM_SCALE, dt)
            )
            return
        rng = state.rng if sigma > 0 and not noise_drawn else None
        for piece, xi in self.noise_source.step_pieces(rng):
            v, x, g = state.velocity[piece], state.position[piece], self.grad[piece]
            v.mul_(1.0 - gamma).add_(g, alpha=-dt)
            if sigma > 0:
                v.add_(xi, alpha=sigma)
            x.add_(v, alpha=dt)
            reflect_(x, v, work=xi)

    def close(self) -> None:
        """Release the noise threads and the graph (the threads also go when the Integrator is collected)."""
        self.noise_source.close()
        if self._graphed is not None:
            self._graphed.close()
