"""The default config plans the documented sweep; the workflow passes snakemake's linter and snakefmt."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import pytest
import yaml

from helpers.workflow import REPO, run_snakemake, subprocess_env


def _job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> count."""
    table = output[output.index("Job stats:") :]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)}


def _n_alpha(alpha: dict) -> int:
    if "pairs" in alpha:
        return len(alpha["pairs"])
    return len(alpha["N"] if isinstance(alpha["N"], list) else alpha["M"])


def test_dry_run_of_the_default_config(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--printshellcmds", timeout=240)
    assert result.returncode == 0, result.output[-3000:]
    counts = _job_counts(result.output)
    with open(workflow_copy / "config" / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    points = sum(_n_alpha(g["alpha"]) * len(g["L"]) * len(g.get("T", [None])) for g in config["grids"])
    jobs_per_point = math.ceil(config["samples"] / config.get("samples_per_job", 1))
    assert counts["simulate"] == points * jobs_per_point
    assert counts["simulate"] == 12  # 2 alpha x 2 L x 3 samples in config/config.yaml (single grid, no repeats)
    assert counts["gather_point"] == points
    for rule in ("gather", "classify", "plot_phase", "all"):
        assert counts[rule] == 1
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    # the simulate command lines carry the per-job parameters, one thread each
    assert result.output.count("python -m tdlm.cli --threads 1 simulate") == counts["simulate"]
    assert len(re.findall(r"--samples \d+ ", result.output)) == counts["simulate"]
    assert not (workflow_copy / "results").exists()  # a dry run writes nothing


def test_lint(workflow_copy):
    result = run_snakemake(workflow_copy, "--lint", timeout=240)
    assert result.returncode == 0, result.output[-3000:]
    assert "Congratulations" in result.output, result.output[-3000:]


@pytest.mark.skipif(shutil.which("snakefmt", path=subprocess_env()["PATH"]) is None, reason="snakefmt not installed")
def test_snakefmt_check():
    proc = subprocess.run(
        ["timeout", "-k", "15", "120", shutil.which("snakefmt", path=subprocess_env()["PATH"]), "--check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_key_given_twice_in_the_snakefiles_own_config_is_refused(workflow_copy):
    """config/config.yaml is loaded by Snakemake itself (the Snakefile's `configfile:`), whose loader keeps the
    last of a repeated key: the workflow reads it again with the loader that refuses one."""
    default = workflow_copy / "config" / "config.yaml"
    default.write_text(default.read_text() + "\nseed: 12345\n")
    result = run_snakemake(workflow_copy, "-n", timeout=240)
    assert result.returncode != 0
    assert "duplicate key 'seed'" in result.output and "config/config.yaml" in result.output
    assert "Traceback" not in result.output
