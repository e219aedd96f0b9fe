"""Per-job netCDF output: named dimensions, CF-1.11 attributes and the job's full provenance."""

from __future__ import annotations

import json
import os
import platform
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

import tdlm
from tdlm import device as tdlm_device
from tdlm.files import FORMAT_VERSION, infer_kind, probe_writable
from tdlm.io import write_netcdf
from tdlm.variables import BY_NAME, COORD_ATTRS, JOB_COORD_ATTRS, VARIABLES


def check_writable(out: str | Path, flag: str = "--out") -> None:
    """Make sure `out` can be written before any work starts: an unwritable place found only after hours
    of MD would lose them. Raises FileError (a ValueError) naming the flag (`tdlm.files.probe_writable`)."""
    probe_writable(out, flag)


def move_aside(path: str | Path) -> Path:
    """Rename a damaged file to `<name>.damaged` (kept for inspection, no longer taken for a result)."""
    path = Path(path)
    aside = path.with_name(path.name + ".damaged")
    os.replace(path, aside)
    return aside


def attr_value(value: Any) -> Any:
    """netCDF attributes take numbers, strings and 1-D arrays; encode the rest."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return np.asarray(value) if value and all(isinstance(x, (int, float)) for x in value) else json.dumps(list(value))
    return value


POINT_COORDS = ("alpha", "M", "N", "ln_alpha", "L", "T")


def point_coords(M: int, N: int, L: int, T: float, dim: str | None = None) -> dict[str, Any]:
    """The physical coordinates of one point (M, N, L, T): scalars, or along length-1 dimensions
    (`dim="point"`) so that xr.open_mfdataset/combine_by_coords stacks point files into a sweep."""
    values = {"alpha": M / N, "M": M, "N": N, "ln_alpha": float(np.log(M / N)), "L": L, "T": float(T)}
    if dim is None:
        return {name: ((), value, COORD_ATTRS[name]) for name, value in values.items()}
    along = {"M": "alpha", "N": "alpha", "ln_alpha": "alpha"}
    return {name: (along.get(name, name), [value], COORD_ATTRS[name]) for name, value in values.items()}


def with_cf(ds: xr.Dataset) -> xr.Dataset:
    """Units on every variable (everything here is dimensionless, "1") and long names on the coordinates."""
    for name, var in ds.variables.items():
        for key, value in COORD_ATTRS.get(name, {}).items():
            var.attrs.setdefault(key, value)
        var.attrs.setdefault("units", "1")
        if name in ds.coords:
            var.attrs.setdefault("long_name", name)
    return ds


def history_line(step: str) -> str:
    return f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {step} (tdlm {tdlm.__version__})"


def appended_history(previous: str | None, step: str) -> str:
    """CF `history`: the input's lines, then one line for this step."""
    return f"{previous}\n{history_line(step)}" if previous else history_line(step)


def device_provenance(device: torch.device) -> dict[str, Any]:
    """What computed a file: the device's type, model and compute capability, and whether TF32 was in effect."""
    record = {**tdlm_device.describe(device), "tf32": tdlm_device.tf32_in_effect(device)}
    return {key: attr_value(value) for key, value in record.items()}


def provenance(
    params_flat: dict[str, Any],
    extra: dict[str, Any],
    step: str = "tdlm",
    history: str | None = None,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Global attributes: CF metadata, every parameter (as `param_<key>`), software (torch, CUDA, cuDNN) and
    machine. `step` names what wrote the file; `history` is its input's, when the step rewrites a file
    (appended to); `device`, the device that computed it: its type, model, compute capability and whether
    TF32 products were in effect (tdlm.device)."""
    attrs: dict[str, Any] = {
        "Conventions": "CF-1.11",
        "title": "Thermal deep learning machine: Langevin MD of neurons and weights",
        "institution": "tdlm",
        "source": f"tdlm {tdlm.__version__}",
        "references": "G. Huang, L. S. Chan, H. Yoshino, G. Zhang, Y. Jin, arXiv:2506.06789 (2025)",
        "history": appended_history(history, step),
        "tdlm_version": tdlm.__version__,
        **tdlm_device.software(),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "hostname": socket.gethostname(),
        "params_json": json.dumps(params_flat, sort_keys=True),
        **(device_provenance(device) if device is not None else {}),
    }
    attrs.update({f"param_{k.replace('.', '_')}": attr_value(v) for k, v in params_flat.items()})
    attrs.update({k: attr_value(v) for k, v in extra.items()})
    return attrs


def kind_attrs(ds: xr.Dataset, kind: str | None = None) -> dict[str, Any]:
    """The attributes that say what a file is: `tdlm_kind` (job, point, sweep, phase, ...; `kind`, else
    what the content shows) and `tdlm_format_version`; none for a dataset that is no kind of the project's."""
    kind = kind or infer_kind(ds)
    return {"tdlm_kind": kind, "tdlm_format_version": FORMAT_VERSION} if kind else {}


def write_atomic(ds: xr.Dataset, out: str | Path, kind: str | None = None) -> None:
    """Write to a hidden temporary name beside `out`, then rename: no half-written file ever has the final name.
    Data are compressed (zlib); coordinates get CF metadata and no _FillValue (a coordinate has no gaps).
    The file's kind and format version are stamped here (`kind_attrs`), for every file the project writes.
    A temporary of a killed earlier run is removed first; a failed write raises OutputError naming `out`."""
    ds = with_cf(ds.copy())
    ds.attrs.update(kind_attrs(ds, kind))
    encoding = {name: {"_FillValue": None} for name in ds.coords}
    encoding.update({name: {"zlib": True, "complevel": 4} for name in ds.data_vars})
    write_netcdf(ds, out, encoding)


def build_dataset(
    records: dict[str, np.ndarray],
    coords: dict[str, Any],
    snapshots: dict[str, np.ndarray],
    attrs: dict[str, Any],
) -> xr.Dataset:
    """Assemble the per-job Dataset from the table of variables (`tdlm.variables`): each record and snapshot
    with its dimensions, long name and units; totals over layers are derived here once."""
    arrays = {**records, **snapshots}
    ds = xr.Dataset({name: (BY_NAME[name].dims, arr) for name, arr in arrays.items()}, coords=coords, attrs=attrs)
    for v in VARIABLES:
        if v.total_of:
            ds[v.name] = ds[v.total_of].sum("layer")
    for name in ds.data_vars:
        ds[name].attrs.update(long_name=BY_NAME[name].long_name, units=BY_NAME[name].units)
    for name, cf in JOB_COORD_ATTRS.items():
        ds[name].attrs.update(cf)
    return ds
