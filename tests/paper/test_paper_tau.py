"""tau_l: the first crossing of an auto-correlation with 1/e (interpolated in ln t), NaN when never."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tdlm.md.setup import log_grid
from tdlm.paper.tau import THRESHOLD, crossing_times, first_crossing


def test_exponential_decay_on_the_log_grid_gives_its_time_constant():
    t = log_grid(100_000, 10).astype(float)
    for tau in (3.0, 250.0, 4000.0):
        got = first_crossing(t, np.exp(-t / tau))
        # log-linear interpolation of an exponential between grid points 10^(1/10) apart
        assert got == pytest.approx(tau, rel=0.03)


def test_interpolates_in_log_time_between_the_bracketing_points():
    t = np.array([0.0, 10.0, 1000.0])
    c = np.array([1.0, 0.6, 0.6 - 2 * (0.6 - THRESHOLD)])  # crossing exactly half-way from c(10) to c(1000)
    assert first_crossing(t, c) == pytest.approx(100.0)


def test_linear_interpolation_when_the_point_before_is_t0():
    assert first_crossing(np.array([0.0, 4.0]), np.array([1.0, 1.0 - 2 * (1.0 - THRESHOLD)])) == pytest.approx(2.0)


def test_never_below_threshold_is_undefined():
    t = np.array([0.0, 1.0, 10.0, 100.0])
    assert math.isnan(first_crossing(t, np.array([1.0, 0.9, 0.8, 0.5])))
    assert math.isnan(first_crossing(t, np.full(4, np.nan)))


def test_starting_below_threshold_gives_the_first_time():
    assert first_crossing(np.array([0.0, 1.0]), np.array([0.2, 0.1])) == 0.0


def test_nan_entries_are_skipped_and_later_recoveries_ignored():
    t = np.array([0.0, 1.0, 10.0, 100.0, 1000.0])
    c = np.array([1.0, np.nan, 0.9, 0.1, 0.9])  # the first crossing counts, not the recovery
    got = first_crossing(t, c)
    assert 10.0 < got < 100.0


def test_threshold_is_configurable():
    t = np.array([0.0, 1.0, 2.0])
    assert first_crossing(t, np.array([1.0, 0.6, 0.4]), threshold=0.5) == pytest.approx(math.sqrt(2.0))  # half-way in ln t


def test_crossing_times_keeps_the_trailing_shape():
    t = log_grid(1000, 5).astype(float)
    curves = np.stack([np.exp(-t / 10.0), np.ones_like(t)], axis=-1)[:, None, :]  # (time, 1, 2)
    out = crossing_times(t, curves)
    assert out.shape == (1, 2)
    assert out[0, 0] == pytest.approx(10.0, rel=0.1) and math.isnan(out[0, 1])
