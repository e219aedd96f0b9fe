"""Faults in a finished sweep: a diverged point does not sink it, settings that do not change a result rerun
nothing, a physics change reruns the simulations, and a damaged job file is recomputed by the next run
instead of being lost."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr

from helpers.workflow import copy_workflow, load_tiny, run_snakemake, write_config

pytestmark = pytest.mark.slow


def _config() -> dict:
    config = copy.deepcopy(load_tiny())
    config["run"] = "faults"
    config["grids"][0]["alpha"] = {"M": 20, "N": [4]}
    config["grids"][0]["L"] = [3]
    # T = 1e4 makes every step longer than the box: that point diverges, deterministically
    config["grids"][0]["T"] = [1.0e-5, 1.0e4]
    return config  # two points, two jobs each (samples 0 and 1)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("faults") / "wf")
    path = write_config(workdir / "faults.yaml", _config())
    result = run_snakemake(workdir, "--configfile", str(path), timeout=900)
    assert result.returncode == 0, result.output[-5000:]
    out = workdir / "results" / "faults"
    return workdir, out, xr.load_dataset(out / "phase.nc", engine="netcdf4")


def _dry_run(workdir, config: dict):
    path = write_config(workdir / "changed.yaml", config)
    return run_snakemake(workdir, "-n", "--configfile", str(path), timeout=300)


def test_bookkeeping_changes_rerun_nothing(finished):
    workdir, _, _ = finished
    config = _config()
    config.update(progress_seconds=1, checkpoint_steps=7, checkpoint_seconds=11)
    result = _dry_run(workdir, config)
    assert result.returncode == 0, result.output[-3000:]
    assert "Nothing to be done" in result.output, result.output[-3000:]


def test_a_physics_change_reruns_the_simulations(finished):
    workdir, _, _ = finished
    config = _config()
    config["dt"] = 0.02
    result = _dry_run(workdir, config)
    assert result.returncode == 0, result.output[-3000:]
    assert "rule simulate:" in result.output and "Params have changed" in result.output


def test_a_truncated_job_file_is_recomputed(finished):
    workdir, out, phase = finished
    config_path = workdir / "faults.yaml"
    job = next((out / "sims").glob("**/T~1e-05/job~0.nc"))
    raw = job.read_bytes()
    job.write_bytes(raw[: len(raw) // 2])

    failed = run_snakemake(workdir, "--configfile", str(config_path), timeout=600)
    assert failed.returncode != 0
    log = next((out / "logs" / "gather_point").glob("**/T~1e-05.log")).read_text()
    assert str(job.relative_to(workdir)) in log and "unreadable job file" in log and "moved to" in log, log
    assert "Traceback" not in log
    assert not job.exists() and job.with_name(job.name + ".damaged").exists()
    assert (out / "phase.nc").exists()  # nothing downstream was lost

    healed = run_snakemake(workdir, "--configfile", str(config_path), timeout=900)
    assert healed.returncode == 0, healed.output[-5000:]
    assert job.exists()
    again = xr.load_dataset(out / "phase.nc", engine="netcdf4")
    for name in phase.data_vars:
        assert np.array_equal(again[name].values, phase[name].values, equal_nan=True), name
    nothing = run_snakemake(workdir, "-n", "--configfile", str(config_path), timeout=300)
    assert "Nothing to be done" in nothing.output


def test_a_diverged_point_is_recorded_and_the_sweep_completes(finished):
    """The sweep finished although its T = 1e4 point diverged: the point is flagged in phase.nc, the other
    point is classified, and the job's log names the step and the layer."""
    _, out, phase = finished
    flags = phase["diverged"].sel(alpha=20 / 4, L=3)  # the one alpha point, M / N
    assert flags.sel(T=1.0e4).item() == 1 and flags.sel(T=1.0e-5).item() == 0
    assert (phase["phase"].sel(alpha=20 / 4, L=3, T=1.0e4) == -1).all()
    assert (phase["phase"].sel(alpha=20 / 4, L=3, T=1.0e-5).isel(layer=slice(0, 2)) >= 0).all()
    assert "step" in phase.attrs["divergences_json"] and "layer" in phase.attrs["divergences_json"]
    logs = [p.read_text() for p in (out / "logs" / "simulate").glob("**/T~10000*/*.log")]
    assert logs and all("diverged:" in log and "step" in log and "layer" in log for log in logs)
    assert "Traceback" not in "".join(logs)
