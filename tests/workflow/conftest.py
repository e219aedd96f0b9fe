"""Fixtures of the workflow tests; the helpers themselves are in tests/helpers/workflow.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from helpers.workflow import copy_workflow, load_tiny


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


@pytest.fixture
def tiny_config() -> dict[str, Any]:
    return copy.deepcopy(load_tiny())
