"""Liquid or solid: q*_l = q_l(t*, t_w) against a threshold (default 1/e), with the liquid and solid depths.

A layer is liquid when q*_l < threshold and solid otherwise; it is flagged uncertain when the
threshold lies within `n_sigma` standard errors (over samples) of q*_l. With one sample
there is no standard error and no layer is flagged uncertain.

Why the normalised overlap classifies by default: the raw overlap (1/(N M)) sum S^a S^b is
bounded by the self-overlap <S^2>, so a layer of small (unsaturated) spins has a small raw q
even when its replicas are identical: it measures the spins' size, not their decorrelation.
The normalised overlap (the sum over the root of the two self-overlaps) is 1 for identical
replicas at any magnitude. phase.nc keeps both: `<x>_star` normalised, `<x>_raw_star` raw,
for x in q, Q, c, C; `classify_overlap` records which one drove the labels.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from tdlm.files import FileError, open_input, reading
from tdlm.storage import appended_history, write_atomic
from tdlm.sweep.settings import OVERLAPS, THRESHOLD
from tdlm.variables import UNIT

SOLID, LIQUID, UNCERTAIN, UNDEFINED = 0, 1, 2, -1
FLAG_VALUES = np.array([UNDEFINED, SOLID, LIQUID, UNCERTAIN], dtype=np.int8)
FLAG_MEANINGS = "undefined solid liquid uncertain"
DEFAULT_OVERLAP = OVERLAPS[0]
STARRED = ("q", "Q", "c", "C")  # stored raw and normalised; q_test (of +/-1 sign states) is both at once


def check_overlap(overlap: str) -> str:
    if overlap not in OVERLAPS:
        raise ValueError(f"classify.overlap: got {overlap!r}; allowed values: {', '.join(OVERLAPS)}")
    return overlap


def series_name(name: str, overlap: str) -> str:
    """The overlaps.nc variable of c, C, q or Q in the normalisation of `overlap` (e.g. c -> c_norm)."""
    return f"{name}_norm" if check_overlap(overlap) == "q_norm" else name


def star_name(name: str, overlap: str) -> str:
    """The phase.nc variable of c*, C*, q* or Q* in the normalisation of `overlap` (q_test_star is both)."""
    if name == "q_test":
        return "q_test_star"
    return f"{name}_star" if check_overlap(overlap) == "q_norm" else f"{name}_raw_star"


def overlap_of(ds: xr.Dataset) -> str:
    """The overlap a phase.nc was classified on; files written before the choice existed used the raw q."""
    return str(ds.attrs.get("classify_overlap", "q"))


def phase_star(ds: xr.Dataset, name: str) -> str:
    """The phase.nc variable of q*, Q*, c* or C* that matches the classification; files written before
    the choice existed hold their raw values under the plain name (q_star)."""
    if "classify_overlap" not in ds.attrs:
        return f"{name}_star"
    return star_name(name, overlap_of(ds))


def overlap_label(overlap: str) -> str:
    """Words for figure titles and axes."""
    return "normalised overlaps" if check_overlap(overlap) == "q_norm" else "raw overlaps"


def liquid_crossings(q_star: np.ndarray, threshold: float) -> tuple[float, float] | None:
    """The first and last interpolated crossings of q*_l (l = 1..L-1) with the threshold, in layer units
    (0: the inputs, L: the labels); None when no layer is liquid.

    The boundary layers l = 0 (inputs) and l = L (labels) are fixed and identical in every replica,
    so q*_0 = q*_L = 1: a liquid region always has two crossings.
    """
    q = np.concatenate([[1.0], np.asarray(q_star, dtype=float), [1.0]])
    liquid = q < threshold
    if not liquid.any():
        return None
    first, last = int(np.argmax(liquid)), len(q) - 1 - int(np.argmax(liquid[::-1]))

    def crossing(solid_i: int, liquid_i: int) -> float:
        frac = (q[solid_i] - threshold) / (q[solid_i] - q[liquid_i])
        return solid_i + frac * (liquid_i - solid_i)

    return crossing(first - 1, first), crossing(last + 1, last)


def liquid_depth(q_star: np.ndarray, threshold: float) -> float:
    """Distance between the first and last interpolated crossings of q*_l with the threshold (0 when no
    layer is liquid): the liquid depth xi_l."""
    crossings = liquid_crossings(q_star, threshold)
    return 0.0 if crossings is None else crossings[1] - crossings[0]


# |overlap| <= 1 with the rounding tolerance of the run's own check (tdlm.variables.UNIT): a file the run
# wrote is never refused here
OVERLAP_BOUND = UNIT.abs_max + UNIT.tolerance
MISSING_ATTRS = {
    "long_name": "the point has no overlaps and did not diverge (absent from the sweep, or its file held only NaN): "
    "its layers are undefined for that reason, not for want of layers",
    "units": "1",
    "flag_values": np.array([0, 1], dtype=np.int8),
    "flag_meanings": "computed missing",
}


def check_range(values: xr.DataArray, name: str, t_w: int, t_star: int) -> None:
    """Overlaps are finite and within [-1, 1] (NaN marks an absent layer or point): anything else is a
    damaged or foreign file, refused with the first bad value and where it is."""
    bad = np.isinf(values.values) | (np.abs(np.nan_to_num(values.values)) > OVERLAP_BOUND)
    if bad.any():
        index = dict(zip(values.dims, np.argwhere(bad)[0]))
        where = ", ".join(f"{dim} = {values[dim].values[i]}" for dim, i in index.items() if dim in values.coords)
        raise FileError(
            f"overlaps: {name} at t_w = {t_w}, t* = {t_star} is {values.values[bad][0]} at {where}; "
            "allowed values: finite overlaps in [-1, 1] (a damaged or foreign overlaps file?)"
        )


def missing_points(values: xr.DataArray, diverged: xr.DataArray | None) -> xr.DataArray:
    """1 where a point has no finite overlap at all and is not flagged diverged."""
    empty = values.notnull().sum([d for d in values.dims if d not in ("alpha", "L", "T")]) == 0
    if diverged is not None:
        empty = empty & (diverged == 0)
    return empty.astype(np.int8).assign_attrs(MISSING_ATTRS)


def classify(
    overlaps: xr.Dataset,
    threshold: float = THRESHOLD,
    t_w: int | None = None,
    n_sigma: float = 2.0,
    overlap: str = DEFAULT_OVERLAP,
) -> xr.Dataset:
    """phase.nc content from the gathered overlaps at time t* and the chosen waiting time (default: largest)."""
    check_overlap(overlap)
    t_w = int(overlaps.t_w.max()) if t_w is None else int(t_w)
    if t_w not in overlaps.t_w.values:
        raise ValueError(f"classify.t_w: {t_w} is not a recorded waiting time; allowed values: {overlaps.t_w.values.tolist()}")
    at = overlaps.sel(t_w=t_w).isel(t=-1)
    t_star = int(overlaps.t[-1])
    out = xr.Dataset()
    sources = [(f"{n}_norm", f"{n}_star", f"{n}_l at t = t* after t_w, normalised, mean over samples") for n in STARRED]
    sources += [(n, f"{n}_raw_star", f"{n}_l at t = t* after t_w, raw, mean over samples") for n in STARRED]
    sources.append(("q_test", "q_test_star", "q_l of test inputs through the sign networks at t = t*, mean over samples"))
    missing_vars = [source for source, _, _ in sources if source not in at]
    if missing_vars:
        raise FileError(f"overlaps: no variables {', '.join(missing_vars)}; expected an overlaps.nc of `tdlm gather`")
    # variables added later (tdlm.variables: `later`) that an older overlaps.nc lacks
    optional = [
        (
            "q_test_tanh",
            "q_test_tanh_star",
            "q_l of test inputs through the tanh networks at t = t*, normalised, mean over samples",
        )
    ]
    sources += [source for source in optional if source[0] in at]
    for source, name, long_name in sources:
        values = at[source].astype(np.float64)  # statistics in double precision, whatever the stored precision
        check_range(values, source, t_w, t_star)
        n = values.count("sample")
        out[name] = values.mean("sample").assign_attrs(long_name=long_name)
        out[f"{name}_sem"] = (values.std("sample", ddof=1) / np.sqrt(n.where(n > 1))).assign_attrs(
            long_name=f"standard error over samples of {name}"
        )
    used = star_name("q", overlap)
    q, sem = out[used], out[f"{used}_sem"]
    phase = xr.where(q < threshold, LIQUID, SOLID)
    phase = xr.where(np.abs(q - threshold) <= n_sigma * sem, UNCERTAIN, phase)
    phase = xr.where(q.notnull(), phase, UNDEFINED).astype(np.int8)
    phase.attrs.update(
        long_name=f"phase of the layer from {used} (undefined: no such layer at this L, or the point diverged or is missing)",
        flag_values=FLAG_VALUES,
        flag_meanings=FLAG_MEANINGS,
        threshold=threshold,
        n_sigma=n_sigma,
        variable=used,
    )
    out["phase"] = phase
    out["missing"] = missing_points(at[check_overlap(overlap)], overlaps.get("diverged"))
    xi = xr.apply_ufunc(
        lambda arr: liquid_depth(arr[~np.isnan(arr)], threshold) if np.isfinite(arr).any() else np.nan,
        q,
        input_core_dims=[["layer"]],
        vectorize=True,
    )
    out["xi_liquid"] = xi.assign_attrs(long_name=f"liquid depth: distance between the crossings of {used} with the threshold")
    out["xi_solid"] = (out.L - xi).transpose(*xi.dims).assign_attrs(long_name="solid depth xi_s = L - xi_liquid")
    if "diverged" in overlaps:  # a diverged point has no q*: its layers are flagged -1 like absent ones
        out["diverged"] = overlaps["diverged"]
    if "round" in overlaps:  # refinement: the round that added each point
        out["round"] = overlaps["round"]
    out.attrs = dict(overlaps.attrs)
    out.attrs.update(
        classify_threshold=threshold,
        classify_t_w=t_w,
        classify_t_star=t_star,
        classify_n_sigma=n_sigma,
        classify_overlap=overlap,
        classify_variable=used,
        history=appended_history(
            overlaps.attrs.get("history"), f"tdlm classify on {used} at t_w = {t_w}, threshold {threshold:.4g}"
        ),
    )
    return out


def classify_file(
    overlaps_path: str, out: str, threshold: float, t_w: int | None, n_sigma: float, overlap: str = DEFAULT_OVERLAP
) -> xr.Dataset:
    with open_input(overlaps_path, "sweep", "overlaps") as overlaps, reading(overlaps_path, "overlaps"):
        result = classify(overlaps, threshold, t_w, n_sigma, overlap).load()  # lazily: only the slices at t*
    write_atomic(result, out, kind="phase")
    return result
