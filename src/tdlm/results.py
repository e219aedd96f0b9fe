"""The loading API of a finished run, for notebooks: every dataset of results/<run>/ by its role."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

# role -> file inside results/<run>/
FILES = {
    "overlaps": "overlaps.nc",
    "phase": "phase.nc",
    "design": "design_space.nc",
    "binary": "binary/measures.nc",
}
TABLES = {"phase_table": "phase.csv", "xi": "xi.csv"}


def physical_indexes(ds: xr.Dataset) -> xr.Dataset:
    """Index M, N and ln_alpha along `alpha` (one at a time in a `sel`: xarray takes one index per dimension
    and call), where a file has them as plain coordinates along it."""
    for name in ("ln_alpha", "M", "N", "P"):  # P: the binary family's training-set sizes
        if name in ds.coords and ds[name].dims == ("alpha",) and name not in ds.indexes:
            ds = ds.set_xindex(name)
    return ds


def open_run(folder: str | Path) -> dict[str, xr.Dataset | pd.DataFrame]:
    """The datasets of a run that are present, opened lazily (netCDF: `overlaps`, `phase`, `design`,
    `binary`) or read (tables: `phase_table`, `xi`). The thermal files' `alpha` axis holds alpha = M / N,
    with M, N and ln_alpha as indexed coordinates on it, and L and T are axes of their own: select by
    physics with `ds.sel(alpha=12.5)`, `ds.sel(ln_alpha=2.5, method="nearest")`, `ds.sel(M=200).sel(N=16)`,
    `ds.sel(L=8, T=1e-5)`; the binary family's point axis by its training-set size, `ds.sel(P=300)` (its
    alpha = weights / P depends on L, so ln_alpha is 2-D there). Close the datasets when done."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"open_run: no run folder {folder}")
    found: dict[str, xr.Dataset | pd.DataFrame] = {}
    for role, name in FILES.items():
        if (folder / name).is_file():
            found[role] = physical_indexes(xr.open_dataset(folder / name, engine="netcdf4"))
    for role, name in TABLES.items():
        if (folder / name).is_file():
            found[role] = pd.read_csv(folder / name)
    if not found:
        raise FileNotFoundError(f"open_run: {folder} holds none of {', '.join([*FILES.values(), *TABLES.values()])}")
    return found
