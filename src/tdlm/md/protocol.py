"""One simulate job: run each sample from t = 0 to the largest t_w, branch replicas at every t_w,
and advance all branches of all samples as one batch to t_w + t*, recording on a log-time grid.

The loop is a pure function of the state (positions, velocities, generator state, step), and
measurements consume no random numbers, so a run resumed from any checkpoint reproduces the
uninterrupted run bit for bit.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdlm.data import Dataset, draw, load_pool
from tdlm.md import checkpoint
from tdlm.md.energy import Boundary, force_field
from tdlm.md.integrate import Integrator, MDState, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout
from tdlm.md.observables import measure_branches, measure_history
from tdlm.md.params import ConfigError, SimParams
from tdlm.progress import Progress

log = logging.getLogger("tdlm")
DIVERGENCE_CHECK_STEPS = 1000


class Divergence(RuntimeError):
    """NaN or Inf appeared; the message names the step and the first bad layer."""


class Interrupted(RuntimeError):
    """A stop signal (SLURM preemption or time limit) arrived; a checkpoint was written first."""

    def __init__(self, signum: int, step: int, path: Path):
        super().__init__(f"stopped by signal {signal.Signals(signum).name} at step {step}; checkpoint {path}")
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def log_grid(t_max: int, per_decade: int, extra: tuple[int, ...] = ()) -> np.ndarray:
    """0, then about `per_decade` integer times per decade up to t_max (inclusive), plus `extra`."""
    if t_max <= 0:
        return np.array(sorted({0, *extra}), dtype=np.int64)
    n = int(np.ceil(np.log10(t_max) * per_decade)) + 1
    grid = np.round(np.logspace(0, np.log10(t_max), n)).astype(np.int64)
    return np.array(sorted({0, t_max, *grid.tolist(), *extra}), dtype=np.int64)


def sample_seeds(seed: int, sample: int) -> tuple[int, int]:
    """(data seed, initial-state seed) of one sample; independent of how samples are packed into jobs."""
    data_seed, init_seed = np.random.SeedSequence([seed, sample]).generate_state(2)
    return int(data_seed), int(init_seed)


def noise_seed(seed: int, samples: tuple[int, ...]) -> int:
    """Seed of the job's thermal-noise stream (shared by the samples batched in the job)."""
    return int(np.random.SeedSequence([seed, *samples, 2**31 - 1]).generate_state(1)[0])


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a device is a configuration error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: got 'cuda' but no CUDA device is available; allowed values here: auto, cpu")
    return torch.device(name)


@dataclass
class Setup:
    """Everything a job derives from its parameters before the first step."""

    params: SimParams
    device: torch.device
    dtype: torch.dtype
    datasets: list[Dataset]
    train: Boundary
    test: Boundary
    layout: Layout  # before branching (K = 1)
    t_w: tuple[int, ...]  # sorted
    history_times: np.ndarray
    branch_times: np.ndarray

    @property
    def branched(self) -> Layout:
        return self.layout.with_k(len(self.t_w) * self.params.n_replicas)


def prepare(params: SimParams) -> Setup:
    device = resolve_device(params.device)
    dtype = {"float32": torch.float32, "float64": torch.float64}[params.dtype]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = params.tf32
        torch.backends.cudnn.allow_tf32 = params.tf32
    classes = list(params.data.classes)
    pool = load_pool(params.data.source, classes, params.data.path)
    datasets = [
        draw(pool, classes, params.M, params.n_test, np.random.default_rng(sample_seeds(params.seed, s)[0]))
        for s in params.samples
    ]
    n_test = min(len(d.test_index) for d in datasets)
    if n_test == 0:
        raise ValueError(f"M: {params.M} leaves no test examples in {params.data.source}; lower M")
    tensor = lambda a: torch.as_tensor(np.stack(a), dtype=dtype, device=device)  # noqa: E731
    train = Boundary(tensor([d.x_train for d in datasets]), tensor([d.y_train for d in datasets]))
    test = Boundary(tensor([d.x_test[:n_test] for d in datasets]), tensor([d.y_test[:n_test] for d in datasets]))
    widths = (train.x.shape[-1],) + (params.N,) * (params.L - 1) + (len(classes),)
    t_w = tuple(sorted(params.t_w))
    return Setup(
        params,
        device,
        dtype,
        datasets,
        train,
        test,
        Layout(widths, params.M, len(params.samples), 1),
        t_w,
        log_grid(t_w[-1], params.record_per_decade, t_w),
        log_grid(params.t_star, params.record_per_decade),
    )


def initial_state(setup: Setup) -> MDState:
    """Uniform positions per sample from the sample's own seed; Maxwell-Boltzmann velocities."""
    layout, p = setup.layout, setup.params
    position = torch.empty(layout.total, dtype=setup.dtype, device=setup.device)
    for s, sample in enumerate(p.samples):
        g = torch.Generator(device="cpu").manual_seed(sample_seeds(p.seed, sample)[1])
        for block in layout.blocks(position):
            block[s].copy_(torch.rand(block[s].shape, generator=g, dtype=setup.dtype).mul_(2).sub_(1))
    rng = torch.Generator(device=setup.device).manual_seed(noise_seed(p.seed, p.samples))
    velocity = maxwell_boltzmann(layout.total, p.T, rng, setup.dtype, setup.device)
    return MDState(position, velocity, rng, 0)


def branch(setup: Setup, snapshots: torch.Tensor) -> torch.Tensor:
    """Positions of every replica of every branch: snapshot n_tw x S configurations -> (S, n_tw*R) layout."""
    R, before, after = setup.params.n_replicas, setup.layout, setup.branched
    out = torch.empty(after.total, dtype=snapshots.dtype, device=snapshots.device)
    per_tw = [before.blocks(snap) for snap in snapshots]
    for i, target in enumerate(after.blocks(out)):
        stacked = torch.cat([blocks[i] for blocks in per_tw], dim=1)  # (S, n_tw, ...)
        target.copy_(stacked.repeat_interleave(R, dim=1))
    return out


def _check_energies(step: int, energies: torch.Tensor) -> None:
    """Raise Divergence naming the step and the first layer whose energy is not finite."""
    bad = ~torch.isfinite(energies)
    if bad.any():
        layer = int(bad.reshape(-1, energies.shape[-1]).any(0).nonzero()[0]) + 1
        raise Divergence(f"non-finite energy at step {step} in layer {layer}")


def _check_positions(step: int, layout: Layout, position: torch.Tensor) -> None:
    """Raise Divergence naming the step and the first block (weights J_l or spins S_l) that is not finite
    or has left the box (-1, 1): the walls fold a coordinate back once per step, so a step longer than the
    box (a diverging run: dt or T too large) can leave it outside."""
    low, high = torch.aminmax(position)  # one pass, no state-sized temporary; NaN propagates
    if -1.0 <= float(low) and float(high) <= 1.0:
        return
    names = [("weights J", l) for l in range(1, layout.L + 1)] + [("spins S", l) for l in range(1, layout.L)]
    for (kind, l), block in zip(names, layout.blocks(position)):
        if not torch.isfinite(block).all():
            raise Divergence(f"non-finite position at step {step} in {kind}_{l} (layer {l})")
        size = float(block.abs().max())
        if size > 1.0:
            raise Divergence(
                f"coordinate out of the box at step {step} in {kind}_{l} (layer {l}): |x| = {size:.4g} > 1; "
                "a step moved it farther than the walls fold back (lower dt or T)"
            )


# observables bounded by 1 in absolute value (Cauchy-Schwarz for the normalised ones, |x| <= 1 for the raw
# ones); float rounding of the normalised sums stays far inside this tolerance
BOUNDED = ("c", "c_norm", "C", "C_norm", "q", "q_norm", "Q", "Q_norm", "q_test")
BOUND_TOLERANCE = 1e-4


def _check_observables(step: int, measured: dict[str, torch.Tensor]) -> None:
    """Raise Divergence when an overlap or correlation has |value| > 1 or the kinetic temperature is not
    finite: such a record cannot be physical and must never reach a file."""
    for name in BOUNDED:
        if name not in measured:
            continue
        values = measured[name]
        over = values.abs() > 1.0 + BOUND_TOLERANCE  # NaN (no such layer) compares False
        if over.any():
            layer = int(over.reshape(-1, values.shape[-1]).any(0).nonzero()[0]) + 1
            worst = float(values.abs().nan_to_num(0.0).max())
            raise Divergence(f"{name} out of its physical range at step {step} in layer {layer}: |{name}| = {worst:.4g} > 1")
    if "kinetic_temperature" in measured and not torch.isfinite(measured["kinetic_temperature"]).all():
        raise Divergence(f"non-finite kinetic temperature at step {step}")


class Recorder:
    """Preallocated arrays of every observable; the time index is axis 1 (history) or 2 (branches)."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None):
        self.arrays: dict[str, np.ndarray] = arrays or {}

    def put(self, values: dict[str, torch.Tensor], index: int, n_times: int, axis: int) -> None:
        for name, value in values.items():
            v = value.detach().cpu().numpy()
            if name not in self.arrays:
                shape = v.shape[:axis] + (n_times,) + v.shape[axis:]
                self.arrays[name] = np.full(shape, np.nan, dtype=v.dtype)
            np.moveaxis(self.arrays[name], axis, 0)[index] = v


class Runner:
    """Drives the two phases with checkpoints, progress lines and divergence checks."""

    def __init__(self, setup: Setup, checkpoint_path: Path):
        self.setup = setup
        self.params = setup.params
        self.ckpt_path = checkpoint_path
        self.thermostat = Thermostat.from_params(self.params.thermostat, self.params.eta, self.params.dt, self.params.T)
        self.last_ckpt_time = time.monotonic()
        self.last_ckpt_step = 0
        self.stop_signal: int | None = None

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stop_signal = signum

    def _integrator(self, layout: Layout, like: torch.Tensor) -> Integrator:
        forces = force_field(layout, self.setup.train, like.dtype, like.device)
        return Integrator(forces, self.params.dt, self.thermostat, like, cuda_graph=self.params.cuda_graph)

    def _payload(self, phase: str, state: MDState, snapshots: torch.Tensor, recorder: Recorder) -> dict[str, Any]:
        return {
            "key": self.params.physics_key(),
            "params": self.params.flat(),
            "phase": phase,
            "step": state.step,
            "position": state.position.cpu(),
            "velocity": state.velocity.cpu(),
            "rng": state.rng.get_state(),
            "snapshots": snapshots.cpu(),
            "records": recorder.arrays,
        }

    def _maybe_checkpoint(
        self,
        phase: str,
        state: MDState,
        layout: Layout,
        snapshots: Callable[[], torch.Tensor],
        recorder: Recorder,
        energies: torch.Tensor,
    ) -> None:
        p = self.params
        by_steps = p.checkpoint_steps > 0 and state.step - self.last_ckpt_step >= p.checkpoint_steps
        by_time = p.checkpoint_seconds > 0 and time.monotonic() - self.last_ckpt_time >= p.checkpoint_seconds
        if not (by_steps or by_time or self.stop_signal):
            return
        # never overwrite a good checkpoint with a bad state (energies belong to the step before)
        _check_energies(state.step - 1, energies)
        _check_positions(state.step, layout, state.position)
        checkpoint.save(self.ckpt_path, self._payload(phase, state, snapshots(), recorder))
        self.last_ckpt_time, self.last_ckpt_step = time.monotonic(), state.step
        log.info("checkpoint at %s step %d -> %s", phase, state.step, self.ckpt_path)

    def _advance(
        self,
        phase: str,
        state: MDState,
        layout: Layout,
        until: int,
        events: dict[int, Callable[[], None]],
        snapshots: Callable[[], torch.Tensor],
        recorder: Recorder,
    ) -> None:
        integrator = self._integrator(layout, state.position)
        progress = Progress(f"{phase} (S={self.setup.layout.S})", until, self.params.progress_seconds, state.step)
        try:
            while True:
                if state.step in events:
                    events[state.step]()
                if state.step >= until:
                    break
                energies = integrator.step(state)
                if state.step % DIVERGENCE_CHECK_STEPS == 0:
                    _check_energies(state.step - 1, energies)  # energies of the positions before this step
                    _check_positions(state.step, layout, state.position)
                self._maybe_checkpoint(phase, state, layout, snapshots, recorder, energies)
                if self.stop_signal:
                    raise Interrupted(self.stop_signal, state.step, self.ckpt_path)
                progress.update(state.step)
        finally:
            integrator.close()  # its noise workers and CUDA graph, also when the run stops early
        progress.update(state.step, force=True)

    def run(self) -> tuple[Recorder, MDState, torch.Tensor]:
        """Run both phases; SIGTERM/SIGINT/SIGUSR1 write a checkpoint and raise Interrupted.

        Signal handlers can only be installed from the main thread; elsewhere (thread pools,
        notebooks' background jobs) the run simply has no stop handling.
        """
        in_main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS} if in_main else {}
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self) -> tuple[Recorder, MDState, torch.Tensor]:
        setup, p = self.setup, self.params
        resumed = checkpoint.load(self.ckpt_path, p.physics_key())
        recorder = Recorder(resumed["records"] if resumed else None)
        n_tw = len(setup.t_w)
        snaps = torch.zeros(n_tw, setup.layout.total, dtype=setup.dtype, device=setup.device)
        if resumed:
            snaps.copy_(resumed["snapshots"])
            state = MDState(
                resumed["position"].to(setup.device),
                resumed["velocity"].to(setup.device),
                torch.Generator(device=setup.device),
                resumed["step"],
            )
            state.rng.set_state(resumed["rng"])
            phase = resumed["phase"]
            self.last_ckpt_step = state.step
            log.info("resumed from %s: phase %s, step %d", self.ckpt_path, phase, state.step)
        else:
            state, phase = initial_state(setup), "wait"

        if phase == "wait":
            events: dict[int, Callable[[], None]] = {}
            history_index = {int(t): i for i, t in enumerate(setup.history_times)}

            def at(step: int) -> None:
                measured = measure_history(setup.layout, state.position, setup.train, setup.test)
                _check_energies(step, measured["history_energy_layer"])
                _check_positions(step, setup.layout, state.position)
                recorder.put(measured, history_index[step], len(setup.history_times), axis=1)
                for i, t in enumerate(setup.t_w):
                    if t == step:
                        snaps[i].copy_(state.position)

            for t in setup.history_times:
                events[int(t)] = lambda t=int(t): at(t)
            self._advance("wait", state, setup.layout, setup.t_w[-1], events, lambda: snaps, recorder)
            velocity = maxwell_boltzmann(setup.branched.total, p.T, state.rng, setup.dtype, setup.device)
            state = MDState(branch(setup, snaps), velocity, state.rng, 0)
            self.last_ckpt_step = 0
            phase = "branch"

        reference = branch(setup, snaps)
        layout = setup.branched
        branch_index = {int(t): i for i, t in enumerate(setup.branch_times)}

        def record(step: int) -> None:
            measured = measure_branches(
                layout,
                state.position,
                state.velocity,
                reference,
                setup.train,
                setup.test,
                n_tw,
                p.n_replicas,
            )
            _check_energies(step, measured["energy_layer"])
            _check_positions(step, layout, state.position)
            _check_observables(step, measured)
            recorder.put(measured, branch_index[step], len(setup.branch_times), axis=2)

        events = {int(t): (lambda t=int(t): record(t)) for t in setup.branch_times}
        self._advance("branch", state, layout, p.t_star, events, lambda: snaps, recorder)
        return recorder, state, reference
