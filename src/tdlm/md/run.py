"""One simulate job's run loop: run each sample from t = 0 to the largest t_w, branch replicas at every
t_w, and advance all branches of all samples as one batch to t_w + t*, recording on a log-time grid.

The loop is a pure function of the state (positions, velocities, generator state, step), and
measurements consume no random numbers, so a run resumed from any checkpoint on the same device model
reproduces the uninterrupted run bit for bit (tdlm.md.checkpoint: what happens on another device).
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdlm import device
from tdlm.md import checkpoint
from tdlm.md.checks import DIVERGENCE_CHECK_STEPS, check_energies, check_observables, check_positions
from tdlm.md.energy import force_field
from tdlm.md.integrate import Integrator, MDState, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout
from tdlm.md.observables import measure_branches, measure_history
from tdlm.md.setup import Setup, branch, initial_state
from tdlm.progress import Progress

log = logging.getLogger("tdlm")


class Interrupted(RuntimeError):
    """A stop signal (SLURM preemption or time limit) arrived; a checkpoint was written first."""

    def __init__(self, signum: int, step: int, path: Path):
        super().__init__(f"stopped by signal {signal.Signals(signum).name} at step {step}; checkpoint {path}")
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


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


def _on_grid(times: np.ndarray, measure: Callable[[int, int], None]) -> dict[int, Callable[[], None]]:
    """One event per recording time: measure(step, index of the step on the grid)."""
    return {int(t): functools.partial(measure, int(t), i) for i, t in enumerate(times)}


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
        # the devices that computed this trajectory (more than one after a resume on another model)
        self.devices = [device.describe(setup.device)]
        self.graph_replayed = False  # whether any step was replayed from a CUDA graph

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stop_signal = signum

    def _integrator(self, layout: Layout, like: torch.Tensor) -> Integrator:
        p = self.params
        # the uniform noise's step also computes the forces' element-wise work in compiled passes
        forces = force_field(layout, self.setup.train, like.dtype, like.device, fused=p.noise == "uniform")
        return Integrator(forces, p.dt, self.thermostat, like, cuda_graph=p.cuda_graph, noise=p.noise)

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
            "devices": self.devices,
            "graph_replayed": self.graph_replayed,
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
        check_energies(state.step - 1, energies)
        check_positions(state.step, layout, state.position)
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
                    check_energies(state.step - 1, energies)  # energies of the positions before this step
                    check_positions(state.step, layout, state.position)
                self._maybe_checkpoint(phase, state, layout, snapshots, recorder, energies)
                if self.stop_signal:
                    raise Interrupted(self.stop_signal, state.step, self.ckpt_path)
                progress.update(state.step)
        finally:
            self.graph_replayed |= integrator.graph_active
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
        setup = self.setup
        resumed = checkpoint.load(self.ckpt_path, self.params.physics_key())
        recorder = Recorder(resumed["records"] if resumed else None)
        snaps = torch.zeros(len(setup.t_w), setup.layout.total, dtype=setup.dtype, device=setup.device)
        if resumed:
            self.devices = checkpoint.check_device(self.ckpt_path, resumed, self.devices[0])
            self.graph_replayed = bool(resumed.get("graph_replayed", False))
            snaps.copy_(resumed["snapshots"])
            state = MDState(
                resumed["position"].to(setup.device),
                resumed["velocity"].to(setup.device),
                self._generator(resumed["rng"]),
                resumed["step"],
            )
            phase = resumed["phase"]
            self.last_ckpt_step = state.step
            log.info("resumed from %s: phase %s, step %d", self.ckpt_path, phase, state.step)
        else:
            state, phase = initial_state(setup), "wait"
        if phase == "wait":
            state = self._wait(state, snaps, recorder)
        return self._branch(state, snaps, recorder)

    def _generator(self, saved: torch.Tensor) -> torch.Generator:
        """A generator on the run's device in the checkpoint's state; one written on another device type
        (a checkpoint too old to record its device) is refused by name, as check_device refuses the others."""
        rng = torch.Generator(device=self.setup.device)
        try:
            rng.set_state(saved)
        except RuntimeError as err:
            raise checkpoint.CheckpointDeviceMismatch(
                f"checkpoint {self.ckpt_path} holds a generator state of {saved.numel()} bytes that a "
                f"{self.setup.device.type} generator cannot take ({err}); resume it on the device type that "
                f"wrote it (--device), or delete it to start this job over on {self.setup.device.type} (from t = 0)"
            ) from None
        return rng

    def _wait(self, state: MDState, snaps: torch.Tensor, recorder: Recorder) -> MDState:
        """Advance the single trajectory to the largest t_w, recording the history and keeping a snapshot at
        every t_w; return the branched state at step 0 with fresh Maxwell-Boltzmann velocities."""
        setup = self.setup

        def at(step: int, index: int) -> None:
            measured = measure_history(setup.layout, state.position, setup.train, setup.test)
            check_energies(step, measured["history_energy_layer"])
            check_positions(step, setup.layout, state.position)
            recorder.put(measured, index, len(setup.history_times), axis=1)
            for i, t in enumerate(setup.t_w):
                if t == step:
                    snaps[i].copy_(state.position)

        events = _on_grid(setup.history_times, at)
        self._advance("wait", state, setup.layout, setup.t_w[-1], events, lambda: snaps, recorder)
        velocity = maxwell_boltzmann(setup.branched.total, self.params.T, state.rng, setup.dtype, setup.device)
        branched = MDState(branch(setup, snaps), velocity, state.rng, 0)
        self.last_ckpt_step = 0
        return branched

    def _branch(self, state: MDState, snaps: torch.Tensor, recorder: Recorder) -> tuple[Recorder, MDState, torch.Tensor]:
        """Advance every branch of every sample to t*, recording against the branch's reference snapshot."""
        setup, p = self.setup, self.params
        reference = branch(setup, snaps)
        layout = setup.branched

        def record(step: int, index: int) -> None:
            measured = measure_branches(
                layout,
                state.position,
                state.velocity,
                reference,
                setup.train,
                setup.test,
                len(setup.t_w),
                p.n_replicas,
            )
            check_energies(step, measured["energy_layer"])
            check_positions(step, layout, state.position)
            check_observables(step, measured)
            recorder.put(measured, index, len(setup.branch_times), axis=2)

        events = _on_grid(setup.branch_times, record)
        self._advance("branch", state, layout, p.t_star, events, lambda: snaps, recorder)
        return recorder, state, reference
