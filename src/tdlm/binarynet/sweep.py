"""The binary-weight family in the shared sweep: its grid, its gathered dataset and its figures.

Its axes are the training-set size P and the depth L; alpha = (number of weights) / P depends on
both. The gathered dataset has dimensions (alpha, L, ensemble, layer) as the thermal machine's files
(alpha, L, T, ...): the `alpha` dimension holds the alpha values of all points (sorted), `ln_alpha`
runs along it, `P` is a coordinate over (alpha, L) and `widths`/`n_weights_total` over L; cells with
no point (an alpha reached only at another depth) are NaN. So `sel(alpha=..., L=...)` reads a point
the same way in both families.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tdlm.binarynet.config import FIELDS, MEMORY_FIELDS, point_memory_mb, resolve_aliases, validate
from tdlm.binarynet.measures import CONVENTIONS, FAMILY
from tdlm.fields import ConfigError
from tdlm.storage import provenance, write_atomic

POINT_COLUMNS = ["P", "L"]
P_KEY, L_KEY = "M", "L"  # the parameters a point's P and L set
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
    "s_null_over_ln2",
    "s_null_sd",
    "s_independent_over_ln2",
    "null_z",
)


def points(config: dict[str, Any]) -> pd.DataFrame:
    """Unique (P, L) points of the binary family's grids."""
    rows = [{"P": int(P), "L": int(L)} for grid in config["binary"]["grids"] for P in grid["P"] for L in grid["L"]]
    return pd.DataFrame(rows, columns=POINT_COLUMNS).drop_duplicates().reset_index(drop=True)


def _overrides(config: dict[str, Any], P: int, L: int) -> dict[str, Any]:
    """The parameters a point sets: the family's shared parameters plus P and L."""
    params, _ = resolve_aliases(config["binary"].get("params", {}))
    return {**params, P_KEY: int(P), L_KEY: int(L)}


def point_params(config: dict[str, Any], P: int, L: int) -> dict[str, Any]:
    """Validated parameters of one point."""
    return validate(_overrides(config, P, L))


def check(config: dict[str, Any]) -> pd.DataFrame:
    """Validate every point before anything runs; returns the point table."""
    table = points(config)
    mem_mb = config["binary"].get("resources", {}).get("mem_mb")
    for row in table.itertuples(index=False):
        need = point_memory_mb(point_params(config, row.P, row.L))
        if mem_mb and need > mem_mb:
            raise ConfigError(
                f"binary.resources.mem_mb: got {mem_mb}; the point P={row.P} L={row.L} needs about {need:.0f} MB "
                f"({MEMORY_FIELDS} set it); allowed values: >= {need:.0f}, or smaller sizes"
            )
    return table


def flags(config: dict[str, Any], P: int, L: int) -> str:
    """Command-line flags of `tdlm binary-simulate` for one point."""
    return FIELDS.to_flags(_overrides(config, P, L))


def _listed(value: Any) -> list:
    """A list attribute as read back from netCDF (an array, a scalar) or as JSON text."""
    return json.loads(value) if isinstance(value, str) else list(np.atleast_1d(value))


def gather(files: Iterable[str | Path], out: str | Path) -> xr.Dataset:
    """Dense dataset of the per-layer measures over (alpha, L, ensemble, layer); NaN beyond a point's depth.

    Every point must share all parameters but P (M) and L; the gathered file's provenance holds those
    shared parameters. Point files written before the rename (n_train, n_layers, ...) are read alike.
    """
    parts, shared = [], None
    for path in sorted(map(str, files)):
        with xr.open_dataset(path, engine="netcdf4") as ds:
            params, _ = resolve_aliases(json.loads(ds.attrs["params_json"]), warn=False)
            widths = "-".join(str(int(w)) for w in _listed(ds.attrs.get("widths_used", [])))
            point = (int(params[P_KEY]), int(params[L_KEY]), float(ds.attrs["alpha"]), widths)
            parts.append((*point, ds[[v for v in LAYER_VARS if v in ds]].load()))
        rest = {k: v for k, v in params.items() if k not in (P_KEY, L_KEY)}
        if shared is None:
            shared = rest
        elif rest != shared:
            differ = sorted(k for k in rest.keys() | shared.keys() if rest.get(k) != shared.get(k))
            raise ValueError(
                f"binary-gather: {path} differs from the other points in {differ}; only {P_KEY} and {L_KEY} may vary"
            )
    if not parts:
        raise ValueError("binary-gather: no point files given")
    alphas, Ls = sorted({p[2] for p in parts}), sorted({p[1] for p in parts})
    n_layer = max(p[1] for p in parts)
    ensembles = parts[0][4].ensemble.values
    arrays = {name: np.full((len(alphas), len(Ls), len(ensembles), n_layer), np.nan) for name in LAYER_VARS}
    P_grid = np.full((len(alphas), len(Ls)), np.nan)
    widths_of = dict.fromkeys(Ls, "")
    for P, L, alpha, widths, ds in parts:
        i, j = alphas.index(alpha), Ls.index(L)
        P_grid[i, j] = P
        widths_of[L] = widths
        for name in LAYER_VARS:
            if name in ds:
                arrays[name][i, j, :, :L] = ds[name].transpose("ensemble", "layer").values
    dims = ("alpha", "L", "ensemble", "layer")
    attrs_of = {name: dict(ds[name].attrs) for *_, ds in parts for name in LAYER_VARS if name in ds}
    result = xr.Dataset(
        {name: (dims, arr, attrs_of.get(name, {})) for name, arr in arrays.items()},
        coords={
            "alpha": ("alpha", np.asarray(alphas), {"long_name": "number of weights / P"}),
            "ln_alpha": ("alpha", np.log(alphas)),
            "P": (("alpha", "L"), P_grid, {"long_name": "training examples (NaN: no point at this alpha and L)"}),
            "L": Ls,
            "widths": ("L", [widths_of[L] for L in Ls]),
            "ensemble": ensembles,
            "layer": np.arange(1, n_layer + 1),
        },
    )
    result["ln_alpha"].attrs["long_name"] = "ln(number of weights / P)"
    result.attrs = provenance(
        shared, {**FAMILY, **CONVENTIONS, "family": "binary", "point_files_json": json.dumps(sorted(map(str, files)))}
    )
    write_atomic(result, out, kind="binary-sweep")
    return result
