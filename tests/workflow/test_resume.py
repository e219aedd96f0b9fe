"""Kill the whole sweep mid-job, rerun it: finished jobs are kept, the interrupted one resumes from its checkpoint.

The first run uses one core so that jobs run one after the other: by the time the second job has written a
checkpoint, snakemake has recorded the first as finished. The snakemake process group (snakemake and the
`tdlm simulate` it started) is killed with SIGKILL, as a node failure or an OOM kill of the whole
allocation would; no process gets a chance to write a last checkpoint or clean up.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import xarray as xr

from helpers.workflow import run_snakemake, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("resume.yaml")
RUN = "resume"
FIRST_RUN_TIMEOUT = 900


def _job_key(path: Path, root: Path) -> str:
    """sims/M~../job~0.nc and checkpoints/M~../job~0.ckpt -> M~../job~0"""
    rel = path.relative_to(root)
    return str(rel.with_suffix(""))


def _state(out: Path):
    finished = {_job_key(p, out / "sims"): p for p in (out / "sims").glob("**/*.nc")} if (out / "sims").exists() else {}
    ckpts = (
        {_job_key(p, out / "checkpoints"): p for p in (out / "checkpoints").glob("**/*.ckpt")}
        if (out / "checkpoints").exists()
        else {}
    )
    interrupted = {k: p for k, p in ckpts.items() if k not in finished}
    return finished, interrupted


def test_kill_and_resume(workflow_copy):
    workdir = workflow_copy
    out = workdir / "results" / RUN
    cmd = snakemake_cmd(workdir, "--configfile", str(CONFIG), timeout=FIRST_RUN_TIMEOUT)
    cmd[cmd.index("--cores") + 1] = "1"  # sequential jobs (see the module docstring)
    log = open(workdir / "first_run.log", "w")
    proc = subprocess.Popen(cmd, cwd=workdir, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + FIRST_RUN_TIMEOUT
    try:
        while True:
            finished, interrupted = _state(out)
            if finished and interrupted:
                break
            assert proc.poll() is None, (
                f"the sweep ended (rc {proc.returncode}) before it could be interrupted:\n"
                + (workdir / "first_run.log").read_text()[-3000:]
            )
            assert time.monotonic() < deadline, "no finished job and checkpointed job seen in time"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        log.close()
    time.sleep(1)
    finished, interrupted = _state(out)
    assert len(finished) == 1 and len(interrupted) == 1, (finished, interrupted)
    ((done_key, done_nc),) = finished.items()
    ((killed_key, killed_ckpt),) = interrupted.items()
    assert not (out / "phase.nc").exists()
    done_mtime = done_nc.stat().st_mtime_ns
    killed_log = out / "logs" / "simulate" / f"{killed_key}.log"
    assert killed_log.exists() and "checkpoint at" in killed_log.read_text()
    first_segment = killed_log.read_text()

    # SIGKILL leaves snakemake's lock behind: release it, then resume
    unlock = run_snakemake(workdir, "--configfile", str(CONFIG), "--unlock", timeout=240)
    assert unlock.returncode == 0, unlock.output[-3000:]
    result = run_snakemake(workdir, "--configfile", str(CONFIG), "--rerun-incomplete", timeout=900)
    assert result.returncode == 0, result.output[-5000:]

    # the finished job was not recomputed; only the interrupted one ran again, from its checkpoint
    assert done_nc.stat().st_mtime_ns == done_mtime
    assert result.output.count("rule simulate:") == 1, result.output[-5000:]
    text = killed_log.read_text()
    match = re.search(r"resumed from (\S+): phase (\w+), step (\d+)", text)
    assert match, text
    assert match.group(1) == str(killed_ckpt.relative_to(workdir))
    assert int(match.group(3)) > 0
    # snakemake deleted the first segment's log before the rerun; the history log kept it, in order
    assert "checkpoint at" not in text.split("resumed from")[0]
    history = (out / "logs" / "simulate" / f"{killed_key}.history.log").read_text()
    assert history.endswith(text)
    earlier = history[: -len(text)]
    assert "checkpoint at" in earlier
    # tee writes each chunk to both files; SIGKILL may fall between the two writes of the last one
    assert earlier.startswith(first_segment) or first_segment.startswith(earlier)
    assert (out / "sims" / f"{killed_key}.nc").exists() and not killed_ckpt.exists()
    # and the sweep completed
    for name in ("overlaps.nc", "phase.nc", "figures/phase_diagram.png"):
        assert (out / name).exists(), name
    phase = xr.load_dataset(out / "phase.nc")
    assert phase.sizes["alpha"] == 1 and phase.q_star.notnull().any()
