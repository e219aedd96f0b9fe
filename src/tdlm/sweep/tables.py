"""Tidy tables of a classified sweep, one row per observation, for spreadsheets, pandas and the report:
phase.csv (one row per point and layer) and xi.csv (one row per point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from tdlm.io import write_csv

POINT = ["M", "N", "alpha", "ln_alpha", "L", "T"]


def _present(phase: xr.Dataset) -> xr.DataArray:
    """(alpha, L, T) combinations that are points of the sweep: computed (some q*) or diverged."""
    present = phase[phase.attrs.get("classify_variable", "q_star")].notnull().any("layer")
    return present | (phase["diverged"] == 1) if "diverged" in phase else present


def _by_position(phase: xr.Dataset) -> xr.Dataset:
    """`alpha` by position (its values, M / N, need not be unique: 200/16 and 400/32)."""
    return phase.assign_coords(alpha=np.arange(phase.sizes["alpha"]))


def _points(phase: xr.Dataset, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame indexed by (alpha position, L, T, ...) -> only the sweep's points, with the physical columns
    M, N, alpha and ln alpha."""
    present = _present(phase).to_series()
    index = frame.index.droplevel([n for n in frame.index.names if n not in present.index.names])
    keep = present.reindex(index.reorder_levels(present.index.names)).to_numpy()
    frame = frame[keep].reset_index()
    position = frame["alpha"].to_numpy()
    M, N = phase["M"].values[position], phase["N"].values[position]
    frame["M"], frame["N"] = M, N
    frame["alpha"] = M / N
    frame["ln_alpha"] = np.log(M / N)
    return frame


def phase_table(phase: xr.Dataset) -> pd.DataFrame:
    """M, N, alpha, ln alpha, L, T, layer, q*, its standard error and the phase name of every hidden layer
    that exists (layers beyond a point's depth are left out; a diverged point's layers are `undefined`)."""
    phase = _by_position(phase)
    variable = phase.attrs.get("classify_variable", "q_star")
    names = dict(zip(phase["phase"].attrs["flag_values"].tolist(), phase["phase"].attrs["flag_meanings"].split()))
    data = xr.Dataset({"q_star": phase[variable], "q_star_sem": phase[f"{variable}_sem"], "flag": phase["phase"]})
    frame = data.reset_coords(drop=True).to_dataframe()
    frame = frame[frame.index.get_level_values("layer") < frame.index.get_level_values("L")]
    frame = _points(phase, frame)
    frame["phase"] = [names[int(f)] for f in frame["flag"]]
    return frame[[*POINT, "layer", "q_star", "q_star_sem", "phase"]].sort_values([*POINT, "layer"]).reset_index(drop=True)


def xi_table(phase: xr.Dataset) -> pd.DataFrame:
    """The solid and liquid depths of every point (and whether it diverged)."""
    phase = _by_position(phase)
    columns = ["xi_solid", "xi_liquid"] + (["diverged"] if "diverged" in phase else [])
    frame = _points(phase, phase[columns].reset_coords(drop=True).to_dataframe())
    return frame[[*POINT, *columns]].sort_values(POINT).reset_index(drop=True)


def write_tables(phase_path: str | Path, outdir: str | Path) -> None:
    """phase.csv and xi.csv beside each other in `outdir` (each written under a temporary name, then renamed)."""
    with xr.open_dataset(phase_path, engine="netcdf4") as phase:
        phase.load()
    write_csv(phase_table(phase), Path(outdir) / "phase.csv")
    write_csv(xi_table(phase), Path(outdir) / "xi.csv")
