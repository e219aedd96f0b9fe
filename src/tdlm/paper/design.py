"""Design-space structure of one parameter point from the stored final snapshots.

Why: q*_l says whether a layer is liquid or solid on average; the overlap matrix over every
configuration (N_s samples x N_r replicas) shows how: a liquid layer's configurations are
mutually uncorrelated (one peak of P(Q) at 0, a flat one-level tree), a solid layer's fall
into per-sample clusters with sub-clusters inside (inter- and intra-sample peaks).

Q_l^{ab} = 1/(N_l N_{l-1}) sum_ij J_l^a J_l^b (from J_final), q_l^{ab} = 1/(N_l M) sum S_l^a S_l^b
(from S_final, only when the jobs stored spins), both at t = t* after the chosen t_w. Across
samples q compares representations of different training sets (each sample draws its own);
it is reported as the spec defines it. Clustering: complete linkage on d = 1 - Q (diagonal 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from tdlm.paper.select import Point, alpha_index
from tdlm.storage import provenance, write_atomic
from tdlm.sweep.classify import LIQUID, SOLID, phase_star
from tdlm.sweep.gather import PER_JOB_KEYS, jobs_of_one_point

KINDS = {"Q": ("J_final", "weight_layer"), "q": ("S_final", "spin_layer")}


def overlap_matrix(x: np.ndarray) -> np.ndarray:
    """Q^{ab} = (1/n) sum_k x^a_k x^b_k for configurations x of shape (n_configs, n)."""
    x = np.asarray(x, dtype=np.float64)
    q = x @ x.T / x.shape[1]
    return 0.5 * (q + q.T)


def off_diagonal(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle values and their (a, b) indices: every distinct pair a < b once."""
    a, b = np.triu_indices(q.shape[0], k=1)
    return q[a, b], a, b


def histogram(q: np.ndarray, groups: np.ndarray, bins: int = 40) -> dict[str, np.ndarray]:
    """P(Q) over the distinct pairs a < b, split into pairs of the same group (sample) and of different ones.

    All three are densities normalised by the total number of pairs, so P_intra + P_inter = P.
    """
    values, a, b = off_diagonal(q)
    if len(values) == 0:
        raise ValueError("P(Q): need at least two configurations")
    lo, hi = float(values.min()), float(values.max())
    pad = max(1e-3, 0.02 * (hi - lo))
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    width = np.diff(edges)
    same = np.asarray(groups)[a] == np.asarray(groups)[b]
    count = lambda mask: np.histogram(values[mask], bins=edges)[0] / (len(values) * width)  # noqa: E731
    return {"edges": edges, "P": count(np.ones_like(same)), "P_intra": count(same), "P_inter": count(~same)}


def cluster(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complete-linkage clustering on d = 1 - Q (clipped at 0, diagonal 0): (linkage matrix, leaf order)."""
    d = np.clip(1.0 - np.asarray(q, dtype=np.float64), 0.0, None)
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform(d, checks=False), method="complete")
    return z, leaves_list(z)


def choose_layers(phase: xr.Dataset, point: Point, variable: str | None = None) -> list[tuple[str, int, str]]:
    """(role, layer, note) of a liquid and a solid hidden layer at `point`, from phase.nc.

    Liquid: the classified-liquid layer with the lowest q*_l; solid: the classified-solid layer
    with the highest. When no layer has that phase, the most liquid-like (lowest q*) or most
    solid-like (highest q*) hidden layer stands in and the note says so.
    """
    variable = variable or phase_star(phase, "q")  # the q* the labels came from
    at = phase.isel(alpha=alpha_index(phase, point.M, point.N)).sel(L=point.L).sel(T=point.T, method="nearest")
    layers = np.arange(1, point.L)
    q = at[variable].sel(layer=layers).values
    flags = at["phase"].sel(layer=layers).values
    out = []
    for role, flag, pick in (("liquid", LIQUID, np.nanargmin), ("solid", SOLID, np.nanargmax)):
        mask = (flags == flag) & np.isfinite(q)
        if mask.any():
            idx = np.flatnonzero(mask)[pick(q[mask])]
            note = f"classified {role}, q*={q[idx]:.3g}"
        else:
            idx = int(pick(np.where(np.isfinite(q), q, np.nan)))
            note = f"no layer classified {role}: {'lowest' if role == 'liquid' else 'highest'} q* ({q[idx]:.3g}) used"
        out.append((role, int(layers[idx]), note))
    return out


def _load(
    job_files: Iterable[str | Path], t_w: int | None
) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray, int, list[str]]:
    """Snapshots of every configuration (sample-major, then replica) at one t_w from the jobs of one point."""
    params, chunks, layer_of, samples, t_w_used, files = None, {k: [] for k in KINDS}, {}, [], None, []
    for path, p, job in jobs_of_one_point(job_files):
        if params is None:
            params = p
            t_w_used = int(job.t_w.max()) if t_w is None else int(t_w)
        if t_w_used not in job.t_w.values:
            raise ValueError(f"{path}: t_w={t_w_used} not recorded; allowed values: {job.t_w.values.tolist()}")
        for kind, (var, coord) in KINDS.items():
            if var in job:
                chunks[kind].append(job[var].sel(t_w=t_w_used).transpose("sample", "replica", ...).values)
                layer_of[kind] = job[coord].values
            else:
                chunks[kind].append(None)
        samples.append(job.sample.values)
        files.append(path)
    if not files:
        raise ValueError("design-space: no job files given")
    sample = np.concatenate(samples)
    data = {}
    for kind, parts in chunks.items():
        if all(part is not None for part in parts):
            data[kind] = np.concatenate(parts, axis=0)  # (sample, replica, index)
    n_r = data["Q"].shape[1]
    return params, data, layer_of, np.repeat(sample, n_r), np.tile(np.arange(n_r), len(sample)), t_w_used, files


def design_space(
    job_files: Iterable[str | Path],
    phase: xr.Dataset | None = None,
    layers: list[int] | None = None,
    t_w: int | None = None,
    bins: int = 40,
) -> xr.Dataset:
    """design_space.nc content: for each chosen layer and overlap kind, the matrix, P(Q) and the clustering."""
    params, data, layer_of, config_sample, config_replica, t_w_used, files = _load(job_files, t_w)
    point = Point(int(params["M"]), int(params["N"]), int(params["L"]), float(params["T"]))
    if layers:
        chosen = [("requested", int(l), "requested") for l in layers]
        bad = [l for _, l, _ in chosen if not 1 <= l <= point.L]
        if bad:
            raise ValueError(f"design-space layers {bad} outside 1..{point.L}")
    elif phase is not None:
        chosen = choose_layers(phase, point)
    else:
        raise ValueError("design-space: give --layers or phase.nc to choose a liquid and a solid layer")
    n = len(config_sample)
    n_bins, n_panels = bins, len(chosen)
    arrays: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for kind, snaps in data.items():
        flat = snaps.reshape(n, -1)
        mats = np.full((n_panels, n, n), np.nan)
        order = np.full((n_panels, n), -1, dtype=np.int64)
        links = np.full((n_panels, n - 1, 4), np.nan)
        hist = {k: np.full((n_panels, n_bins), np.nan) for k in ("P", "P_intra", "P_inter")}
        edges = np.full((n_panels, n_bins + 1), np.nan)
        for i, (_, layer, _) in enumerate(chosen):
            cols = layer_of[kind] == layer
            if not cols.any():  # e.g. q at layer L: the labels are fixed, there are no spins
                continue
            mats[i] = overlap_matrix(flat[:, cols])
            links[i], order[i] = cluster(mats[i])
            h = histogram(mats[i], config_sample, n_bins)
            edges[i] = h["edges"]
            for k in hist:
                hist[k][i] = h[k]
        arrays[f"{kind}_matrix"] = (("panel", "config", "config_b"), mats)
        arrays[f"{kind}_order"] = (("panel", "config"), order)
        arrays[f"{kind}_linkage"] = (("panel", "merge", "linkage_column"), links)
        arrays[f"{kind}_edges"] = (("panel", "edge"), edges)
        for k, v in hist.items():
            arrays[f"{kind}_{k}"] = (("panel", "bin"), v)
    ds = xr.Dataset(
        arrays,
        coords={
            "panel": np.arange(n_panels),
            "layer": ("panel", np.array([l for _, l, _ in chosen])),
            "role": ("panel", np.array([r for r, _, _ in chosen])),
            "config_sample": ("config", config_sample),
            "config_replica": ("config", config_replica),
            "linkage_column": np.array(["child_a", "child_b", "distance", "count"]),
        },
    )
    ds["role"].attrs["note"] = json.dumps([note for _, _, note in chosen])
    descriptions = {
        "matrix": "overlap between configurations a and b (sample-major order, see config_sample/config_replica)",
        "order": "dendrogram leaf order (complete linkage on 1 - overlap): index into config",
        "linkage": "scipy linkage matrix (complete linkage on d = 1 - overlap)",
        "edges": "bin edges of the histogram",
        "P": "P(overlap) over distinct pairs a < b (density)",
        "P_intra": "part of P from pairs of the same sample (normalised by all pairs)",
        "P_inter": "part of P from pairs of different samples (normalised by all pairs)",
    }
    for name in ds.data_vars:
        kind, rest = name.split("_", 1)
        what = "weight overlap Q_l^{ab} (J_final)" if kind == "Q" else "spin overlap q_l^{ab} (S_final)"
        ds[name].attrs["long_name"] = f"{what}: {descriptions[rest]}"
    shared = {k: v for k, v in params.items() if k not in PER_JOB_KEYS}
    ds.attrs = provenance(
        shared,
        {
            "design_t_w": t_w_used,
            "design_t_star": int(params["t_star"]),
            "design_layers": [l for _, l, _ in chosen],
            "design_roles": json.dumps([r for r, _, _ in chosen]),
            "design_kinds": json.dumps(sorted(data)),
            "design_bins": bins,
            "design_files_json": json.dumps(files),
            "ln_alpha": point.ln_alpha,
            "design_clustering": "complete linkage on d = 1 - overlap (scipy.cluster.hierarchy), diagonal d = 0",
            "design_spins": "stored" if "q" in data else "not stored (store_spins false): weights only",
        },
    )
    return ds


def design_space_file(
    job_files: list[str], out: str, phase_path: str | None, layers: list[int] | None, t_w: int | None, bins: int
) -> xr.Dataset:
    phase = None
    if phase_path:
        with xr.open_dataset(phase_path, engine="netcdf4") as p:
            phase = p.load()
    ds = design_space(job_files, phase, layers, t_w, bins)
    write_atomic(ds, out)
    return ds
