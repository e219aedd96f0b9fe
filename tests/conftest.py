"""Fixtures of every test. Being the top conftest.py, it also puts tests/ on the path, so that test
modules import the shared helpers as `helpers.workflow` and `helpers.synthetic`."""

from __future__ import annotations

import sys

import pytest
import torch

from helpers import workflow


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
