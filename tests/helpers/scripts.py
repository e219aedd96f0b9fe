"""The project's documentation scripts (docs/validation/*.py) as modules, for their tests."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from helpers.workflow import REPO


def load_script(name: str) -> ModuleType:
    """docs/validation/<name>.py, imported under `name`."""
    spec = importlib.util.spec_from_file_location(name, REPO / "docs" / "validation" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
