"""Liquid or solid: q*_l = q_l(t*, t_w) against a threshold (default 1/e), with the liquid and solid depths.

A layer is liquid when q*_l < threshold and solid otherwise; it is flagged uncertain when the
threshold lies within `n_sigma` standard errors (over samples) of q*_l. With one sample
there is no standard error and no layer is flagged uncertain.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from tdlm.storage import write_atomic

SOLID, LIQUID, UNCERTAIN, UNDEFINED = 0, 1, 2, -1
FLAG_VALUES = np.array([UNDEFINED, SOLID, LIQUID, UNCERTAIN], dtype=np.int8)
FLAG_MEANINGS = "undefined solid liquid uncertain"


def liquid_depth(q_star: np.ndarray, threshold: float) -> float:
    """Distance between the first and last interpolated crossings of q*_l (l = 1..L-1) with the threshold.

    The boundary layers l = 0 (inputs) and l = L (labels) are fixed and identical in every replica,
    so q*_0 = q*_L = 1: a liquid region always has two crossings. 0 when no layer is liquid.
    """
    q = np.concatenate([[1.0], np.asarray(q_star, dtype=float), [1.0]])
    liquid = q < threshold
    if not liquid.any():
        return 0.0
    first, last = int(np.argmax(liquid)), len(q) - 1 - int(np.argmax(liquid[::-1]))

    def crossing(solid_i: int, liquid_i: int) -> float:
        frac = (q[solid_i] - threshold) / (q[solid_i] - q[liquid_i])
        return solid_i + frac * (liquid_i - solid_i)

    return crossing(last + 1, last) - crossing(first - 1, first)


def classify(overlaps: xr.Dataset, threshold: float = math.exp(-1), t_w: int | None = None, n_sigma: float = 2.0) -> xr.Dataset:
    """phase.nc content from the gathered overlaps at time t* and the chosen waiting time (default: largest)."""
    t_w = int(overlaps.t_w.max()) if t_w is None else int(t_w)
    if t_w not in overlaps.t_w.values:
        raise ValueError(f"classify.t_w: {t_w} is not a recorded waiting time; allowed values: {overlaps.t_w.values.tolist()}")
    at = overlaps.sel(t_w=t_w).isel(time=-1)
    t_star = int(overlaps.time[-1])
    out = xr.Dataset()
    for name in ("q", "Q", "q_test", "c", "C"):
        values = at[name]
        n = values.count("sample")
        out[f"{name}_star"] = values.mean("sample")
        out[f"{name}_star_sem"] = values.std("sample", ddof=1) / np.sqrt(n.where(n > 1))
        out[f"{name}_star"].attrs["long_name"] = f"{name}_l at t = t* after t_w, mean over samples"
        out[f"{name}_star_sem"].attrs["long_name"] = f"standard error over samples of {name}_star"
    q, sem = out["q_star"], out["q_star_sem"]
    phase = xr.where(q < threshold, LIQUID, SOLID)
    phase = xr.where(np.abs(q - threshold) <= n_sigma * sem, UNCERTAIN, phase)
    phase = xr.where(q.notnull(), phase, UNDEFINED).astype(np.int8)
    phase.attrs.update(
        long_name="phase of the layer from q*_l (undefined: no such layer at this L)",
        flag_values=FLAG_VALUES, flag_meanings=FLAG_MEANINGS, threshold=threshold, n_sigma=n_sigma,
    )
    out["phase"] = phase
    xi = xr.apply_ufunc(
        lambda arr: liquid_depth(arr[~np.isnan(arr)], threshold) if np.isfinite(arr).any() else np.nan,
        q, input_core_dims=[["layer"]], vectorize=True,
    )
    out["xi_liquid"] = xi.assign_attrs(long_name="liquid depth: distance between the crossings of q*_l with the threshold")
    out["xi_solid"] = (out.L - xi).transpose(*xi.dims).assign_attrs(long_name="solid depth xi_s = L - xi_liquid")
    out.attrs = dict(overlaps.attrs)
    out.attrs.update(classify_threshold=threshold, classify_t_w=t_w, classify_t_star=t_star, classify_n_sigma=n_sigma)
    return out


def classify_file(overlaps_path: str, out: str, threshold: float, t_w: int | None, n_sigma: float) -> xr.Dataset:
    with xr.open_dataset(overlaps_path, engine="netcdf4") as overlaps:
        result = classify(overlaps.load(), threshold, t_w, n_sigma)
    write_atomic(result, out)
    return result
