"""The run loop's pieces: the next scheduled event, the checkpoint clock, the stop-signal guard, the stepping
between events; and, on a tiny job, checkpoints exactly where the step count and the wall time make them due."""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tdlm.md import checkpoint
from tdlm.md.checkpoint import CheckpointClock
from tdlm.md.checks import DIVERGENCE_CHECK_STEPS
from tdlm.md.params import build
from tdlm.md.run import advance, next_event
from tdlm.md.signals import STOP_SIGNALS, SignalGuard
from tdlm.md.simulate import run
from tdlm.md.state import MDState

TIMES = np.array([0, 1, 2, 5, 10, 2500, 2600])


@pytest.mark.parametrize(
    "step, until, every, expected",
    [
        (0, 3000, 0, 1),  # the next record
        (10, 3000, 0, DIVERGENCE_CHECK_STEPS),  # a divergence check before the next record (2500)
        (2000, 3000, 0, 2500),  # the next record before the next check (3000)
        (2600, 2700, 0, 2700),  # the phase's end
        (10, 3000, 7, 17),  # a checkpoint by step count (the last one at step 10)
    ],
)
def test_next_event_is_the_first_scheduled_one(step, until, every, expected):
    clock = CheckpointClock(every, 0.0, step)
    assert next_event(step, until, TIMES, clock) == expected


def test_next_event_is_always_ahead():
    """A checkpoint overdue by the step count (a resume, the first step after one) still means one step."""
    clock = CheckpointClock(5, 0.0, 0)
    assert next_event(12, 3000, TIMES, clock) == 13


def test_checkpoint_clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(checkpoint, "time", SimpleNamespace(monotonic=lambda: now[0]))
    clock = CheckpointClock(10, 60.0, 0)
    assert clock.next_step() == 10 and not clock.due(9) and clock.due(10)
    now[0] += 60.0
    assert clock.time_due() and clock.due(1)
    clock.written(4)
    assert clock.next_step() == 14 and not clock.due(13) and not clock.time_due()
    now[0] += 30.0
    clock.count_from(0)  # the branch phase counts its steps from 0; the wall time keeps running
    assert clock.next_step() == 10 and not clock.time_due()
    now[0] += 30.0
    assert clock.time_due()
    never = CheckpointClock(0, 0.0, 0)
    now[0] += 1e9
    assert never.next_step() is None and not never.due(10**9)


def test_signal_guard_records_the_signal_and_restores_the_handlers():
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with SignalGuard() as guard:
        assert guard.received is None
        assert all(signal.getsignal(sig) == guard._request_stop for sig in STOP_SIGNALS)
        signal.raise_signal(signal.SIGUSR1)
        assert guard.received == signal.SIGUSR1
    assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before


def test_signal_guard_off_the_main_thread_installs_nothing():
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    seen = {}

    def enter() -> None:
        with SignalGuard() as guard:
            seen.update({sig: signal.getsignal(sig) for sig in STOP_SIGNALS}, received=guard.received)

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    assert seen == {**before, "received": None}


class _Counting:
    """An integrator stand-in: each step adds 1 to the step and returns the step it started from."""

    def step(self, state: MDState) -> torch.Tensor:
        state.step += 1
        return torch.tensor(float(state.step - 1))


def _state(step: int = 0) -> MDState:
    return MDState(torch.zeros(1), torch.zeros(1), torch.Generator(), step)


def test_advance_steps_to_the_target_or_stops_when_polled():
    state = _state(3)
    energies = advance(_Counting(), state, 10, lambda: False)
    assert state.step == 10 and float(energies) == 9.0  # energies of the positions before the last step
    state = _state(3)
    advance(_Counting(), state, 10, lambda: state.step >= 6)
    assert state.step == 6
    state = _state(3)
    advance(_Counting(), state, 10, lambda: True)  # at least one step, even when already interrupted
    assert state.step == 4


def _saved_steps(params, out, monkeypatch) -> list[tuple[str, int]]:
    save, saved = checkpoint.save, []

    def spy(path, payload):
        saved.append((payload["phase"], payload["step"]))
        save(path, payload)

    monkeypatch.setattr(checkpoint, "save", spy)
    run(params, out)
    return saved


def test_checkpoints_by_step_count_in_both_phases(tiny, tmp_path, monkeypatch):
    """Every 7 steps, counted from 0 again in the branch phase (tiny: t_w = 5, 20; t* = 60)."""
    params = build({**tiny, "checkpoint_steps": 7, "checkpoint_seconds": 0})
    saved = _saved_steps(params, tmp_path / "job.nc", monkeypatch)
    assert saved == [("wait", 7), ("wait", 14)] + [("branch", s) for s in range(7, 60, 7)]


def test_checkpoints_by_wall_time_come_between_scheduled_events(tiny, tmp_path, monkeypatch):
    """A checkpoint interval shorter than a step: one checkpoint after every step, also where no record, check
    or step-count checkpoint stops the loop (the wall time is polled between steps)."""
    now = [0.0]

    def ticking() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(checkpoint, "time", SimpleNamespace(monotonic=ticking))  # one second per reading
    params = build({**tiny, "checkpoint_steps": 0, "checkpoint_seconds": 0.5})
    saved = _saved_steps(params, tmp_path / "job.nc", monkeypatch)
    assert saved == [("wait", s) for s in range(1, 21)] + [("branch", s) for s in range(1, 61)]
