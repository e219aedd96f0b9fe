"""No unused imports or variables, no undefined names: pyflakes over the package, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

from pyflakes.api import checkRecursive
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]


class _Collect:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)


def test_pyflakes_clean():
    found, errors = _Collect(), _Collect()
    n = checkRecursive([str(ROOT / d) for d in ("src", "tests", "benchmarks")], Reporter(found, errors))
    assert errors.lines == []
    assert n == 0, "".join(found.lines)
