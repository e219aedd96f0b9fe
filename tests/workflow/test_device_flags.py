"""Every job's command names its device: a job that requests a GPU passes `--device cuda`, one that does
not passes `--device cpu` (config `device: auto`); an explicit config device is passed as it is.

The `auto` case is resolved by the job's shell from its own GPU request, so each dry-run command's
`--device` argument is expanded by bash here, as the job's shell expands it.
"""

from __future__ import annotations

import re
import subprocess

from helpers.workflow import run_snakemake

DEVICE = re.compile(r"--device (\$\(.*?\)|\S+)")


def _devices(output: str, command: str) -> set[str]:
    """The expanded --device of every `command` line of a dry run's printed shell commands."""
    found = set()
    for line in output.splitlines():
        if f"tdlm.cli --threads 1 {command} " in line:
            (arg,) = DEVICE.findall(line)
            found.add(subprocess.run(["bash", "-c", f"echo {arg}"], capture_output=True, text=True, check=True).stdout.strip())
    return found


def test_a_job_that_requests_a_gpu_runs_on_cuda_and_the_others_on_the_cpu(workflow_copy):
    """Both families with `device: auto`: simulate requests a GPU (as profiles/slurm makes it), binary-simulate
    does not (config/binary.yaml asks for auto; no job may take a GPU it was not given)."""
    families = ("--configfile", "config/binary.yaml", "--config", "device=auto", "families=[thermal, binary]")
    result = run_snakemake(workflow_copy, "-n", "--printshellcmds", *families, "--set-resources", "simulate:gpu=1", timeout=240)
    assert result.returncode == 0, result.output[-3000:]
    assert "device: auto" in (workflow_copy / "config" / "binary.yaml").read_text()
    assert _devices(result.output, "simulate") == {"cuda"}
    assert _devices(result.output, "binary-simulate") == {"cpu"}


def test_without_a_gpu_request_auto_is_the_cpu(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--printshellcmds", "--config", "device=auto", timeout=240)
    assert result.returncode == 0, result.output[-3000:]
    assert _devices(result.output, "simulate") == {"cpu"}
    assert result.output.count("tdlm.cli --threads 1 simulate") == 12
