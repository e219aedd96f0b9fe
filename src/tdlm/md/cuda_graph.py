"""A whole MD step captured once into a CUDA graph and replayed: one launch per step instead of ~170 (L = 10).

The step runs eagerly GRAPH_WARMUP_STEPS times on a side stream (cuBLAS handles, workspaces),
as the CUDA-graph docs ask, then is captured with the state's generator registered, so every
replay advances the generator by the step's draws and a graphed run draws the same numbers as
an eager one. New state tensors trigger a new capture.

A capture that fails is not retried and not replaced by eager steps: a failure at the CUDA level
leaves torch's stream and generators in capture mode, so anything run after it (an eager step, a
generator read for a checkpoint) would most likely fail too, or draw numbers no rerun reproduces.
The job ends with CaptureFailed, which names the way out (`cuda_graph: false`); its last checkpoint
is kept, so the rerun without the graph resumes from it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from tdlm.fields import ConfigError
from tdlm.md.state import MDState

GRAPH_WARMUP_STEPS = 3  # eager steps (on a side stream) before the graph is captured


class CaptureFailed(ConfigError):
    """The CUDA graph of the MD step could not be captured on this machine; the job stops (exit 2)."""


class GraphedStep:
    """Calls `step(state)` (forces and update, returns the layer energies) through a CUDA graph.

    `active` tells whether steps are being replayed, `error` why the capture failed (every later call
    raises CaptureFailed again: nothing runs after a failed capture).
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
            raise CaptureFailed(self._message(state.step))
        key = (id(state.position), state.position.data_ptr(), id(state.velocity), state.velocity.data_ptr(), id(state.rng))
        if self._graph is not None and key == self._key:
            self._graph.replay()
            return self._energies.clone()
        if self._graph is not None:  # new state tensors: capture again
            self._graph, self._energies, self._eager_steps = None, None, 0
        if self._eager_steps < GRAPH_WARMUP_STEPS:
            self._eager_steps += 1
            return self._warm_up(state)
        try:
            return self._capture_and_replay(state, key)
        except Exception as e:  # noqa: BLE001 - any capture failure ends the job, named
            self._graph, self._energies = None, None
            self.error = f"{type(e).__name__}: {e}"
            raise CaptureFailed(self._message(state.step)) from e

    def _message(self, step: int) -> str:
        return (
            f"cuda_graph: the CUDA graph of the MD step could not be captured (step {step}: {self.error}); "
            "set cuda_graph: false (--cuda-graph false) and run the same command again: it resumes from the "
            "last checkpoint with eager steps, which draw the same numbers"
        )

    def _warm_up(self, state: MDState) -> torch.Tensor:
        """One eager step on a side stream, as the CUDA-graph docs ask before a capture."""
        device = state.position.device
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            energies = self._step(state)
        torch.cuda.current_stream(device).wait_stream(side)
        return energies

    def _capture_and_replay(self, state: MDState, key: tuple) -> torch.Tensor:
        rng_state = state.rng.get_state()
        graph = torch.cuda.CUDAGraph()
        register = getattr(graph, "register_generator_state", None)
        if register is not None:  # explicit in torch 2.5-2.x; a deprecated no-op once registration is lazy
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                register(state.rng)
        with torch.cuda.graph(graph):
            energies = self._step(state)
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
