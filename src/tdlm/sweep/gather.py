"""Gather per-job files into per-point files, and those into one dense sweep dataset.

Hierarchical on purpose: a point file combines the few jobs of one (M, N, L, T); the sweep
file opens one point file at a time, so thousands of jobs never hold file handles at once.
Replica-resolved quantities are averaged over replicas and pair-resolved ones over pairs;
samples are kept so that classification can report standard errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import xarray as xr

from tdlm.files import FileError, UnreadableFile, is_own, open_input, parameters, read_json, reading
from tdlm.io import atomic
from tdlm.md.params import with_later_defaults
from tdlm.storage import (
    POINT_COORDS,
    kind_attrs,
    move_aside,
    point_coords,
    provenance,
    write_atomic,
)
from tdlm.variables import COORD_ATTRS, KEPT, LEFT, PAIRS, REPLICAS, VARIABLES, gathered

# the variable groups of the table of variables: averaged over replicas, over pairs, or kept as they are
REPLICA_VARS, PAIR_VARS, HISTORY_VARS = gathered(REPLICAS), gathered(PAIRS), gathered(KEPT)
LATER = {v.name for v in VARIABLES if v.later}
POINT_KEYS = ("M", "N", "L", "T")
LEAD = ("alpha", "L", "T")  # the point dimensions of point and sweep files
DIVERGED_ATTRS = {
    "long_name": "the point's MD diverged (its observables are NaN; the message is in divergences_json)",
    "units": "1",
    "flag_values": np.array([0, 1], dtype=np.int8),
    "flag_meanings": "computed diverged",
}
PER_JOB_KEYS = ("samples", "checkpoint_path")


def _with_later_variables(job: xr.Dataset, path: str | Path) -> xr.Dataset:
    """The job with every variable added later (`Variable.later`) that it lacks, as NaN: a file written before
    the variable existed (e.g. `q_test_tanh`) gathers with newer ones; the attribute `comment` says it was not
    recorded. A file that lacks any other gathered variable is no job file of this code: FileError naming it."""
    missing = [v for v in VARIABLES if v.gather != LEFT and v.name not in job]
    refused = [v.name for v in missing if not v.later or any(d not in job.dims for d in v.dims)]
    if refused:
        raise FileError(f"jobs: {path} lacks the variables {', '.join(refused)}; expected a job file of `tdlm simulate`")
    for v in missing:
        job[v.name] = xr.DataArray(
            np.full([job.sizes[d] for d in v.dims], np.nan, dtype=np.float32),
            dims=v.dims,
            attrs={"long_name": v.long_name, "units": v.units, "comment": "not recorded: the job file predates this variable"},
        )
    return job


def reduce_job(job: xr.Dataset, path: str | Path) -> xr.Dataset:
    """One job as the gather holds it: replicas and pairs averaged, the history kept (`tdlm.variables`)."""
    job = _with_later_variables(job, path)
    out = {name: job[name].mean("replica") for name in REPLICA_VARS}
    out.update({name: job[name].mean("pair") for name in PAIR_VARS})
    out.update({name: job[name] for name in HISTORY_VARS})
    ds = xr.Dataset(out)
    for name in ds.data_vars:
        ds[name].attrs = dict(job[name].attrs)
    return ds


class DamagedJobFile(ValueError):
    """A job file cannot be read; it has been moved aside so that the workflow recomputes the job."""


def read_job(path: str | Path) -> tuple[dict[str, Any], xr.Dataset]:
    """(parameters, dataset read completely) of one job file (`tdlm.files.open_input`). A netCDF file of
    the project's that cannot be read in full (truncated, overwritten) is moved to `<name>.damaged` and
    raises DamagedJobFile naming it; any other bad file (missing, foreign, of another kind or another
    point) is a FileError and is left where it is."""
    try:
        job = _current(open_input(path, "job", "jobs", load=True))
    except UnreadableFile as err:
        if not is_own(path):
            raise
        aside = move_aside(path)
        raise DamagedJobFile(
            f"{err}: an unreadable job file, moved to {aside}, so the next run of the workflow recomputes this job"
        ) from None
    return with_later_defaults(parameters(job, Path(path), "jobs")), job


def jobs_of_one_point(job_files: Iterable[str | Path]) -> Iterator[tuple[str, dict[str, Any], xr.Dataset]]:
    """(path, parameters, dataset) of each job file, sorted by name; raises ValueError when a job's point
    or any parameter but the per-job ones differs from the first job's (DamagedJobFile when unreadable)."""
    point = shared = None
    for path in sorted(map(str, job_files)):
        params, job = read_job(path)
        key = {k: params[k] for k in POINT_KEYS}
        rest = {k: v for k, v in params.items() if k not in POINT_KEYS + PER_JOB_KEYS}
        if point is None:
            point, shared = key, rest
        elif key != point or rest != shared:
            raise ValueError(f"{path}: parameters differ from the other jobs of point {point}")
        yield path, params, job


def gather_point(job_files: Iterable[str | Path], out: str | Path) -> xr.Dataset:
    """Concatenate the jobs of one parameter point along `sample`. The point file has length-1 dimensions
    alpha, L and T with its physical coordinates (alpha = M / N, M, N, ln_alpha, L, T), so that
    `xr.open_mfdataset` over point files combines them into a sweep."""
    parts, sources, diverged, params, history = [], [], [], None, None
    for path, params, job in jobs_of_one_point(job_files):
        history = history or job.attrs.get("history")
        if job.attrs.get("diverged"):
            diverged.append(f"{path}: {job.attrs['divergence']}")
            continue
        parts.append(reduce_job(job.drop_vars(POINT_COORDS, errors="ignore"), path).load())
        sources.append({"file": path, "samples": params["samples"], "noise_seed": int(job.attrs["noise_seed"])})
    if params is None:
        raise FileError("jobs: no job files given")
    point = {k: params[k] for k in POINT_KEYS}
    shared = {k: v for k, v in params.items() if k not in PER_JOB_KEYS}
    step = f"tdlm gather-point of {len(sources) + len(diverged)} job files"
    extra = {"ln_alpha": float(np.log(point["M"] / point["N"]))}
    if diverged:  # the point records its failure instead of the samples that did not diverge
        extra.update(diverged=1, divergence="; ".join(diverged))
        ds = xr.Dataset(coords=point_coords(**point, dim="point"))
    else:
        ds = xr.concat(parts, dim="sample").sortby("sample")
        if len(np.unique(ds.sample)) != ds.sizes["sample"]:
            raise ValueError(f"gather-point: duplicate samples {ds.sample.values.tolist()} for point {point}")
        ds = ds.expand_dims(["alpha", "L", "T"]).assign_coords(point_coords(**point, dim="point"))
        extra["jobs_json"] = json.dumps(sources)
    ds.attrs = provenance(shared, extra, step=step, history=history)
    write_atomic(ds, out, kind="point")
    return ds


def _current(ds: xr.Dataset) -> xr.Dataset:
    """Files written before the lag after t_w was named `t` (CF reserves `time` for calendar time) call it `time`."""
    return ds.rename(time="t") if "time" in ds.dims else ds


def _one_point(ds: xr.Dataset) -> xr.Dataset:
    """A point file's data without its length-1 point dimensions (files written before they existed have none)."""
    ds = _current(ds)
    lead = [d for d in LEAD if d in ds.dims]
    return ds.isel(dict.fromkeys(lead, 0), drop=True) if lead else ds


ROUND_ATTRS = {
    "long_name": "refinement round that added the point (0: the grid; -1: no such point)",
    "units": "1",
}


def gather_sweep(point_files: Iterable[str | Path], out: str | Path, plan: str | Path | None = None) -> xr.Dataset:
    """Dense dataset over (alpha, L, T, sample, t_w, t, layer); layers beyond a point's L are NaN. With a
    refinement `plan` (refine/plan~k.json), the variable `round` says which round added each point.

    Streams in bounded memory: a first pass reads the points' metadata, the file is then created at its
    final size and filled one point at a time (chunks of one point), so memory does not grow with the
    number of points and time grows linearly. Returns the written file, opened lazily.
    """
    files = sorted(map(str, point_files))
    if not files:
        raise FileError("points: no point files given")
    keys, shared, template, divergences, history, seen = [], None, None, {}, None, {}
    for path in files:
        with open_input(path, "point", "points") as opened, reading(path, "points"):
            ds = _one_point(opened)
            history = history or ds.attrs.get("history")
            params = with_later_defaults(parameters(ds, Path(path), "points"))
            point = tuple(params[k] for k in POINT_KEYS)
            if point in seen:
                raise FileError(
                    f"points: {path} and {seen[point]} are the same point {dict(zip(POINT_KEYS, point))}; "
                    "give each point once (a copied file?)"
                )
            seen[point] = path
            keys.append(point + (ds.sizes.get("sample", 0), ds.sizes.get("layer", 0)))
            this = {k: v for k, v in params.items() if k not in POINT_KEYS}
            if shared is None:
                shared = this
            elif this != shared:
                raise FileError(f"points: {path}: shared parameters differ from {files[0]}: {this} vs {shared}")
            if ds.attrs.get("diverged"):
                divergences[path] = str(ds.attrs["divergence"])
            elif template is None:
                template = _skeleton(ds)
            else:  # a variable that only newer points have (the older ones stay NaN there)
                for name, spec in _skeleton(ds)["vars"].items():
                    template["vars"].setdefault(name, spec)
    if template is None:
        raise FileError(f"points: every point diverged: {'; '.join(divergences.values())}")
    alphas = sorted({(k[0], k[1]) for k in keys}, key=lambda mn: (np.log(mn[0] / mn[1]), mn))
    Ls, Ts = sorted({k[2] for k in keys}), sorted({k[3] for k in keys})
    n_sample, n_layer = max(k[4] for k in keys), max(k[5] for k in keys)
    coords = {
        "alpha": ("alpha", np.asarray([m / n for m, n in alphas])),
        "L": ("L", np.asarray(Ls)),
        "T": ("T", np.asarray(Ts, dtype=np.float64)),
        "sample": ("sample", np.arange(n_sample)),
        **{name: (name, values) for name, values in template["coords"].items()},
        "layer": ("layer", np.arange(1, n_layer + 1)),
        "M": ("alpha", np.asarray([m for m, _ in alphas])),
        "N": ("alpha", np.asarray([n for _, n in alphas])),
        "ln_alpha": ("alpha", np.asarray([float(np.log(m / n)) for m, n in alphas])),
    }
    coord_attrs = {name: {**COORD_ATTRS.get(name, {}), **template["coord_attrs"].get(name, {})} for name in coords}
    attrs = provenance(
        shared,
        {"points": len(files), "point_files_json": json.dumps(files), "divergences_json": json.dumps(divergences)},
        step=f"tdlm gather of {len(files)} point files",
        history=history,
    )
    attrs.update(kind_attrs(xr.Dataset(), "sweep"))
    rounds = _rounds(plan)
    with atomic(out) as tmp:  # a failed write names `out` and leaves no temporary (tdlm.io)
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            sizes = {name: len(values) for name, (dim, values) in coords.items() if dim == name}
            for dim, size in sizes.items():
                nc.createDimension(dim, size)
            for name, (dim, values) in coords.items():
                nc.createVariable(name, values.dtype, (dim,))[:] = values
                nc[name].setncatts({"units": "1", **coord_attrs[name]})
            for name, (dims, dtype, var_attrs) in template["vars"].items():
                var = nc.createVariable(
                    name,
                    dtype,
                    LEAD + dims,
                    zlib=True,
                    complevel=4,
                    fill_value=np.nan,
                    chunksizes=(1, 1, 1) + tuple(sizes[d] for d in dims),
                )
                # every chunk (one point) is written once: a cache of one chunk instead of netCDF's 64 MB per
                # variable, which would hold ~1 GB of a large sweep in memory for nothing
                var.set_var_chunk_cache(size=int(np.prod(var.chunking())) * var.dtype.itemsize, nelems=11, preemption=1.0)
                var.setncatts({"units": "1", **var_attrs, "coordinates": "M N ln_alpha"})
            flags = nc.createVariable("diverged", "i1", LEAD, zlib=True, complevel=4)
            flags.setncatts({**DIVERGED_ATTRS, "coordinates": "M N ln_alpha"})
            flags[:] = 0
            if rounds is not None:
                round_var = nc.createVariable("round", "i2", LEAD, zlib=True, complevel=4)  # no _FillValue: stays int
                round_var.setncatts({**ROUND_ATTRS, "coordinates": "M N ln_alpha"})
                round_var[:] = -1
            for path, key in zip(files, keys):
                idx = (alphas.index((key[0], key[1])), Ls.index(key[2]), Ts.index(key[3]))
                if rounds is not None:
                    round_var[idx] = rounds.get((int(key[0]), int(key[1]), int(key[2]), float(key[3])), 0)
                if path in divergences:
                    flags[idx] = 1
                    continue
                with open_input(path, "point", "points") as opened:
                    ds = _one_point(opened)
                    for name, (dims, _, _) in template["vars"].items():
                        if name not in ds and name in LATER:  # a point gathered before the variable existed: NaN
                            continue
                        with reading(path, "points"):  # a damaged point names itself; a failed write is the output's
                            values = ds[name].transpose(*dims).values
                        nc[name][idx + tuple(slice(0, n) for n in values.shape)] = values
            nc.setncatts(attrs)
    return xr.open_dataset(out, engine="netcdf4")


def _rounds(plan: str | Path | None) -> dict[tuple[int, int, int, float], int] | None:
    """(M, N, L, T) -> the round that added the point, from a plan file."""
    if plan is None:
        return None
    data = read_json(plan, "--plan")
    try:
        points = data["points"]
        return {(int(p["M"]), int(p["N"]), int(p["L"]), float(p["T"])): int(p["round"]) for p in points}
    except (KeyError, TypeError, ValueError) as err:
        raise FileError(f"--plan: {plan} is not a refinement plan (points with M, N, L, T, round): {err!r}") from None


def _skeleton(point: xr.Dataset) -> dict[str, Any]:
    """What the sweep file takes from its first computed point: each variable's dims, dtype (float32 stays
    float32) and attributes, the time coordinates, and the coordinates' attributes (no data)."""
    return {
        "vars": {name: (var.dims, var.dtype, dict(var.attrs)) for name, var in point.data_vars.items()},
        "coords": {name: point[name].values for name in ("t_w", "t", "history_time")},
        "coord_attrs": {name: dict(point[name].attrs) for name in point.coords},
    }
