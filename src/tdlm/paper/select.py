"""Which parameter point each figure draws, chosen the same way at parse time and at plot time.

Why one module: paper.smk picks the design-space point from the job table before anything
runs, and the figure command picks the reference point from overlaps.nc afterwards; both must
apply the same rule or the figures would silently disagree with the config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tdlm.fields import ConfigError
from tdlm.sweep.settings import PHASE_L as PHASE_L  # the paper's phase diagram is drawn at L = 10


@dataclass(frozen=True)
class Point:
    """One (M, N, L, T) with a note on how it was chosen (shown in figure titles when it is a fallback)."""

    M: int
    N: int
    L: int
    T: float
    note: str = ""

    @property
    def ln_alpha(self) -> float:
        return math.log(self.M / self.N)

    def label(self) -> str:
        return f"M={self.M} N={self.N} (ln a={self.ln_alpha:.2f}) L={self.L} T={self.T:.3g}"

    def as_dict(self) -> dict[str, Any]:
        return {"M": self.M, "N": self.N, "L": self.L, "T": self.T}


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-15)


def nearest(values: list[int], want: int) -> int:
    """The value closest to `want` (the larger one on a tie)."""
    return min(values, key=lambda v: (abs(v - want), -v))


def median_alpha(rows: pd.DataFrame) -> tuple[int, int]:
    """(M, N) at the lower median of ln alpha among `rows` (ties broken by M then N)."""
    pairs = sorted({(int(m), int(n)) for m, n in zip(rows.M, rows.N)}, key=lambda mn: (math.log(mn[0] / mn[1]), mn))
    return pairs[(len(pairs) - 1) // 2]


def _pick_T(table: pd.DataFrame, T: float | None) -> tuple[float, str]:
    Ts = sorted({float(t) for t in table["T"]})
    if T is None:
        return Ts[0], ""
    for t in Ts:
        if _close(t, T):
            return t, ""
    return Ts[0], f"T={T:g} absent, lowest T used"


def choose(
    table: pd.DataFrame,
    M: int | None = None,
    N: int | None = None,
    L: int | None = None,
    T: float | None = None,
    default_L: str | int = "max",
    strict: bool = False,
) -> Point:
    """A point of `table` (columns M, N, L, T): the given coordinates, the rest by the default rule.

    Default rule: the lowest T; L = the largest at that T (default_L="max") or the one nearest
    to an integer default_L; (M, N) = the median ln alpha among the points at (L, T). With
    strict=True a requested coordinate that is absent raises ConfigError; otherwise the default
    replaces it and the returned note says so.
    """
    if table.empty:
        raise ConfigError("no parameter points to choose from")
    notes = []
    T_used, note = _pick_T(table, T)
    if note and strict:
        raise ConfigError(f"T={T:g} is not a temperature of the sweep; allowed values: {sorted(set(table['T']))}")
    notes += [note] if note else []
    at_T = table[[_close(t, T_used) for t in table["T"]]]
    Ls = sorted({int(v) for v in at_T.L})
    if L is not None and int(L) in Ls:
        L_used = int(L)
    else:
        if L is not None and strict:
            raise ConfigError(f"L={L} is not a depth of the sweep at T={T_used:g}; allowed values: {Ls}")
        L_used = max(Ls) if default_L == "max" else nearest(Ls, int(default_L))
        if L is not None:
            notes.append(f"L={L} absent, L={L_used} used")
        elif default_L != "max" and L_used != int(default_L):
            notes.append(f"no L={default_L}, L={L_used} used")
    at_LT = at_T[at_T.L == L_used]
    if M is not None and N is not None and ((at_LT.M == int(M)) & (at_LT.N == int(N))).any():
        M_used, N_used = int(M), int(N)
    else:
        if (M is not None or N is not None) and strict:
            allowed = sorted({(int(m), int(n)) for m, n in zip(at_LT.M, at_LT.N)})
            raise ConfigError(
                f"(M={M}, N={N}) is not an alpha point of the sweep at L={L_used} T={T_used:g}; allowed (M, N): {allowed}"
            )
        M_used, N_used = median_alpha(at_LT)
        if M is not None or N is not None:
            notes.append(f"M={M} N={N} absent, median alpha used")
    return Point(M_used, N_used, L_used, T_used, "; ".join(notes))


def points_with_data(overlaps: xr.Dataset, variable: str = "energy") -> pd.DataFrame:
    """(M, N, L, T) of the cells of overlaps.nc that hold data (gathered sweeps are dense, NaN-padded)."""
    has = overlaps[variable].notnull()
    has = has.any([d for d in has.dims if d not in ("alpha", "L", "T")])
    rows = []
    for i in range(overlaps.sizes["alpha"]):
        for j, L in enumerate(overlaps.L.values):
            for k, T in enumerate(overlaps["T"].values):
                if bool(has.isel(alpha=i, L=j, T=k)):
                    rows.append({"M": int(overlaps.M[i]), "N": int(overlaps.N[i]), "L": int(L), "T": float(T)})
    return pd.DataFrame(rows, columns=["M", "N", "L", "T"])


def alpha_index(ds: xr.Dataset, M: int, N: int) -> int:
    """Index along `alpha` of (M, N) in a gathered dataset."""
    hits = np.flatnonzero((ds.M.values == M) & (ds.N.values == N))
    if len(hits) == 0:
        raise KeyError(f"(M={M}, N={N}) not in the dataset")
    return int(hits[0])


def at_point(ds: xr.Dataset, point: Point) -> xr.Dataset:
    """The slice of overlaps.nc or phase.nc at one point (layers beyond L dropped)."""
    out = ds.isel(alpha=alpha_index(ds, point.M, point.N)).sel(L=point.L).sel(T=point.T, method="nearest")
    return out.sel(layer=slice(1, point.L))


def at_L_T(ds: xr.Dataset, L: int, T: float) -> xr.Dataset:
    """Every alpha at one (L, T), layers beyond L dropped."""
    return ds.sel(L=L).sel(T=T, method="nearest").sel(layer=slice(1, L))
