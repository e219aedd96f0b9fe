"""Leap-frog Langevin dynamics over a plain state, in the spirit of JAX-MD.

A step is: gradient of the energy, friction and noise on the velocities, a drift of the
positions, reflection at the walls. With friction gamma and noise amplitude
sqrt(gamma (2 - gamma) T) the velocity update is an exact Ornstein-Uhlenbeck step whose
stationary variance is T (m = 1), for any gamma. The "per_step" thermostat uses gamma = eta,
the "literal" reading of the paper's equations gamma = eta * dt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from tdlm.space import reflect_

GradientFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (position, out) -> layer energies


@dataclass
class MDState:
    """Positions and velocities (flat buffers), the noise generator and the step counter."""

    position: torch.Tensor
    velocity: torch.Tensor
    rng: torch.Generator
    step: int = 0


@dataclass(frozen=True)
class Thermostat:
    friction: float  # gamma
    noise: float  # sqrt(gamma (2 - gamma) T)

    @classmethod
    def from_params(cls, kind: str, eta: float, dt: float, T: float) -> "Thermostat":
        gamma = {"per_step": eta, "literal": eta * dt}[kind]
        return cls(gamma, math.sqrt(gamma * (2.0 - gamma) * T))


def maxwell_boltzmann(shape: int, T: float, rng: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Velocities with <v^2> = k_B T / m (m = 1)."""
    return torch.randn(shape, generator=rng, dtype=dtype, device=device).mul_(math.sqrt(T))


class Integrator:
    """Advances an MDState in place; owns the preallocated gradient and noise buffers."""

    def __init__(self, gradient_fn: GradientFn, dt: float, thermostat: Thermostat, like: torch.Tensor):
        self.gradient_fn = gradient_fn
        self.dt = dt
        self.thermostat = thermostat
        self.grad = torch.empty_like(like)
        self.noise = torch.empty_like(like)

    def step(self, state: MDState) -> torch.Tensor:
        """One MD step; returns the layer energies at the positions before the step."""
        energies = self.gradient_fn(state.position, self.grad)
        v = state.velocity
        v.mul_(1.0 - self.thermostat.friction).add_(self.grad, alpha=-self.dt)
        if self.thermostat.noise > 0:
            torch.randn(v.shape, generator=state.rng, out=self.noise, dtype=v.dtype, device=v.device)
            v.add_(self.noise, alpha=self.thermostat.noise)
        state.position.add_(v, alpha=self.dt)
        reflect_(state.position, v)
        state.step += 1
        return energies
