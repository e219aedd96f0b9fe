"""Checkpoint/resume through the real CLI: SIGKILL mid-run, restart, and get the uninterrupted run's output.

One `tdlm simulate` subprocess runs with frequent checkpoints; its first checkpoint (waiting phase) is
copied while it runs, and it is SIGKILLed once it has checkpointed in the branched phase. A restart
from either checkpoint must reproduce, value for value, an uninterrupted run of the same parameters.
The checkpoints also serve the refusal (other physics -> exit 2) and the divergence (exit 3,
checkpoint untouched) tests.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import tdlm.data
from tdlm import cli
from tdlm.md.params import load
from tdlm.md.simulate import run

from helpers.workflow import subprocess_env

# about 5 s of MD on one core: ~400 waiting steps and 600 branched steps, a checkpoint every 25 steps
CONFIG = {
    "M": 100,
    "N": 8,
    "L": 4,
    "t_w": [100, 400],
    "t_star": 600,
    "n_replicas": 3,
    "seed": 5,
    "device": "cpu",
    "dtype": "float32",
    "checkpoint_steps": 25,
    "progress_seconds": 0.5,
}
TIMEOUT = 180.0


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "job.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def _start(config_file: Path, out: Path, env: dict, log: Path) -> subprocess.Popen:
    cmd = [*_cmd(), "simulate", "--config", str(config_file), "--out", str(out)]
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=fh)


def _cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "tdlm.cli"]


def _wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}: make CONFIG longer")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def killed(config_file, tmp_path_factory):
    """Checkpoints of a `tdlm simulate` subprocess: its first one (waiting phase), copied while it runs,
    and the one it leaves when SIGKILLed after checkpointing in the branched phase; and the output of
    an uninterrupted in-process run of the same parameters."""
    env = subprocess_env()
    work = tmp_path_factory.mktemp("killed")
    keep = tmp_path_factory.mktemp("saved")
    out, ckpt, log = work / "job.nc", work / "job.nc.ckpt", keep / "run.log"
    proc = _start(config_file, out, env, log)
    failure: list[BaseException] = []

    def watch() -> None:
        try:
            _wait_for(proc, ckpt.exists, "the first checkpoint")
            # the checkpoint is replaced by rename, so a copy is always a whole file
            shutil.copyfile(ckpt, keep / "wait.ckpt")
            _wait_for(proc, lambda: "checkpoint at branch" in log.read_text(errors="replace"), "a branched-phase checkpoint")
        except BaseException as e:  # noqa: BLE001 - reported below
            failure.append(e)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)

    watcher = threading.Thread(target=watch)
    watcher.start()
    # meanwhile the uninterrupted reference run, in-process (the CLI's path from YAML to run(); main thread)
    reference = tmp_path_factory.mktemp("reference") / "job.nc"
    try:
        run(load(str(config_file)), reference)
    finally:
        watcher.join()
    assert not failure, failure
    assert proc.wait(timeout=60) == -signal.SIGKILL
    # atomic output: nothing under the final name, temporaries are hidden
    assert not out.exists()
    assert _visible(work) == {"job.nc.ckpt"}
    shutil.copyfile(ckpt, keep / "branch.ckpt")
    return {"wait": keep / "wait.ckpt", "branch": keep / "branch.ckpt", "reference": reference}


def _fresh_copy(checkpoint: Path, tmp_path: Path) -> tuple[Path, Path]:
    out, ckpt = tmp_path / "job.nc", tmp_path / "job.nc.ckpt"
    shutil.copyfile(checkpoint, ckpt)
    return out, ckpt


@pytest.mark.parametrize("phase", ["wait", "branch"])
def test_restart_after_sigkill_is_identical(phase, killed, config_file, tmp_path, load_nc, assert_same_output, caplog):
    """Restart from the killed run's checkpoint; bookkeeping parameters (not physics) may change on a restart."""
    out, ckpt = _fresh_copy(killed[phase], tmp_path)
    caplog.set_level(logging.INFO, logger="tdlm")
    argv = ["simulate", "--config", str(config_file), "--out", str(out), "--checkpoint-steps", "1000", "--progress-seconds", "5"]
    assert cli.main(argv) == 0
    resumed_from = [r.getMessage() for r in caplog.records if "resumed" in r.getMessage()]
    assert len(resumed_from) == 1 and f"phase {phase}" in resumed_from[0], resumed_from
    assert not ckpt.exists(), "the checkpoint is dropped after a successful run"
    assert _visible(tmp_path) == {"job.nc"}
    resumed, uninterrupted = load_nc(out), load_nc(killed["reference"])
    bookkeeping = ("param_checkpoint_steps", "param_progress_seconds", "params_json")
    assert_same_output(resumed, uninterrupted, ignore_attrs=bookkeeping)
    assert resumed.attrs["param_checkpoint_steps"] == 1000
    # what the job cost: the killed process's segment up to its checkpoint, then the resumed one's to t*
    end = f"branch {int(uninterrupted.attrs['param_t_star'])}"
    (whole,) = json.loads(uninterrupted.attrs["segments_json"])
    assert (whole["from"], whole["to"]) == ("wait 0", end)
    first, second = json.loads(resumed.attrs["segments_json"])
    assert first["from"] == "wait 0" and first["to"] == second["from"] and second["to"] == end
    assert second["from"].startswith(phase) and first["ended"] <= second["started"]
    for ds in (resumed, uninterrupted):
        segments = json.loads(ds.attrs["segments_json"])
        assert ds.attrs["wall_seconds"] == pytest.approx(sum(s["wall_s"] for s in segments), abs=1e-2)
        assert ds.attrs["cpu_seconds"] == pytest.approx(sum(s["cpu_s"] for s in segments), abs=1e-2)
        assert all(s["wall_s"] > 0 and s["cpu_s"] > 0 for s in segments)


def test_restart_with_other_physics_is_refused(killed, config_file, tmp_path, capsys):
    out, ckpt = _fresh_copy(killed["branch"], tmp_path)
    before = ckpt.read_bytes()
    rc = cli.main(["simulate", "--config", str(config_file), "--out", str(out), "--T", "2e-5"])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(ckpt) in err, err
    assert ckpt.read_bytes() == before and not out.exists()


def test_divergence_keeps_the_previous_checkpoint(killed, config_file, tmp_path, capsys, monkeypatch):
    """Same parameters (so the checkpoint is resumed) but NaN inputs: exit 3, checkpoint left as it was."""
    out, ckpt = _fresh_copy(killed["wait"], tmp_path)
    before = ckpt.read_bytes()
    real = tdlm.data.binarise

    def poisoned(images, value_range):
        x = np.array(real(images, value_range), dtype=np.float64)
        x[:, 5] = np.nan
        return x

    monkeypatch.setattr(tdlm.data, "binarise", poisoned)
    rc = cli.main(["simulate", "--config", str(config_file), "--out", str(out)])
    assert rc == 3
    assert "diverged" in capsys.readouterr().err
    assert ckpt.exists() and ckpt.read_bytes() == before
    assert not out.exists()
