"""Session fixture: a one-node SLURM cluster on localhost, run by ``local_slurm.sh``.

The fixture starts the cluster through the script and stops it at the end of the
session, but only when it started it (a cluster that was already up is left alone).
Without root, or when the Debian packages cannot be installed, the tests are skipped;
with ``CI=true`` these cases are errors instead, so that CI cannot silently skip them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("local_slurm.sh")

# exit codes of `local_slurm.sh start` (see the script's header)
RC_NOT_ROOT = 3
RC_NO_PACKAGES = 4


@dataclass(frozen=True)
class SlurmCluster:
    partition: str
    state_dir: Path
    started_here: bool

    @staticmethod
    def unavailable(reason: str) -> None:
        unavailable(reason)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip, or under CI=true turn the fixture into a test error."""
    if in_ci():
        pytest.fail(f"local SLURM cluster unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def run_script(action: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def slurm_cluster():
    state_dir = Path(os.environ.get("STATE_DIR", "/tmp/tdlm-slurm"))
    if os.geteuid() != 0:
        unavailable("not root: tests/slurm/local_slurm.sh must install packages and start munged/slurmctld/slurmd as root")

    status = run_script("status", timeout=30)
    started_here = status.returncode != 0
    if started_here:
        if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
            unavailable("SLURM is not installed and apt-get is unavailable to install munge slurmctld slurmd slurm-client")
        start = run_script("start", timeout=400)
        log = (start.stdout + start.stderr).strip()
        if start.returncode == RC_NOT_ROOT:
            unavailable(f"local_slurm.sh start refused (not root): {log.splitlines()[-1]}")
        if start.returncode == RC_NO_PACKAGES:
            tail = " | ".join(log.splitlines()[-3:])
            unavailable(f"cannot install munge/slurmctld/slurmd/slurm-client with apt-get: {tail}")
        if start.returncode != 0:
            pytest.fail(f"local_slurm.sh start failed (rc={start.returncode}):\n{log}", pytrace=False)

    yield SlurmCluster(partition="debug", state_dir=state_dir, started_here=started_here)

    if started_here:
        stop = run_script("stop", timeout=120)
        if stop.returncode != 0:
            print(f"local_slurm.sh stop failed (rc={stop.returncode}):\n{stop.stdout}{stop.stderr}")
