"""The IOOS compliance checker's CF suite, run on one of our netCDF files."""

from __future__ import annotations

from pathlib import Path

from compliance_checker.base import BaseCheck
from compliance_checker.runner import CheckSuite

SUITE = "cf:1.11"  # the newest CF version the checker knows; the files say Conventions = CF-1.11


def cf_errors(path: Path) -> list[str]:
    """The messages of the failed checks of highest priority (the report's "Errors"); warnings are left out."""
    suite = CheckSuite()
    suite.load_all_available_checkers()
    ds = suite.load_dataset(str(path))
    try:
        groups, failures = suite.run_all(ds, [SUITE], skip_checks=[])[SUITE]
    finally:
        ds.close()
    assert not failures, failures  # a check that crashed is not a pass
    errors = []
    for result in groups:
        passed, total = result.value if isinstance(result.value, tuple) else (result.value, 1)
        if result.weight == BaseCheck.HIGH and passed < total:
            errors += [f"{result.name}: {m}" for m in result.msgs] or [str(result.name)]
    return errors
