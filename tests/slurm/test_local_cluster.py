"""Real SLURM jobs on the local one-node cluster (see conftest.py and local_slurm.sh)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers.workflow import SLURM_POLL_FLAGS

PROFILES = Path(__file__).resolve().parents[2] / "profiles"

pytestmark = pytest.mark.slurm

# Four SLURM jobs: two `simulate` (the rule name that profiles/slurm gives a GPU, which
# profiles/slurm-local takes away again), one `calibrate` and one `gather`. `simulate` takes its
# memory from the profile's default-resources ("200 * attempt"); for i=1 it fails on purpose on
# its first attempt, so the retries of profiles/slurm and the attempt-scaled memory are exercised
# (it runs in the first round, so its retry overlaps with `calibrate` on the two-core node).
# Every job records the SLURM job id it ran in.
SNAKEFILE = textwrap.dedent(
    r"""
    rule all:
        input: "results/gathered.txt"

    rule simulate:
        output: "results/sim_{i}.txt"
        resources: runtime=2
        shell:
            "if [ {wildcards.i} = 1 ] && [ {resources.mem_mb} -lt 400 ]; then "
            "echo 'first attempt fails on purpose' >&2; exit 3; fi; "
            "echo sim={wildcards.i} job=$SLURM_JOB_ID mem={resources.mem_mb} > {output}"

    rule calibrate:
        output: "results/calibration.txt"
        resources: runtime=2, mem_mb=300
        shell: "echo calibrate job=$SLURM_JOB_ID mem={resources.mem_mb} > {output}"

    rule gather:
        input: expand("results/sim_{i}.txt", i=[1, 2]), "results/calibration.txt"
        output: "results/gathered.txt"
        resources: runtime=2, mem_mb=150
        shell: "cat {input} > {output}; echo gather job=$SLURM_JOB_ID mem={resources.mem_mb} >> {output}"
    """
)


def test_sbatch_wait(slurm_cluster, tmp_path):
    out = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--wait",
            "-p",
            slurm_cluster.partition,
            "-t",
            "1",
            "--mem",
            "100",
            "-o",
            str(tmp_path / "job-%j.out"),
            "--wrap",
            'echo "hello from job $SLURM_JOB_ID on $SLURM_JOB_PARTITION"',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    job_id = out.stdout.strip().split(";")[0]
    assert job_id.isdigit()
    assert (tmp_path / f"job-{job_id}.out").read_text() == f"hello from job {job_id} on {slurm_cluster.partition}\n"


def test_snakemake_slurm_executor(slurm_cluster, tmp_path):
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        slurm_cluster.unavailable("snakemake-executor-plugin-slurm is not installed")
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    cmd = [
        "timeout",
        "-k",
        "15",
        "240",  # about 60 s on an idle 2-core machine
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(PROFILES / "slurm"),
        "--workflow-profile",
        str(PROFILES / "slurm-local"),
        "--verbose",
    ]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]

    lines = (tmp_path / "results/gathered.txt").read_text().splitlines()
    patterns = [
        r"sim=1 job=(\d+) mem=400",  # second attempt: default-resources "200 * attempt"
        r"sim=2 job=(\d+) mem=200",
        r"calibrate job=(\d+) mem=300",  # the rule's own resources
        r"gather job=(\d+) mem=150",
    ]
    assert len(lines) == len(patterns), lines
    job_ids = []
    for pattern, line in zip(patterns, lines):
        m = re.fullmatch(pattern, line)
        assert m, (pattern, line)
        job_ids.append(m.group(1))
    assert len(set(job_ids)) == 4, job_ids

    # the rendered sbatch calls: partition debug, no GPU request, squeue polling
    sbatch_lines = [ln for ln in log.splitlines() if ln.startswith("sbatch call: ")]
    assert len(sbatch_lines) == 5, sbatch_lines  # 2 + 1 retry simulate, calibrate, gather
    assert all("-p debug" in ln and "--gpus" not in ln for ln in sbatch_lines), sbatch_lines
    assert sorted(re.search(r" --mem (\d+) ", ln).group(1) for ln in sbatch_lines) == ["150", "200", "200", "300", "400"]
    assert "command=squeue" in log and "command=sacct" not in log


def test_real_profile_renders_gpu_request(slurm_cluster, tmp_path):
    """profiles/slurm asks for one GPU and 4 CPUs per GPU for `simulate`; memory stays the rule's, scaled per attempt.

    The local node has no GPU, so sbatch must refuse each of the 1 + 2 attempts; the
    rendered sbatch calls are what is checked. Placeholders are replaced on the command line.
    """
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        slurm_cluster.unavailable("snakemake-executor-plugin-slurm is not installed")
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    cmd = [
        "timeout",
        "-k",
        "15",
        "60",
        sys.executable,
        "-m",
        "snakemake",
        "results/sim_1.txt",
        "--workflow-profile",
        str(PROFILES / "slurm"),
        "--default-resources",
        f"slurm_partition={slurm_cluster.partition}",
        "mem_mb=200*attempt",
        "runtime=5",
        *SLURM_POLL_FLAGS,
        "--verbose",
    ]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False)
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-4000:]
    assert "Invalid generic resource (gres) specification" in log, log[-4000:]
    calls = [ln for ln in log.splitlines() if ln.startswith("sbatch call: ")]
    assert len(calls) == 3, calls  # retries: 2
    for attempt, call in enumerate(calls, start=1):
        assert "--gpus=1" in call and "--cpus-per-gpu=4" in call, call
        assert f"-t 2 --mem {200 * attempt} " in call, call
    assert not (tmp_path / "results/sim_1.txt").exists()
