"""Fixtures of the sweep-layer unit tests (the synthetic data themselves live in sweep_synthetic.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from sweep_synthetic import BASE_CONFIG, make_job


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine is shared: tests use one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def config() -> dict[str, Any]:
    """A fresh deep copy of the base config (tests mutate it freely)."""
    return copy.deepcopy(BASE_CONFIG)


@pytest.fixture
def job_factory(tmp_path):
    """make_job bound to a per-test folder: job_factory(name, **kw) -> (path, arrays)."""

    def factory(name: str, **kw: Any):
        return make_job(tmp_path / name, **kw)

    return factory
