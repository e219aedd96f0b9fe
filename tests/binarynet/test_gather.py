"""binary-gather: points differ only in P and L; the gathered provenance holds the shared parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tdlm.binarynet.sweep import LAYER_VARS, gather
from tdlm.storage import provenance, write_atomic


def _point(path: Path, P: int, L: int, seed: int) -> Path:
    rng = np.random.default_rng(P + L)
    values = {name: (("ensemble", "layer"), rng.random((2, L))) for name in LAYER_VARS}
    ds = xr.Dataset(
        values,
        coords={"ensemble": ["raw", "aligned"], "layer": np.arange(1, L + 1)},
        attrs=provenance({"n_train": P, "n_layers": L, "seed": seed, "liquid_threshold": 0.9}, {"alpha": 100.0 / P}),
    )
    write_atomic(ds, path)
    return path


def test_gather_stacks_points_and_keeps_shared_parameters(tmp_path: Path) -> None:
    files = [_point(tmp_path / f"{P}_{L}.nc", P, L, seed=3) for P in (50, 200) for L in (1, 2)]
    ds = gather(files, tmp_path / "measures.nc")
    assert list(ds.P.values) == [50, 200] and list(ds.L.values) == [1, 2]
    assert ds.attrs["param_seed"] == 3 and ds.attrs["param_liquid_threshold"] == 0.9
    assert "param_n_train" not in ds.attrs and ds.attrs["family"] == "binary"
    np.testing.assert_allclose(ds.ln_alpha.values, np.log(100.0 / np.array([[50, 50], [200, 200]])))
    assert np.isnan(ds.s_over_ln2.sel(L=1, layer=2).values).all()
    with xr.open_dataset(files[3], engine="netcdf4") as point:
        np.testing.assert_array_equal(ds.s_over_ln2.sel(L=2).isel(alpha=1).values, point.s_over_ln2.values)


def test_gather_refuses_points_from_different_runs(tmp_path: Path) -> None:
    files = [_point(tmp_path / "a.nc", 50, 1, seed=3), _point(tmp_path / "b.nc", 200, 1, seed=4)]
    with pytest.raises(ValueError, match=r"\['seed'\]"):
        gather(files, tmp_path / "measures.nc")
    assert not (tmp_path / "measures.nc").exists()
