"""binary-gather: points differ only in P and L; the gathered provenance holds the shared parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tdlm.binarynet.sweep import LAYER_VARS, gather
from tdlm.storage import provenance, write_atomic


def _point(path: Path, P: int, L: int, seed: int, old_names: bool = False) -> Path:
    rng = np.random.default_rng(P + L)
    values = {name: (("ensemble", "layer"), rng.random((2, L))) for name in LAYER_VARS}
    sizes = {"n_train": P, "n_layers": L} if old_names else {"M": P, "L": L}  # files written before the rename
    widths = [20] + [15] * (L - 1) + [10]
    n_weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    ds = xr.Dataset(
        values,
        coords={"ensemble": ["raw", "aligned"], "layer": np.arange(1, L + 1)},
        attrs=provenance(
            {**sizes, "seed": seed, "liquid_threshold": 0.9}, {"alpha": n_weights / P, "widths_used": json.dumps(widths)}
        ),
    )
    write_atomic(ds, path)
    return path


def test_gather_stacks_points_and_keeps_shared_parameters(tmp_path: Path) -> None:
    files = [_point(tmp_path / f"{P}_{L}.nc", P, L, seed=3, old_names=P == 50) for P in (50, 200) for L in (1, 2)]
    ds = gather(files, tmp_path / "measures.nc")
    # alpha holds alpha = weights / P (20-10: 200 weights; 20-15-10: 450), sorted, as in the thermal files
    alphas = sorted([200 / 50, 200 / 200, 450 / 50, 450 / 200])
    np.testing.assert_allclose(ds.alpha.values, alphas)
    np.testing.assert_allclose(ds.ln_alpha.values, np.log(alphas))
    assert list(ds.L.values) == [1, 2] and list(ds.widths.values) == ["20-10", "20-15-10"]
    assert float(ds.P.sel(alpha=450 / 200, L=2)) == 200 and np.isnan(float(ds.P.sel(alpha=450 / 200, L=1)))
    assert ds.attrs["param_seed"] == 3 and ds.attrs["param_liquid_threshold"] == 0.9
    assert "param_M" not in ds.attrs and "param_n_train" not in ds.attrs and ds.attrs["family"] == "binary"
    assert np.isnan(ds.s_over_ln2.sel(L=1, layer=2).values).all()
    with xr.open_dataset(files[3], engine="netcdf4") as point:
        np.testing.assert_array_equal(ds.s_over_ln2.sel(alpha=450 / 200, L=2).values, point.s_over_ln2.values)


def test_gather_refuses_points_from_different_runs(tmp_path: Path) -> None:
    files = [_point(tmp_path / "a.nc", 50, 1, seed=3), _point(tmp_path / "b.nc", 200, 1, seed=4)]
    with pytest.raises(ValueError, match=r"\['seed'\]"):
        gather(files, tmp_path / "measures.nc")
    assert not (tmp_path / "measures.nc").exists()
