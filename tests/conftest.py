"""Fixtures of every test. Being the top conftest.py, it also puts tests/ on the path, so that test
modules import the shared helpers as `helpers.workflow` and `helpers.synthetic`."""

from __future__ import annotations

import sys

import pytest
import torch

from helpers import workflow

# the runs that set the suite's wall time, started first (the SLURM tests mostly wait on the scheduler)
FIRST = ("tests/workflow/test_physics_regression.py", "tests/slurm/")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    """For pytest-xdist's `--dist loadgroup` (the README's test command): every module stays on one worker,
    so its module fixtures run once; the SLURM modules share one worker and so one cluster fixture; the
    longest runs start first, then the other slow modules."""
    for item in items:
        group = "slurm" if item.get_closest_marker("slurm") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))

    def rank(item) -> int:
        if item.nodeid.startswith(FIRST):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: modules keep their order and their tests stay together


@pytest.fixture(scope="session", autouse=True)
def _one_thread_session():
    """The machine is shared: one intra-op thread, already for module- and session-scoped fixtures."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread():
    """...and again for every test, in case something in between changed it."""
    torch.set_num_threads(1)


@pytest.fixture
def subprocess_env() -> dict:
    """Environment for `tdlm` subprocesses: one thread, the checkout's sources importable."""
    return workflow.subprocess_env()


@pytest.fixture
def tdlm_cmd() -> list[str]:
    """The command line of the CLI (module form, so it works without the console script on PATH)."""
    return [sys.executable, "-m", "tdlm.cli"]
