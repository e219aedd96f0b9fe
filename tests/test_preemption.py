"""SLURM preemption and time limits send SIGTERM: a simulate job must checkpoint at once and resume later."""

import signal
import subprocess
import sys
import time

import xarray as xr

from helpers.workflow import subprocess_env

ARGS = [
    "--M",
    "40",
    "--N",
    "4",
    "--L",
    "4",
    "--t-w",
    "10",
    "--t-star",
    "3000",
    "--n-replicas",
    "2",
    "--n-test",
    "20",
    "--checkpoint-steps",
    "0",
    "--checkpoint-seconds",
    "0",
    "--progress-seconds",
    "0.2",
]


def _simulate(out, *extra, **popen):
    cmd = [sys.executable, "-m", "tdlm.cli", "--threads", "1", "simulate", "--out", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=subprocess_env(), **popen)


def test_sigterm_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run.nc"
    proc = _simulate(out)
    # wait for the branched phase to make progress, then stop the job as SLURM would
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "branch (S=1): step" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by signal SIGTERM" in err
    ckpt = tmp_path / "run.nc.ckpt"
    assert ckpt.exists() and not out.exists()

    resumed = _simulate(out)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resumed from" in err and not ckpt.exists()

    reference = _simulate(tmp_path / "reference.nc")
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    with xr.open_dataset(out) as a, xr.open_dataset(tmp_path / "reference.nc") as b:
        for name in ("q", "Q", "c", "C", "energy", "J_final"):
            xr.testing.assert_equal(a[name], b[name])
