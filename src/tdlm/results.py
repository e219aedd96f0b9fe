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


def open_run(folder: str | Path) -> dict[str, xr.Dataset | pd.DataFrame]:
    """The datasets of a run that are present, opened lazily (netCDF: `overlaps`, `phase`, `design`,
    `binary`) or read (tables: `phase_table`, `xi`). Point axes carry M, N and ln_alpha as coordinates on
    `alpha`, and L and T as their own: select by physics with `ds.where(ds.M == 200, drop=True)` or
    `ds.swap_dims(alpha="ln_alpha").sel(ln_alpha=2.5, method="nearest")`. Close the datasets when done."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"open_run: no run folder {folder}")
    found: dict[str, xr.Dataset | pd.DataFrame] = {}
    for role, name in FILES.items():
        if (folder / name).is_file():
            found[role] = xr.open_dataset(folder / name, engine="netcdf4")
    for role, name in TABLES.items():
        if (folder / name).is_file():
            found[role] = pd.read_csv(folder / name)
    if not found:
        raise FileNotFoundError(f"open_run: {folder} holds none of {', '.join([*FILES.values(), *TABLES.values()])}")
    return found
