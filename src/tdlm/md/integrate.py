"""Leap-frog Langevin dynamics over a plain state, in the spirit of JAX-MD.

A step is: gradient of the energy, friction and noise on the velocities, a drift of the
positions, reflection at the walls. With friction gamma and noise amplitude
sqrt(gamma (2 - gamma) T) the velocity update is an exact Ornstein-Uhlenbeck step whose
stationary variance is T (m = 1), for any gamma. The "per_step" thermostat uses gamma = eta,
the "literal" reading of the paper's equations gamma = eta * dt.

The noise comes from the state's generator, so the trajectory is a pure function of
(position, velocity, generator state). A state of at most NOISE_CHUNK coordinates (and any
state on CUDA) draws one torch.randn over the whole buffer from it. A larger CPU state draws
each NOISE_CHUNK coordinates from a stream of its own, a generator seeded every step from the
state's generator: the CPU generator is serial (about 5 ns a number, half the time of the
step's matrix products at N = 10), so the streams are drawn by up to torch.get_num_threads()
workers at once. The streams are fixed by the state's size alone, so the trajectory does not
depend on the number of threads.
Two optional accelerations keep the stream and the arithmetic unchanged:
  cuda_graph=True (CUDA only): the whole step is captured once into a CUDA graph and replayed,
    one launch per step instead of ~170 (L = 10);
  overlap_noise=True (CPU only): the step's noise is drawn on a helper thread while the forces
    are computed (the CPU generator is serial; this uses one more core than torch's threads).
Both fall back to the plain step where they do not apply.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from tdlm.md.space import reflect_

GradientFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (position, out) -> layer energies
GRAPH_WARMUP_STEPS = 3  # eager steps (on a side stream) before the graph is captured
CPU_CHUNK = 1 << 19  # elements per piece of the CPU element-wise update (2 MiB per float32 buffer)
NOISE_CHUNK = 1 << 17  # elements per noise stream on the CPU (divides CPU_CHUNK: every piece holds whole streams)


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
    def from_params(cls, kind: str, eta: float, dt: float, T: float) -> Thermostat:
        gamma = {"per_step": eta, "literal": eta * dt}[kind]
        return cls(gamma, math.sqrt(gamma * (2.0 - gamma) * T))


def maxwell_boltzmann(shape: int, T: float, rng: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Velocities with <v^2> = k_B T / m (m = 1)."""
    return torch.randn(shape, generator=rng, dtype=dtype, device=device).mul_(math.sqrt(T))


class Integrator:
    """Advances an MDState in place; owns the preallocated gradient and noise buffers.

    `noise` holds the step's N(0, 1) numbers (on the CPU one piece of the update at a time,
    unless they are drawn ahead: overlap_noise, or several noise workers) and doubles as the
    walls' scratch buffer, so a step allocates nothing of the state's size.
    Flags (see the module docstring): `cuda_graph`, `overlap_noise`; `graph_active` tells whether
    steps are being replayed from a graph, `graph_error` why a capture was given up.
    `noise_workers` (default torch.get_num_threads()) caps the threads that draw the pieces' noise.
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
    ):
        self.gradient_fn = gradient_fn
        self.dt = dt
        self.thermostat = thermostat
        self.grad = torch.empty_like(like)
        self.cuda_graph = bool(cuda_graph) and like.device.type == "cuda"
        self.overlap_noise = bool(overlap_noise) and like.device.type == "cpu" and thermostat.noise > 0
        n = like.numel()
        self._pieces = self._pieces_of(n, like.device, CPU_CHUNK)
        # one noise stream per NOISE_CHUNK coordinates, reseeded from the state's generator every step
        # (see the module docstring); each piece of the update holds whole streams
        self._stream_slices = self._pieces_of(n, like.device, NOISE_CHUNK)
        many = len(self._stream_slices) > 1 and thermostat.noise > 0
        self._streams = [torch.Generator(device=like.device) for _ in self._stream_slices] if many else None
        self._piece_streams = [
            [j for j, st in enumerate(self._stream_slices) if p.start <= st.start < p.stop] for p in self._pieces
        ]
        workers = min(noise_workers or torch.get_num_threads(), len(self._stream_slices)) if many else 1
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tdlm-noise") if workers > 1 else None
        # the whole step's numbers are drawn before the update when drawn ahead (overlap), in
        # parallel (workers) or in one piece; otherwise one piece's worth at a time (saves a state-sized buffer)
        self._full_noise = self.overlap_noise or self._workers is not None or len(self._pieces) == 1
        n_noise = n if self._full_noise else max(p.stop - p.start for p in self._pieces)
        self.noise = torch.empty(n_noise, dtype=like.dtype, device=like.device)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdlm-overlap") if self.overlap_noise else None
        self._graph: torch.cuda.CUDAGraph | None = None
        self._graph_key: tuple | None = None
        self._graph_energies: torch.Tensor | None = None
        self._eager_steps = 0
        self.graph_error: str | None = None  # why the graph was given up, if it was

    @property
    def graph_active(self) -> bool:
        return self._graph is not None

    def _generators(self, rng: torch.Generator) -> list[torch.Generator]:
        """This step's generator of each noise stream: the state's own for a lone stream, else the
        streams' generators seeded from it (one draw of len(streams) integers per step)."""
        if self._streams is None:
            return [rng] * len(self._stream_slices)
        seeds = torch.randint(0, 1 << 62, (len(self._streams),), generator=rng, device=rng.device)
        for stream, seed in zip(self._streams, seeds.tolist()):
            stream.manual_seed(seed)
        return self._streams

    def _draw_streams(self, gens: list[torch.Generator], streams: list[int], buffer: torch.Tensor, offset: int) -> None:
        """N(0, 1) numbers of the given streams into `buffer`, whose element 0 is coordinate `offset`."""
        for j in streams:
            st = self._stream_slices[j]
            xi = buffer[st.start - offset : st.stop - offset]
            torch.randn(xi.shape, generator=gens[j], out=xi, dtype=xi.dtype, device=xi.device)

    def draw_noise(self, rng: torch.Generator, out: torch.Tensor | None = None) -> None:
        """One step's N(0, 1) numbers of every stream into `out` (state-sized; default the `noise`
        buffer where it is state-sized), streams in parallel when there are workers. The step uses
        it; the benchmark's noise floor too."""
        out = self.noise if out is None else out
        gens = self._generators(rng)
        everything = range(len(self._stream_slices))
        if self._workers is not None:
            list(self._workers.map(lambda j: self._draw_streams(gens, [j], out, 0), everything))
        else:
            self._draw_streams(gens, list(everything), out, 0)

    @staticmethod
    def _pieces_of(n: int, device: torch.device, size: int) -> list[slice]:
        """Consecutive slices of `size` elements on the CPU (the last one takes a remainder under 16),
        one slice on CUDA; a pure function of (n, device, size). Pieces of the update are cache-sized
        (the update is memory-bound; ~30% faster than whole-buffer passes at 10^6 coordinates)."""
        size = size if device.type == "cpu" else max(n, 1)
        bounds = list(range(0, n, size)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < 16:
            bounds.pop(-2)
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

    def _update(self, state: MDState, noise_drawn: bool = False) -> None:
        """Everything after the forces: friction, noise, drift, walls (self.grad holds dH/dx).

        With noise_drawn the buffer `noise` already holds this step's N(0, 1) numbers.
        """
        gamma, dt, sigma = self.thermostat.friction, self.dt, self.thermostat.noise
        gens = None
        if sigma > 0 and not noise_drawn:
            if self._full_noise:
                self.draw_noise(state.rng)
                noise_drawn = True
            else:
                gens = self._generators(state.rng)
        for piece, streams in zip(self._pieces, self._piece_streams):
            v, x, g = state.velocity[piece], state.position[piece], self.grad[piece]
            xi = self.noise[piece] if self._full_noise else self.noise[: piece.stop - piece.start]
            v.mul_(1.0 - gamma).add_(g, alpha=-dt)
            if sigma > 0:
                if not noise_drawn:
                    self._draw_streams(gens, streams, xi, piece.start)
                v.add_(xi, alpha=sigma)
            x.add_(v, alpha=dt)
            reflect_(x, v, work=xi)

    def _eager(self, state: MDState) -> torch.Tensor:
        if self._pool is not None:
            pending = self._pool.submit(self.draw_noise, state.rng)
            try:
                energies = self.gradient_fn(state.position, self.grad)
            finally:
                pending.result()  # the generator is never left mid-draw
            self._update(state, noise_drawn=True)
            return energies
        energies = self.gradient_fn(state.position, self.grad)
        self._update(state)
        return energies

    def step(self, state: MDState) -> torch.Tensor:
        """One MD step; returns the layer energies at the positions before the step."""
        if self.cuda_graph:
            energies = self._graph_step(state)
        else:
            energies = self._eager(state)
        state.step += 1
        return energies

    # ---------------------------------------------------------------- CUDA graph

    def _graph_step(self, state: MDState) -> torch.Tensor:
        key = (id(state.position), state.position.data_ptr(), id(state.velocity), state.velocity.data_ptr(), id(state.rng))
        if self._graph is not None and key == self._graph_key:
            self._graph.replay()
            return self._graph_energies.clone()
        if self._graph is not None:  # new state tensors: capture again
            self._graph, self._graph_energies, self._eager_steps = None, None, 0
        if self._eager_steps < GRAPH_WARMUP_STEPS:
            # warm-up (cuBLAS handles, workspaces) on a side stream, as the CUDA-graph docs ask
            side = torch.cuda.Stream(device=state.position.device)
            side.wait_stream(torch.cuda.current_stream(state.position.device))
            with torch.cuda.stream(side):
                energies = self._eager(state)
            torch.cuda.current_stream(state.position.device).wait_stream(side)
            self._eager_steps += 1
            return energies
        try:
            return self._capture_and_replay(state, key)
        except Exception as e:  # noqa: BLE001 - any capture failure: fall back to eager steps for good
            self._graph, self._graph_energies, self.cuda_graph = None, None, False
            self.graph_error = f"{type(e).__name__}: {e}"
            warnings.warn(f"CUDA graph capture failed, running eager steps: {self.graph_error}", RuntimeWarning, stacklevel=3)
            return self._eager(state)

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
                energies = self.gradient_fn(state.position, self.grad)
                self._update(state)
        except Exception:
            state.rng.set_state(rng_state)  # nothing ran; make sure the stream did not move
            raise
        # capture records kernels without running them, and each replay advances the generator by
        # the graph's draws, so replays continue the eager stream; guard against a torch that
        # advanced the generator during capture (resumed runs must draw the same numbers)
        if not torch.equal(state.rng.get_state(), rng_state):
            state.rng.set_state(rng_state)
        self._graph, self._graph_key, self._graph_energies = graph, key, energies
        graph.replay()
        return energies.clone()

    def close(self) -> None:
        """Release the helper threads and the graph (also done when the Integrator is collected)."""
        for name in ("_pool", "_workers"):
            pool = getattr(self, name, None)
            if pool is not None:
                pool.shutdown(wait=True)
                setattr(self, name, None)
        self._graph = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise while being collected
            pass
