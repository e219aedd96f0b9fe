"""A tiny refined sweep end to end: rounds planned by checkpoints, brackets that shrink round by round,
every point in phase.nc with its round, boundary files, nothing left to do on a rerun, a round added to a
finished sweep that simulates only its new points, and a kill in the middle of a round that the same command
resumes to the same results.

The tiny runs (here t* = 1000) decorrelate little: every q*_l is above 0.93. A threshold of 0.98 puts a boundary
inside the grid M in {8, 64} at N = 4, L = 3 (both layers near 0.95 at M = 8, above 0.99 at M = 64); one
sample and n_sigma = 0 decide every layer, so that each round halves the bracket. The planner's handling of
uncertain points is unit-tested (tests/sweep/test_sweep_refine.py). This test checks the machinery of refinement;
config/refine.yaml is the physical run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tdlm.sweep.jobs import jobs_of
from tdlm.sweep.rounds import job_paths

from helpers.workflow import copy_workflow, run_snakemake, snakemake_cmd, subprocess_env, tiny_refine_config, write_config

pytestmark = pytest.mark.slow

ROUNDS = 2


def _config(rounds: int = ROUNDS) -> dict:
    return tiny_refine_config("refined", rounds)


def _job_files(out) -> dict[str, tuple[int, int]]:
    """Every job file of the run with its (inode, mtime): a rewritten file changes both."""
    return {str(f.relative_to(out)): (f.stat().st_ino, f.stat().st_mtime_ns) for f in (out / "sims").rglob("job~*.nc")}


@dataclass
class Refined:
    workdir: Path
    config: Path
    out: Path
    before: dict[str, tuple[int, int]]  # job files after the first command (rounds: 1)
    plan_before: tuple[int, int]
    extended: str  # output of the second command (rounds: 2, the same run)


@pytest.fixture(scope="module")
def refined(tmp_path_factory) -> Refined:
    """The refined sweep as a user extends one: first with one round, then the same run with two."""
    workdir = copy_workflow(tmp_path_factory.mktemp("refine") / "wf")
    out = workdir / "results" / "refined"
    first = write_config(workdir / "one_round.yaml", _config(rounds=1))
    result = run_snakemake(workdir, "--configfile", str(first), timeout=900)
    assert result.returncode == 0, result.output[-5000:]
    before, plan = _job_files(out), (out / "refine" / "plan~1.json").stat()
    path = write_config(workdir / "refined.yaml", _config())
    result = run_snakemake(workdir, "--configfile", str(path), timeout=900)
    assert result.returncode == 0, result.output[-5000:]
    return Refined(workdir, path, out, before, (plan.st_ino, plan.st_mtime_ns), result.output)


def _plans(out):
    return [json.loads((out / "refine" / f"plan~{k}.json").read_text()) for k in range(1, ROUNDS + 1)]


def test_brackets_shrink_round_by_round(refined):
    out = refined.out
    plans = _plans(out)
    widths = [p["history"][-1]["widest_ln_alpha_bracket"] for p in plans]
    final = pd.read_csv(out / "boundary.csv")
    widths.append(float(final["width"].max()))
    assert widths[0] == pytest.approx(np.log(64 / 8))  # round 1 saw the grid's one bracket
    assert all(b < a for a, b in zip(widths, widths[1:])), widths
    assert [p["history"][-1]["points_added"] for p in plans] == [1, 1]  # both layers share each midpoint
    assert [p["M"] for p in plans[0]["points"] if p["round"] == 1] == [22]  # sqrt(8 * 64) = 22.6, M even


def test_phase_nc_holds_every_point_of_every_round(refined):
    out = refined.out
    plan = _plans(out)[-1]
    phase = xr.load_dataset(out / "phase.nc")
    rounds = {int(p["M"]): p["round"] for p in plan["points"]}
    assert sorted(phase.M.values.tolist()) == sorted(rounds)
    for M, expected in rounds.items():
        assert int(phase["round"].sel(alpha=M / 4, L=3).item()) == expected
    assert sorted(rounds.values()) == [0, 0, 1, 2]
    # boundary.nc agrees with boundary.csv, and the report's tables exist
    boundary = xr.load_dataset(out / "boundary.nc")
    table = pd.read_csv(out / "boundary.csv")
    np.testing.assert_allclose(boundary.estimate.values, table.estimate.to_numpy())
    assert ((table.low <= table.estimate) & (table.estimate <= table.high)).all()
    assert len(pd.read_csv(out / "refine.csv")) == ROUNDS
    assert (out / "figures" / "phase_diagram.png").exists()


def test_a_finished_refined_sweep_reruns_nothing(refined):
    result = run_snakemake(refined.workdir, "-n", "--configfile", str(refined.config), timeout=300)
    assert result.returncode == 0 and "Nothing to be done" in result.output, result.output[-3000:]


def test_adding_a_round_simulates_only_the_new_points(refined):
    """rounds 1 -> 2 on a finished sweep: plan 1 and every job file stay as they were; the one new job is round 2's point."""
    after = _job_files(refined.out)
    assert {name: after[name] for name in refined.before} == refined.before
    new_points = [p for p in _plans(refined.out)[-1]["points"] if p["round"] == 2]
    assert len(new_points) == 1
    M = new_points[0]["M"]
    config = _config()
    new_jobs = job_paths({"points": new_points}, str(refined.out), lambda samples: jobs_of(config, samples))
    assert len(new_jobs) == 1 and sorted(str(refined.out / name) for name in set(after) - set(refined.before)) == new_jobs
    assert re.findall(r"^(?:local)?rule simulate:\n(?:.*\n)*?\s+wildcards: M=(\d+)", refined.extended, re.M) == [str(M)]
    plan = (refined.out / "refine" / "plan~1.json").stat()
    assert (plan.st_ino, plan.st_mtime_ns) == refined.plan_before


def test_kill_in_the_middle_of_a_round_and_resume(refined, tmp_path):
    """SIGKILL the whole snakemake process group while a round-1 job runs; the same command finishes the
    sweep, and its results equal the uninterrupted run's."""
    reference = refined.out
    workdir = copy_workflow(tmp_path / "wf")
    path = write_config(workdir / "refined.yaml", _config())
    out = workdir / "results" / "refined"
    cmd = snakemake_cmd(workdir, "--configfile", str(path), timeout=900)
    log = open(workdir / "first.log", "w")
    proc = subprocess.Popen(cmd, cwd=workdir, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 900
    try:
        while True:
            if (out / "refine" / "plan~1.json").exists():
                added = [p for p in json.loads((out / "refine" / "plan~1.json").read_text())["points"] if p["round"] == 1]
                if added and list((out / "logs" / "simulate").glob(f"M~{added[0]['M']}/**/*.log")):
                    break
            assert proc.poll() is None, (workdir / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        log.close()
    assert not (out / "phase.nc").exists()
    # a SIGKILL leaves Snakemake's lock behind (as after a node failure): unlock, then the same command
    unlock = run_snakemake(workdir, "--configfile", str(path), "--unlock", timeout=240)
    assert unlock.returncode == 0, unlock.output[-3000:]
    resumed = run_snakemake(workdir, "--configfile", str(path), timeout=900)
    assert resumed.returncode == 0, resumed.output[-5000:]
    mine, theirs = xr.load_dataset(out / "phase.nc"), xr.load_dataset(reference / "phase.nc")
    for name in theirs.data_vars:
        xr.testing.assert_equal(mine[name], theirs[name])
    assert json.loads((out / "refine" / "plan~2.json").read_text())["points"] == _plans(reference)[-1]["points"]
