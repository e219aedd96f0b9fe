"""Shared fixtures of the engine tests: tiny job parameters, output comparison (one thread: tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

# The tiny job of the determinism/output tests (spec-scale parameters would take hours).
TINY = {
    "M": 20,
    "N": 4,
    "L": 3,
    "t_w": [5, 20],
    "t_star": 60,
    "n_replicas": 3,
    "device": "cpu",
    "seed": 11,
}


@pytest.fixture
def tiny() -> dict:
    """A fresh copy of the tiny job's parameters (dotted keys, as params.build takes them)."""
    return {k: (list(v) if isinstance(v, list) else v) for k, v in TINY.items()}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(SimParams, path) of one finished tiny job, shared by the read-only output tests."""
    from tdlm.md.params import build
    from tdlm.md.simulate import run

    params = build(dict(TINY))
    out = tmp_path_factory.mktemp("tiny") / "tiny.nc"
    run(params, out)
    return params, out


def _load(path) -> xr.Dataset:
    return xr.load_dataset(path, engine="netcdf4")


VOLATILE_ATTRS = {"history", "hostname", "segments_json", "wall_seconds", "cpu_seconds"}  # when and how long, not what


def _assert_same_output(a: xr.Dataset, b: xr.Dataset, ignore_attrs: tuple[str, ...] = ()) -> None:
    """Identical data variables and coordinates (bitwise, NaN == NaN); attributes equal except timestamps."""
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))
    keys_a = set(a.attrs) - VOLATILE_ATTRS - set(ignore_attrs)
    keys_b = set(b.attrs) - VOLATILE_ATTRS - set(ignore_attrs)
    assert keys_a == keys_b
    for key in keys_a:
        assert np.array_equal(np.asarray(a.attrs[key]), np.asarray(b.attrs[key])), key


@pytest.fixture
def load_nc():
    """Read a netCDF output completely into memory (the file can be removed afterwards)."""
    return _load


@pytest.fixture
def assert_same_output():
    return _assert_same_output
