"""Shared fixtures of the engine tests: one BLAS thread, tiny job parameters, subprocess environment."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import xarray as xr

import wf_helpers

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


@pytest.fixture
def subprocess_env() -> dict:
    """Environment for `tdlm` subprocesses: one thread, the checkout's sources importable."""
    return wf_helpers.subprocess_env()


@pytest.fixture
def tdlm_cmd() -> list[str]:
    """The command line of the CLI (module form, so it works without the console script on PATH)."""
    return [sys.executable, "-m", "tdlm.cli"]


def _load(path) -> xr.Dataset:
    return xr.load_dataset(path, engine="netcdf4")


VOLATILE_ATTRS = {"history", "hostname"}


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
