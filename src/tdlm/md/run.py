"""One simulate job's run loop: run each sample from t = 0 to the largest t_w, branch replicas at every
t_w, and advance all branches of all samples as one batch to t_w + t*, recording on a log-time grid.

The loop is a pure function of the state (positions, velocities, generator state, step), and
measurements consume no random numbers, so a run resumed from any checkpoint on the same device model
reproduces the uninterrupted run bit for bit (tdlm.md.checkpoint: what happens on another device).

Each phase is a plain loop that advances the state to its next event and handles it: a record (the
log-time grid), the end of the phase (branching, or the end of the job), a checkpoint due by its step
count (CheckpointClock), a divergence check (every DIVERGENCE_CHECK_STEPS). Three events come from outside
the schedule and are polled between steps: a stop signal (SignalGuard), a checkpoint due by wall time and a
progress line due (both every so many seconds).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdlm import device
from tdlm.md import checkpoint
from tdlm.md.checks import DIVERGENCE_CHECK_STEPS, check_energies, check_observables, check_positions
from tdlm.md.energy import force_field
from tdlm.md.integrate import Integrator, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout, relayout
from tdlm.md.observables import measure_branches, measure_history
from tdlm.md.segments import Segments
from tdlm.md.setup import Setup, branch, initial_state
from tdlm.md.signals import SignalGuard
from tdlm.md.state import MDState
from tdlm.progress import Progress

log = logging.getLogger("tdlm")


class Interrupted(RuntimeError):
    """A stop signal (SLURM preemption or time limit) arrived; a checkpoint was written first."""

    def __init__(self, signum: int, step: int, path: Path):
        super().__init__(f"stopped by signal {signal.Signals(signum).name} at step {step}; checkpoint {path}")
        self.signum = signum


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


def next_event(step: int, until: int, times: np.ndarray, clock: checkpoint.CheckpointClock) -> int:
    """The first step after `step` with a scheduled event: the next record time, the phase's end, a
    checkpoint due by its step count, or a divergence check."""
    later = times[times > step]
    due = clock.next_step()
    candidates = [until, (step // DIVERGENCE_CHECK_STEPS + 1) * DIVERGENCE_CHECK_STEPS]
    candidates += [int(later[0])] if len(later) else []
    candidates += [max(due, step + 1)] if due is not None else []
    return min(candidates)


def advance(integrator: Integrator, state: MDState, target: int, interrupted: Callable[[], bool]) -> torch.Tensor:
    """Step the state to `target`, or fewer steps (at least one) when `interrupted()` turns true; return the
    layer energies of the positions before the last step."""
    energies = integrator.step(state)
    while state.step < target and not interrupted():
        energies = integrator.step(state)
    return energies


class Runner:
    """Drives the two phases; `devices` and `graph_replayed` describe the run for its output file."""

    def __init__(self, setup: Setup, checkpoint_path: Path):
        self.setup = setup
        self.params = setup.params
        self.ckpt_path = checkpoint_path
        self.thermostat = Thermostat.from_params(self.params.thermostat, self.params.eta, self.params.dt, self.params.T)
        self.clock = checkpoint.CheckpointClock(self.params.checkpoint_steps, self.params.checkpoint_seconds)
        self.signals = SignalGuard()
        # the devices that computed this trajectory (more than one after a resume on another model)
        self.devices = [device.describe(setup.device)]
        self.graph_replayed = False  # whether any step was replayed from a CUDA graph
        self.segments = Segments(None, "wait", 0)  # what the job cost, per process (the resumed ones' too)

    def _phase_layout(self, phase: str) -> Layout:
        return self.setup.layout if phase == "wait" else self.setup.branched

    def _integrator(self, layout: Layout, like: torch.Tensor) -> Integrator:
        p = self.params
        # the uniform noise's step also computes the forces' element-wise work in compiled passes
        forces = force_field(layout, self.setup.train, like.dtype, like.device, fused=p.noise == "uniform")
        return Integrator(forces, p.dt, self.thermostat, like, cuda_graph=p.cuda_graph, noise=p.noise)

    def _payload(self, phase: str, state: MDState, snapshots: torch.Tensor, recorder: Recorder) -> dict[str, Any]:
        # the coordinates in the sample-major order (Layout.sample_major), whatever order this run keeps them in
        layout, before = self._phase_layout(phase), self.setup.layout
        plain = lambda flat, lay: relayout(flat, lay, lay.sample_major()).cpu()  # noqa: E731
        return {
            "key": self.params.physics_key(),
            "params": self.params.flat(),
            "phase": phase,
            "step": state.step,
            "position": plain(state.position, layout),
            "velocity": plain(state.velocity, layout),
            "rng": state.rng.get_state(),
            "snapshots": torch.stack([plain(snap, before) for snap in snapshots]),
            "records": recorder.arrays,
            "devices": self.devices,
            "graph_replayed": self.graph_replayed,
            "segments": self.segments.upto(phase, state.step),
        }

    def _checkpoint(
        self, phase: str, state: MDState, layout: Layout, energies: torch.Tensor, snapshots: torch.Tensor, recorder: Recorder
    ) -> None:
        # never overwrite a good checkpoint with a bad state (energies belong to the step before)
        check_energies(state.step - 1, energies)
        check_positions(state.step, layout, state.position)
        checkpoint.save(self.ckpt_path, self._payload(phase, state, snapshots, recorder))
        self.clock.written(state.step)
        log.info("checkpoint at %s step %d -> %s", phase, state.step, self.ckpt_path)

    def _advance(
        self,
        phase: str,
        state: MDState,
        layout: Layout,
        until: int,
        times: np.ndarray,
        record: Callable[[int, int], None],
        snapshots: torch.Tensor,
        recorder: Recorder,
    ) -> None:
        """The phase's loop: handle the events at the state's step, advance to the next event, repeat until
        `until`. `record(step, index)` measures at `times[index]`."""
        index = {int(t): i for i, t in enumerate(times)}
        integrator = self._integrator(layout, state.position)
        progress = Progress(f"{phase} (S={self.setup.layout.S})", until, self.params.progress_seconds, state.step)

        def polled() -> bool:  # the events that come between scheduled ones
            return self.signals.received is not None or self.clock.time_due() or progress.due()

        try:
            while True:
                if state.step in index:
                    record(state.step, index[state.step])
                if state.step >= until:
                    break
                energies = advance(integrator, state, next_event(state.step, until, times, self.clock), polled)
                if state.step % DIVERGENCE_CHECK_STEPS == 0:
                    check_energies(state.step - 1, energies)  # energies of the positions before this step
                    check_positions(state.step, layout, state.position)
                if self.clock.due(state.step) or self.signals.received is not None:
                    self._checkpoint(phase, state, layout, energies, snapshots, recorder)
                if self.signals.received is not None:
                    raise Interrupted(self.signals.received, state.step, self.ckpt_path)
                progress.update(state.step)
        finally:
            self.graph_replayed |= integrator.graph_active
            integrator.close()  # its noise workers and CUDA graph, also when the run stops early
        progress.update(state.step, force=True)

    def run(self) -> tuple[Recorder, MDState, torch.Tensor]:
        """Run both phases (from the checkpoint if there is one); SIGTERM/SIGINT/SIGUSR1 write a checkpoint
        and raise Interrupted (tdlm.md.signals: only when run from the main thread)."""
        with self.signals:
            return self._run()

    def _run(self) -> tuple[Recorder, MDState, torch.Tensor]:
        setup = self.setup
        resumed = checkpoint.load(self.ckpt_path, self.params.physics_key())
        recorder = Recorder(resumed["records"] if resumed else None)
        snaps = torch.zeros(len(setup.t_w), setup.layout.total, dtype=setup.dtype, device=setup.device)
        if resumed:
            self.devices = checkpoint.check_device(self.ckpt_path, resumed, self.devices[0])
            self.graph_replayed = bool(resumed.get("graph_replayed", False))
            for snap, saved in zip(snaps, resumed["snapshots"]):
                snap.copy_(relayout(saved, setup.layout.sample_major(), setup.layout))
            state = checkpoint.restore(self.ckpt_path, resumed, setup.device)
            phase = resumed["phase"]
            self.segments = Segments(resumed.get("segments"), phase, state.step)
            layout = self._phase_layout(phase)
            state.position = relayout(state.position, layout.sample_major(), layout)
            state.velocity = relayout(state.velocity, layout.sample_major(), layout)
            self.clock.count_from(state.step)
            log.info("resumed from %s: phase %s, step %d", self.ckpt_path, phase, state.step)
        else:
            state, phase = initial_state(setup), "wait"
        if phase == "wait":
            state = self._wait(state, snaps, recorder)
        return self._branch(state, snaps, recorder)

    def _wait(self, state: MDState, snaps: torch.Tensor, recorder: Recorder) -> MDState:
        """Advance the single trajectory to the largest t_w, recording the history and keeping a snapshot at
        every t_w; return the branched state at step 0 with fresh Maxwell-Boltzmann velocities."""
        setup = self.setup

        def record(step: int, index: int) -> None:
            measured = measure_history(setup.layout, state.position, setup.train, setup.test)
            check_energies(step, measured["history_energy_layer"])
            check_positions(step, setup.layout, state.position)
            recorder.put(measured, index, len(setup.history_times), axis=1)
            for i, t in enumerate(setup.t_w):
                if t == step:
                    snaps[i].copy_(state.position)

        self._advance("wait", state, setup.layout, setup.t_w[-1], setup.history_times, record, snaps, recorder)
        velocity = maxwell_boltzmann(setup.branched.total, self.params.T, state.rng, setup.dtype, setup.device)
        self.clock.count_from(0)
        return MDState(branch(setup, snaps), velocity, state.rng, 0)

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

        self._advance("branch", state, layout, p.t_star, setup.branch_times, record, snaps, recorder)
        return recorder, state, reference
