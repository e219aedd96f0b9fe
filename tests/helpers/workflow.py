"""Helpers of the tests that run the workflow or the CLI: a private copy of the workflow per test and a
bounded snakemake runner (`from helpers.workflow import ...`; tests/conftest.py puts tests/ on the path).

Every test copies Snakefile, workflow/, config/ and envs/ into its own tmp folder and runs snakemake
there (``--snakefile`` and ``-d`` point at the copy), so tests never share a results/ folder with each
other or with people working in the checkout. ``--workflow-profile none`` keeps the repository's
profiles/default (cores: all, rerun-incomplete, keep-going) from changing what a test measures.
Jobs are limited to 2 cores and one BLAS/torch thread each: the machine is shared.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "workflow" / "tiny.yaml"
# the MNIST 0/1 sample data beside the checkout (tests that need it skip when it is absent)
MNIST01 = Path(os.environ.get("TDLM_MNIST01", REPO.parent / "shared" / "data" / "mnist01"))
CORES = 2
# how the SLURM tests poll the local test cluster (squeue: it has no accounting database; short waits)
SLURM_POLL_FLAGS = (
    "--slurm-status-command squeue --slurm-init-seconds-before-status-checks 1 --seconds-between-status-checks 1 --latency-wait 5"
).split()


def copy_workflow(dest: Path, profiles: bool = False) -> Path:
    """A runnable copy of the workflow (no results, no .snakemake; profiles/ only if asked for)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for folder in ("workflow", "config", "envs") + (("profiles",) if profiles else ()):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def subprocess_env() -> dict[str, str]:
    """Environment of every test's subprocesses (tdlm, snakemake, SLURM jobs via --export=ALL): one BLAS thread."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # `tdlm` of this interpreter first on PATH, the checkout's sources importable
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def snakemake_cmd(workdir: Path, *args: str, timeout: int) -> list[str]:
    exe = shutil.which("snakemake", path=subprocess_env()["PATH"])
    base = [exe] if exe else [sys.executable, "-m", "snakemake"]
    return [
        "timeout",
        "-k",
        "15",
        str(timeout),
        *base,
        "--snakefile",
        str(workdir / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        str(CORES),
        "--workflow-profile",
        "none",
        *args,
    ]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Snakemake 9 writes its messages (errors included) to stdout; tests look at both streams."""
        return self.stdout + "\n" + self.stderr


def run_snakemake(workdir: Path, *args: str, timeout: int = 300, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(
        snakemake_cmd(workdir, *args, timeout=timeout),
        cwd=workdir,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_tdlm(*args: str, cwd: Path, timeout: int = 300) -> Result:
    proc = subprocess.run(
        ["timeout", "-k", "15", str(timeout), sys.executable, "-m", "tdlm.cli", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def load_tiny() -> dict[str, Any]:
    with open(TINY) as fh:
        return yaml.safe_load(fh)


def tiny_refine_config(run: str, rounds: int = 2) -> dict[str, Any]:
    """A tiny refined sweep (tests/workflow/test_refine.py says why these values put a boundary in the grid)."""
    config = load_tiny()
    config["run"] = run
    config["grids"] = [{"name": "coarse", "alpha": {"N": 4, "M": [8, 64]}, "L": [3], "T": [1.0e-5]}]
    config["t_star"] = 1000
    config["samples"] = 1  # one sample: no standard error, every layer decided (and half the jobs)
    config["classify"].update(threshold=0.98, n_sigma=0.0)
    config["refine"] = {"rounds": rounds, "boundaries": ["layer"], "resolution": 0.3}
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return path
