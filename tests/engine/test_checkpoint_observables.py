"""docs/validation/checkpoint_observables.py measures a checkpoint as the job would have recorded it: on the tiny
job's branch checkpoint (step 30, a record time), its values equal the uninterrupted run's at t = 30 (to float
rounding: bit for bit on the CPU model that wrote the checkpoint, close on another, one test image at most)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.scripts import load_script

FIXTURE = Path(__file__).parent / "data" / "tiny_8838e78_branch.ckpt"


@pytest.fixture(scope="module")
def script():
    return load_script("checkpoint_observables")


def test_a_checkpoint_measures_as_the_job_records(script, tiny_run, load_nc):
    step, obs = script.observables(FIXTURE)
    assert step == 30
    recorded = load_nc(tiny_run[1]).sel(t=step).isel(sample=0)
    for name in ("accuracy", "accuracy_tanh"):
        want = recorded[name].transpose("t_w", "replica").values
        np.testing.assert_allclose(obs[name], want, atol=1.5 / recorded.sizes["test_example"], err_msg=name)
    for name in script.NAMES:
        want = recorded[name].transpose("t_w", "pair", "layer").values[..., :-1]
        np.testing.assert_allclose(obs[name], want, rtol=1e-3, atol=1e-4, err_msg=name)


def test_the_recorded_series_of_a_checkpoint_are_the_runs_so_far(script, tiny_run, load_nc):
    """--series reads the series recorded before the checkpoint's step (step 30 itself is recorded when the job
    resumes) as the finished job's gather holds them, and NaN from there on; the tables stop at the last time
    recorded, t = 24."""
    from tdlm.sweep.gather import reduce_job

    partial = script.recorded_series([FIXTURE])
    finished = reduce_job(load_nc(tiny_run[1]), tiny_run[1])
    done = partial.t.values < 30
    assert 0 < done.sum() < partial.sizes["t"]
    np.testing.assert_array_equal(partial.t.values, finished.t.values)
    for name in ("c_norm", "C_norm", "q_norm", "Q_norm", "energy_layer", "accuracy"):
        got, want = partial[name].transpose(*finished[name].dims), finished[name]
        np.testing.assert_allclose(got.isel(t=done).values, want.isel(t=done).values, rtol=1e-3, atol=1e-4, err_msg=name)
        assert np.isnan(got.isel(t=~done).values).all(), name
    table = script.aging_rows(partial)
    assert "starred values at t = 24 " in table
    assert table.count("\n| 5 |") == table.count("\n| 20 |") == 1  # one row per t_w
    layers = script.aging_layer_rows(partial)
    row = next(line for line in layers.splitlines() if line.startswith("| q* | 20 |"))
    want = finished.q_norm.sel(t_w=20, t=24).isel(sample=0).values[:2]
    np.testing.assert_allclose([float(v) for v in row.split("|")[3:5]], want, atol=0.006)
    profile = script.heldout_rows(partial)
    assert "t_w = 20, t = 24 " in profile
    want = finished.q_test.sel(t_w=20, t=24).isel(sample=0).values[:2]  # L = 3: spin layers 1, 2
    row = next(line for line in profile.splitlines() if line.startswith("| measured, sign network"))
    np.testing.assert_allclose([float(v) for v in row.split("|")[2:4]], want, atol=0.006)  # printed to 2 digits
