"""The binary-weight family in the shared sweep: its grid, its gathered dataset and its figures.

Its axes are the training-set size P and the depth L; alpha = (number of weights) / P depends on
both, so the gathered dataset has dimensions (alpha, L, ensemble, layer) with `alpha` indexing P
and a two-dimensional `ln_alpha` coordinate, the same dimension names as the thermal machine's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tdlm.binarynet.config import FIELDS, validate
from tdlm.binarynet.measures import CONVENTIONS, FAMILY
from tdlm.storage import provenance, write_atomic

POINT_COLUMNS = ["P", "L"]
# per-layer measures gathered from every point (all over (ensemble, layer))
LAYER_VARS = (
    "s_over_ln2",
    "mean_abs_J",
    "max_abs_J",
    "mean_abs_c",
    "mean_abs_m",
    "overlap_Q",
    "phase",
    "jump_detected",
    "jump_size",
)


def points(config: dict[str, Any]) -> pd.DataFrame:
    """Unique (P, L) points of the binary family's grids."""
    rows = [{"P": int(P), "L": int(L)} for grid in config["binary"]["grids"] for P in grid["P"] for L in grid["L"]]
    return pd.DataFrame(rows, columns=POINT_COLUMNS).drop_duplicates().reset_index(drop=True)


def _overrides(config: dict[str, Any], P: int, L: int) -> dict[str, Any]:
    """The parameters a point sets: the family's shared parameters plus P and L."""
    return {**config["binary"].get("params", {}), "n_train": int(P), "n_layers": int(L)}


def point_params(config: dict[str, Any], P: int, L: int) -> dict[str, Any]:
    """Validated parameters of one point."""
    return validate(_overrides(config, P, L))


def check(config: dict[str, Any]) -> pd.DataFrame:
    """Validate every point before anything runs; returns the point table."""
    table = points(config)
    for row in table.itertuples(index=False):
        point_params(config, row.P, row.L)
    return table


def flags(config: dict[str, Any], P: int, L: int) -> str:
    """Command-line flags of `tdlm binary-simulate` for one point."""
    return FIELDS.to_flags(_overrides(config, P, L))


def gather(files: Iterable[str | Path], out: str | Path) -> xr.Dataset:
    """Dense dataset of the per-layer measures over (alpha, L, ensemble, layer); NaN beyond a point's depth.

    Every point must share all parameters but P (n_train) and L (n_layers); the gathered file's
    provenance holds those shared parameters.
    """
    parts, shared = [], None
    for path in sorted(map(str, files)):
        with xr.open_dataset(path, engine="netcdf4") as ds:
            params = json.loads(ds.attrs["params_json"])
            parts.append((int(params["n_train"]), int(params["n_layers"]), float(ds.attrs["alpha"]), ds[list(LAYER_VARS)].load()))
        rest = {k: v for k, v in params.items() if k not in ("n_train", "n_layers")}
        if shared is None:
            shared = rest
        elif rest != shared:
            differ = sorted(k for k in rest.keys() | shared.keys() if rest.get(k) != shared.get(k))
            raise ValueError(
                f"binary-gather: {path} differs from the other points in {differ}; only n_train and n_layers may vary"
            )
    if not parts:
        raise ValueError("binary-gather: no point files given")
    Ps, Ls = sorted({p[0] for p in parts}), sorted({p[1] for p in parts})
    n_layer = max(p[1] for p in parts)
    ensembles = parts[0][3].ensemble.values
    arrays = {name: np.full((len(Ps), len(Ls), len(ensembles), n_layer), np.nan) for name in LAYER_VARS}
    ln_alpha = np.full((len(Ps), len(Ls)), np.nan)
    for P, L, alpha, ds in parts:
        i, j = Ps.index(P), Ls.index(L)
        ln_alpha[i, j] = np.log(alpha)
        for name in LAYER_VARS:
            arrays[name][i, j, :, :L] = ds[name].transpose("ensemble", "layer").values
    dims = ("alpha", "L", "ensemble", "layer")
    result = xr.Dataset(
        {name: (dims, arr, dict(parts[0][3][name].attrs)) for name, arr in arrays.items()},
        coords={
            "alpha": np.arange(len(Ps)),
            "P": ("alpha", Ps),
            "L": Ls,
            "ensemble": ensembles,
            "layer": np.arange(1, n_layer + 1),
            "ln_alpha": (("alpha", "L"), ln_alpha),
        },
    )
    result["ln_alpha"].attrs["long_name"] = "ln(number of weights / P)"
    result.attrs = provenance(
        shared, {**FAMILY, **CONVENTIONS, "family": "binary", "point_files_json": json.dumps(sorted(map(str, files)))}
    )
    write_atomic(result, out)
    return result
