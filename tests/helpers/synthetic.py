"""Synthetic inputs of the sweep-layer unit tests: a minimal workflow config, per-job files, an overlaps set.

The synthetic files are built with tdlm.storage (the same code path as `tdlm simulate`), so they have
the real dimension names and provenance attributes, but every value is a controlled random number.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from tdlm.md.params import build
from tdlm.storage import build_dataset, point_coords, provenance, write_atomic
from tdlm.variables import LEFT, VARIABLES

# a small but complete workflow config (the keys the schema requires plus the shared simulate keys)
BASE_CONFIG: dict[str, Any] = {
    "run": "unit",
    "data": {"source": "digits", "path": None, "classes": [0, 1]},
    "grids": [{"name": "g", "alpha": {"M": 20, "N": [4, 2]}, "L": [2, 4], "T": [1.0e-5]}],
    "samples": 2,
    "samples_per_job": 1,
    "n_replicas": 2,
    "t_w": [10],
    "t_star": 200,
    "dt": 0.01,
    "eta": 0.001,
    "thermostat": "per_step",
    "n_test": 50,
    "seed": 0,
    "record_per_decade": 4,
    "store_spins": False,
    "device": "cpu",
    "dtype": "float32",
    "tf32": False,
    "checkpoint_steps": 50,
    "checkpoint_seconds": 300,
    "progress_seconds": 5,
    "classify": {"threshold": float(np.exp(-1)), "n_sigma": 2.0, "t_w": None},
    "resources": {"simulate": {"threads": 1, "mem_mb": 2000, "runtime": 60}},
}


TIMES = np.array([0, 1, 3, 10, 30, 100])
HISTORY_TIMES = np.array([0, 1, 3, 10])


def make_job(
    path: Path,
    *,
    M: int = 20,
    N: int = 4,
    L: int = 3,
    T: float = 1e-5,
    samples: tuple[int, ...] = (0,),
    t_w: tuple[int, ...] = (10,),
    n_replicas: int = 3,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    without: tuple[str, ...] = (),
    **overrides: Any,
) -> tuple[Path, dict[str, np.ndarray]]:
    """Write one synthetic per-job netCDF file; returns (path, raw arrays by variable name). `without` leaves
    variables out, as in a file written before they existed."""
    rng = rng or np.random.default_rng(1000 * seed + 10 * L + (samples[0] if samples else 0))
    params = build(
        {
            "M": M,
            "N": N,
            "L": L,
            "T": T,
            "samples": list(samples),
            "t_w": list(t_w),
            "n_replicas": n_replicas,
            "t_star": int(TIMES[-1]),
            "seed": seed,
            "device": "cpu",
            **overrides,
        }
    )
    n_pairs = n_replicas * (n_replicas - 1) // 2
    sizes = {
        "sample": len(samples),
        "t_w": len(t_w),
        "t": len(TIMES),
        "replica": n_replicas,
        "pair": n_pairs,
        "layer": L,
        "history_time": len(HISTORY_TIMES),
    }
    # every recorded variable of the table (not the totals the writer derives, not the final snapshots)
    recorded = [v for v in VARIABLES if v.gather != LEFT and not v.total_of]
    records = {v.name: rng.uniform(-1, 1, size=tuple(sizes[d] for d in v.dims)) for v in recorded}
    # as in real output, spin observables are undefined at the label layer l = L
    for name in ("c", "c_norm", "q", "q_norm", "q_test", "q_test_tanh"):
        records[name][..., -1] = np.nan
    for name in without:
        del records[name]
    coords = {
        "sample": np.asarray(samples),
        "t_w": np.asarray(t_w),
        "t": TIMES,
        "history_time": HISTORY_TIMES,
        "replica": np.arange(n_replicas),
        "pair": np.arange(n_pairs),
        "layer": np.arange(1, L + 1),
        **point_coords(M, N, L, T),
    }
    attrs = provenance(params.flat(), {"noise_seed": 12345 + int(samples[0]), "ln_alpha": float(np.log(M / N))})
    ds = build_dataset(records, coords, {}, attrs)
    write_atomic(ds, path)
    return path, records


# --- a dense overlaps.nc-like dataset for classify / figures ------------------------------------

THRESHOLD_CASES = {
    # (alpha, L) -> mean q* per hidden layer; the samples scatter around it
    (0, 0): [0.9, 0.8],  # L = 3
    (0, 1): [0.9, 0.05, 0.02, 0.1, 0.6],  # L = 6
    (1, 0): [0.3, 0.95],
    (1, 1): [0.8, 0.39, 0.2, 0.35, 0.7],
}


RAW_SCALE = 0.1  # raw q = RAW_SCALE * normalised q: the spins' self-overlap <S^2> of an unsaturated layer


def synthetic_overlaps(n_sample=3, spread=0.05, seed=0, t_ws=(10, 100)) -> xr.Dataset:
    """Dense overlaps.nc-like dataset: q_norm at t* per layer (raw q the same times RAW_SCALE),
    NaN for layers >= L (as gather pads them)."""
    rng = np.random.default_rng(seed)
    Ls, n_layer, times = [3, 6], 6, np.array([0, 10, 100, 1000])
    shape = (2, len(Ls), 1, n_sample, len(t_ws), len(times), n_layer)
    dims = ("alpha", "L", "T", "sample", "t_w", "t", "layer")
    names = ("q", "Q", "q_test", "c", "C", "q_norm", "Q_norm", "c_norm", "C_norm")
    data = {name: np.full(shape, np.nan) for name in names}
    for (a, j), mean in THRESHOLD_CASES.items():
        L = Ls[j]
        for name in data:
            # earlier times and smaller t_w are decoys: classify must read time = t* at the chosen t_w
            data[name][a, j, 0, :, :, :, :L] = rng.uniform(0, 1, size=(n_sample, len(t_ws), len(times), L))
            data[name][a, j, 0, :, :, :, L - 1] = np.nan if name.split("_")[0] in ("q", "c") else 0.5
        # an overlap lies in [-1, 1]; classify refuses a file with one outside
        values = np.clip(np.array(mean)[None, :] + spread * rng.standard_normal((n_sample, len(mean))), -1, 1)
        data["q_norm"][a, j, 0, :, -1, -1, : L - 1] = values
        data["q"][a, j, 0, :, -1, -1, : L - 1] = RAW_SCALE * values
    coords = {
        "alpha": [0, 1],
        "L": Ls,
        "T": [1e-5],
        "sample": np.arange(n_sample),
        "t_w": list(t_ws),
        "t": times,
        "layer": np.arange(1, n_layer + 1),
        "M": ("alpha", [200, 200]),
        "N": ("alpha", [16, 8]),
        "ln_alpha": ("alpha", [math.log(200 / 16), math.log(200 / 8)]),
    }
    return xr.Dataset({k: (dims, v) for k, v in data.items()}, coords=coords, attrs={"param_run": "synthetic"})


# --- phase datasets over any set of points, for the phase-diagram figures -----------------------


def profile_q(ln_alpha: float, L: int, slope: float = 1.1, offset: float = -1.0) -> np.ndarray:
    """A paper-like mean q*_l (l = 1..L-1): near 1 within a solid depth of each boundary layer that grows
    with ln alpha (slope * ln alpha + offset), low in the middle of a deep network at small alpha."""
    solid = slope * ln_alpha + offset
    depth = np.minimum(np.arange(1, L), L - np.arange(1, L))
    return 0.05 + 0.9 / (1 + np.exp(-(solid + 0.5 - depth) / 0.5))


def synthetic_grid_overlaps(points, n_sample=3, spread=0.05, seed=0, **profile) -> xr.Dataset:
    """overlaps.nc-like dataset over the (M, N, L) `points` (others NaN, as gather pads them), T = 1e-5:
    q_norm at t* scattered around profile_q, q (raw) RAW_SCALE times it; classify reads it."""
    rng = np.random.default_rng(seed)
    alphas = sorted({(M, N) for M, N, _ in points}, key=lambda mn: mn[0] / mn[1])
    Ls = sorted({L for _, _, L in points})
    n_layer, times, t_ws = max(Ls), np.array([0, 100]), [100]
    shape = (len(alphas), len(Ls), 1, n_sample, 1, len(times), n_layer)
    names = ("q", "Q", "q_test", "c", "C", "q_norm", "Q_norm", "c_norm", "C_norm")
    data = {name: np.full(shape, np.nan) for name in names}
    for M, N, L in points:
        a, j = alphas.index((M, N)), Ls.index(L)
        for name in names:
            data[name][a, j, 0, :, :, :, :L] = 0.5
            data[name][a, j, 0, :, :, :, L - 1] = np.nan if name.split("_")[0] in ("q", "c") else 0.5
        mean = profile_q(math.log(M / N), L, **profile)
        values = np.clip(mean[None, :] + spread * rng.standard_normal((n_sample, L - 1)), -1, 1)
        data["q_norm"][a, j, 0, :, -1, -1, : L - 1] = values
        data["q"][a, j, 0, :, -1, -1, : L - 1] = RAW_SCALE * values
    coords = {
        "alpha": np.arange(len(alphas)),
        "L": Ls,
        "T": [1e-5],
        "sample": np.arange(n_sample),
        "t_w": t_ws,
        "t": times,
        "layer": np.arange(1, n_layer + 1),
        "M": ("alpha", [M for M, _ in alphas]),
        "N": ("alpha", [N for _, N in alphas]),
        "ln_alpha": ("alpha", [math.log(M / N) for M, N in alphas]),
    }
    dims = ("alpha", "L", "T", "sample", "t_w", "t", "layer")
    return xr.Dataset({k: (dims, v) for k, v in data.items()}, coords=coords, attrs={"param_run": "synthetic"})


# the default grid (config/config.yaml), config/refine.yaml's 15 points (docs/validation.md, section 5;
# the points of its rounds, approximately) and a 10 x 10 grid
DEFAULT_POINTS = [(200, N, L) for N in (16, 8) for L in (3, 8)]
REFINE_POINTS = [(200, N, L) for N, L in [(16, 3), (8, 3), (16, 4), (16, 5), (8, 5), (16, 6), (16, 7), (11, 7), (9, 7), (8, 7)]]
REFINE_POINTS += [(200, N, 8) for N in (16, 12, 11, 10, 8)]
GRID_POINTS = [(int(round(10 * math.exp(x))), 10, L) for x in np.linspace(1, 5.5, 10) for L in range(3, 13)]
