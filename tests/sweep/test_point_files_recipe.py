"""The README's recipe for stacking point files: `combine_attrs="drop_conflicts"` keeps the attributes the
files share and drops the per-point ones (`param_N`, `history`), which the default would take from the
first file for the whole sweep."""

from __future__ import annotations

import xarray as xr

from tdlm.sweep.gather import gather_point

from helpers.synthetic import make_job

RECIPE = {"combine": "by_coords", "join": "outer", "data_vars": "minimal", "combine_attrs": "drop_conflicts"}


def test_open_mfdataset_recipe_drops_conflicting_point_attributes(tmp_path):
    points = []
    for N in (4, 2):
        job, _ = make_job(tmp_path / f"job_N{N}.nc", M=20, N=N, L=3)
        gather_point([job], tmp_path / f"point_N{N}.nc")
        points.append(tmp_path / f"point_N{N}.nc")
    with xr.open_dataset(points[0]) as first, xr.open_dataset(points[1]) as second:
        shared = {k for k in first.attrs if k in second.attrs and str(first.attrs[k]) == str(second.attrs[k])}
        differing = {k for k in first.attrs if k in second.attrs} - shared
    assert "param_N" in differing and "param_M" in shared
    with xr.open_mfdataset(points, engine="netcdf4", **RECIPE) as combined:
        assert combined.sizes["alpha"] == 2 and sorted(combined.N.values.tolist()) == [2, 4]
        assert not differing & set(combined.attrs)  # no point's value stands for the sweep
        assert shared <= set(combined.attrs)
    without = {k: v for k, v in RECIPE.items() if k != "combine_attrs"}
    with xr.open_mfdataset(points, engine="netcdf4", **without) as combined:
        assert "param_N" in combined.attrs  # the default keeps one file's value: why the recipe drops them
