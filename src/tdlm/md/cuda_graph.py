"""A whole MD step captured once into a CUDA graph and replayed: one launch per step instead of ~170 (L = 10).

The step runs eagerly GRAPH_WARMUP_STEPS times on a side stream (cuBLAS handles, workspaces),
as the CUDA-graph docs ask, then is captured with the state's generator registered, so every
replay advances the generator by the step's draws and a graphed run draws the same numbers as
an eager one. New state tensors trigger a new capture; any capture failure falls back to eager
steps for good, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tdlm.md.integrate import MDState

GRAPH_WARMUP_STEPS = 3  # eager steps (on a side stream) before the graph is captured


class GraphedStep:
    """Calls `step(state)` (forces and update, returns the layer energies) through a CUDA graph.

    `active` tells whether steps are being replayed, `error` why a capture was given up (from
    then on every call runs `step` eagerly).
    """

    def __init__(self, step: Callable[[MDState], torch.Tensor]):
        self._step = step
        self._graph: torch.cuda.CUDAGraph | None = None
        self._key: tuple | None = None
        self._energies: torch.Tensor | None = None
        self._eager_steps = 0
        self.error: str | None = None

    @property
    def active(self) -> bool:
        return self._graph is not None

    def __call__(self, state: MDState) -> torch.Tensor:
        if self.error is not None:
            return self._step(state)
        key = (id(state.position), state.position.data_ptr(), id(state.velocity), state.velocity.data_ptr(), id(state.rng))
        if self._graph is not None and key == self._key:
            self._graph.replay()
            return self._energies.clone()
        if self._graph is not None:  # new state tensors: capture again
            self._graph, self._energies, self._eager_steps = None, None, 0
        if self._eager_steps < GRAPH_WARMUP_STEPS:
            device = state.position.device
            side = torch.cuda.Stream(device=device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                energies = self._step(state)
            torch.cuda.current_stream(device).wait_stream(side)
            self._eager_steps += 1
            return energies
        try:
            return self._capture_and_replay(state, key)
        except Exception as e:  # noqa: BLE001 - any capture failure: fall back to eager steps for good
            self._graph, self._energies = None, None
            self.error = f"{type(e).__name__}: {e}"
            warnings.warn(f"CUDA graph capture failed, running eager steps: {self.error}", RuntimeWarning, stacklevel=3)
            return self._step(state)

    def _capture_and_replay(self, state: MDState, key: tuple) -> torch.Tensor:
        rng_state = state.rng.get_state()
        graph = torch.cuda.CUDAGraph()
        register = getattr(graph, "register_generator_state", None)
        if register is not None:  # explicit in torch 2.5-2.x; a deprecated no-op once registration is lazy
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                register(state.rng)
        try:
            with torch.cuda.graph(graph):
                energies = self._step(state)
        except Exception:
            state.rng.set_state(rng_state)  # nothing ran; make sure the stream did not move
            raise
        # capture records kernels without running them, and each replay advances the generator by
        # the graph's draws, so replays continue the eager stream; guard against a torch that
        # advanced the generator during capture (resumed runs must draw the same numbers)
        if not torch.equal(state.rng.get_state(), rng_state):
            state.rng.set_state(rng_state)
        self._graph, self._key, self._energies = graph, key, energies
        graph.replay()
        return energies.clone()

    def close(self) -> None:
        """Drop the graph (a later call captures again)."""
        self._graph = None
