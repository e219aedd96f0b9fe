"""Fixtures of the sweep-layer unit tests (the synthetic data themselves live in tests/helpers/synthetic.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from helpers.synthetic import BASE_CONFIG, make_job


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
