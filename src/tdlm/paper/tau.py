"""Relaxation times tau_l: the first time an auto-correlation drops below 1/e.

Why a crossing and not a fit: the paper's tau_l is read off the curve, and a layer that never
decorrelates within t* has no tau at all (undefined, NaN here), which a fit would hide.
"""

from __future__ import annotations

import math

import numpy as np

from tdlm.sweep.settings import THRESHOLD


def first_crossing(t: np.ndarray, c: np.ndarray, threshold: float = THRESHOLD) -> float:
    """First t at which c(t) < threshold, interpolated between the grid points around the crossing.

    The grid is logarithmic, so the interpolation is linear in ln t (linear in t when the point
    before the crossing is t = 0). Returns t[0] when c already starts below the threshold and
    NaN when c never drops below it (or holds no finite value). NaN entries are skipped.
    """
    t, c = np.asarray(t, dtype=float), np.asarray(c, dtype=float)
    ok = np.isfinite(c) & np.isfinite(t)
    t, c = t[ok], c[ok]
    below = np.flatnonzero(c < threshold)
    if len(below) == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(t[0])
    t0, t1, c0, c1 = t[i - 1], t[i], c[i - 1], c[i]
    frac = (c0 - threshold) / (c0 - c1)
    if t0 > 0 and t1 > 0:
        return float(math.exp(math.log(t0) + frac * (math.log(t1) - math.log(t0))))
    return float(t0 + frac * (t1 - t0))


def crossing_times(t: np.ndarray, curves: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """`first_crossing` along the first axis of `curves` (time first, any trailing shape)."""
    curves = np.asarray(curves, dtype=float)
    flat = curves.reshape(curves.shape[0], -1)
    out = np.array([first_crossing(t, flat[:, k], threshold) for k in range(flat.shape[1])])
    return out.reshape(curves.shape[1:])
