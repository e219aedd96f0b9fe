"""tdlm.sweep.classify: the liquid depth on constructed profiles and the flags of classify() on a synthetic overlaps set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from tdlm.sweep.classify import FLAG_MEANINGS, FLAG_VALUES, LIQUID, SOLID, UNCERTAIN, UNDEFINED, classify, liquid_depth

from helpers.synthetic import THRESHOLD_CASES, synthetic_overlaps

THR = math.exp(-1)


def crossings(profile, threshold):
    """Reference: positions where the piecewise-linear q*(l) over l = 0..L, padded with q*_0 = q*_L = 1, crosses the threshold."""
    q = np.concatenate([[1.0], profile, [1.0]])
    xs = []
    for i in range(len(q) - 1):
        a, b = q[i], q[i + 1]
        if (a >= threshold) != (b >= threshold):
            xs.append(i + (a - threshold) / (a - b))
    return xs


# --- liquid_depth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile, threshold, expected",
    [
        ([0.9, 0.8, 0.7], 0.5, 0.0),  # all solid
        ([0.5, 0.5], 0.5, 0.0),  # at the threshold is solid
        ([0.0], 0.5, 1.0),  # L = 2: crossings at 0.5 and 1.5 thanks to the solid boundaries
        ([0.0, 0.0], 0.5, 2.0),  # crossings at 0.5 and 2.5
        ([0.25, 0.75, 0.75], 0.5, 1.5 - 2 / 3),  # liquid at layer 1: left crossing with the padded input layer
        ([0.75, 0.75, 0.25], 0.5, (4 - 2 / 3) - 2.5),  # liquid at layer L-1: right crossing with the padded labels
        ([0.1, 0.9, 0.1], 0.5, (4 - 0.5 / 0.9) - 0.5 / 0.9),  # two liquid regions: first to last crossing
    ],
)
def test_liquid_depth_hand_computed(profile, threshold, expected):
    assert liquid_depth(np.array(profile), threshold) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_liquid_depth_matches_reference_interpolation(seed):
    rng = np.random.default_rng(seed)
    profile = rng.uniform(0, 1, size=rng.integers(1, 12))
    xs = crossings(profile, THR)
    expected = xs[-1] - xs[0] if xs else 0.0
    if (profile < THR).any():
        assert len(xs) >= 2  # the solid padding guarantees two crossings around any liquid region
    assert liquid_depth(profile, THR) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= liquid_depth(profile, THR) <= len(profile) + 1  # never deeper than L


def test_liquid_depth_without_padding_would_differ():
    """The documented padding matters: a fully liquid profile spans nearly all of L, not 0."""
    profile = np.zeros(5)  # L = 6
    depth = liquid_depth(profile, THR)
    assert depth == pytest.approx(4 + 2 * THR)  # from 1 - THR to 5 + THR
    assert 6 - depth == pytest.approx(2 * (1 - THR))  # xi_s: two thin solid skins at the boundaries


# --- classify on a synthetic overlaps set (tests/sweep/conftest.py) ------------------------------


@pytest.mark.parametrize("n_sample, spread, seed", [(3, 0.05, 0), (4, 0.01, 1), (2, 0.2, 2), (5, 0.1, 3)])
def test_classify_flags_follow_q_star_threshold_and_sem(n_sample, spread, seed):
    overlaps = synthetic_overlaps(n_sample, spread, seed)
    out = classify(overlaps, threshold=THR, n_sigma=2.0)
    final = overlaps.q_norm.isel(t_w=-1, t=-1)
    q_star, sem = final.mean("sample"), final.std("sample", ddof=1) / np.sqrt(n_sample)
    np.testing.assert_allclose(out.q_star, q_star)
    np.testing.assert_allclose(out.q_star_sem, sem)
    phase = out.phase
    assert phase.dtype == np.int8
    for a, j in THRESHOLD_CASES:
        L = int(out.L[j])
        for layer in range(1, out.sizes["layer"] + 1):
            flag = int(phase.isel(alpha=a, L=j, T=0).sel(layer=layer))
            if layer >= L:
                assert flag == UNDEFINED
                continue
            q = float(q_star.isel(alpha=a, L=j, T=0).sel(layer=layer))
            s = float(sem.isel(alpha=a, L=j, T=0).sel(layer=layer))
            if abs(q - THR) <= 2.0 * s:
                assert flag == UNCERTAIN, (a, L, layer, q, s)
            else:
                assert flag == (LIQUID if q < THR else SOLID), (a, L, layer, q, s)


def test_classify_uncertain_band_scales_with_n_sigma():
    overlaps = synthetic_overlaps(4, 0.1, 7)
    narrow = classify(overlaps, threshold=THR, n_sigma=0.0).phase
    wide = classify(overlaps, threshold=THR, n_sigma=1e6).phase
    defined = narrow != UNDEFINED
    assert not (narrow == UNCERTAIN).any()  # n_sigma = 0: only an exact tie could be uncertain
    assert ((wide == UNCERTAIN) == defined).all()  # huge band: every defined layer is uncertain
    # the narrow flags are the plain threshold comparison
    q = classify(overlaps, threshold=THR).q_star
    np.testing.assert_array_equal(narrow.where(defined), xr.where(q < THR, LIQUID, SOLID).where(defined))


def test_classify_single_sample_has_no_uncertain_flag():
    overlaps = synthetic_overlaps(1, 0.0, 4)
    # put one layer exactly next to the threshold: with one sample there is still no standard error
    overlaps["q_norm"][0, 1, 0, 0, -1, -1, 2] = THR + 1e-9
    out = classify(overlaps, threshold=THR)
    assert out.q_star_sem.isnull().all()
    assert not (out.phase == UNCERTAIN).any()
    assert int(out.phase[0, 1, 0, 2]) == SOLID
    defined = out.q_star.notnull()
    np.testing.assert_array_equal(out.phase.where(defined), xr.where(out.q_star < THR, LIQUID, SOLID).where(defined))


def test_classify_flag_attributes_and_undefined():
    out = classify(synthetic_overlaps(), threshold=THR)
    attrs = out.phase.attrs
    assert list(attrs["flag_values"]) == list(FLAG_VALUES)
    meanings = attrs["flag_meanings"].split()
    assert meanings == FLAG_MEANINGS.split()
    named = dict(zip(meanings, attrs["flag_values"]))
    assert (named["undefined"], named["solid"], named["liquid"], named["uncertain"]) == (UNDEFINED, SOLID, LIQUID, UNCERTAIN)
    assert set(np.unique(out.phase.values)) <= set(FLAG_VALUES.tolist())
    # undefined exactly at layers >= L
    layer, L = out.layer, out.L
    np.testing.assert_array_equal(
        (out.phase == UNDEFINED).values, (layer >= L).broadcast_like(out.phase).transpose(*out.phase.dims).values
    )


def test_classify_depths():
    out = classify(synthetic_overlaps(3, 0.05, 5), threshold=THR)
    for a in range(2):
        for j, L in enumerate(out.L.values):
            q = out.q_star.isel(alpha=a, L=j, T=0).values[: L - 1]
            xi = float(out.xi_liquid.isel(alpha=a, L=j, T=0))
            assert xi == pytest.approx(liquid_depth(q, THR))
            assert float(out.xi_solid.isel(alpha=a, L=j, T=0)) == pytest.approx(L - xi)
    assert out.xi_solid.dims == out.xi_liquid.dims
    # constructed profiles: (alpha 0, L 3) is all solid, (alpha 0, L 6) has a liquid centre
    assert float(out.xi_liquid.isel(alpha=0, L=0, T=0)) == 0.0
    assert float(out.xi_solid.isel(alpha=0, L=0, T=0)) == 3.0
    assert float(out.xi_liquid.isel(alpha=0, L=1, T=0)) > 2.0


def test_classify_reads_t_star_at_the_chosen_t_w():
    overlaps = synthetic_overlaps(3, 0.05, 6)
    out = classify(overlaps, threshold=THR)
    assert out.attrs["classify_t_w"] == 100 and out.attrs["classify_t_star"] == 1000
    early = classify(overlaps, threshold=THR, t_w=10)
    np.testing.assert_allclose(early.q_star, overlaps.q_norm.sel(t_w=10).isel(t=-1).mean("sample"))
    assert early.attrs["classify_t_w"] == 10
    with pytest.raises(ValueError, match=r"classify.t_w: 55 .*allowed values: \[10, 100\]"):
        classify(overlaps, t_w=55)


def test_classify_threshold_changes_the_flags():
    overlaps = synthetic_overlaps(3, 0.0, 8)  # no spread: no uncertain flags
    low, high = classify(overlaps, threshold=0.01), classify(overlaps, threshold=0.99)
    defined = low.phase != UNDEFINED
    assert ((low.phase == SOLID) == defined).all()
    assert ((high.phase == LIQUID) == defined).all()
    assert low.attrs["classify_threshold"] == 0.01


# --- which overlap classifies: normalised (default) or raw ------------------------------------------


def _small_spin_overlaps(q0: float = 0.03) -> xr.Dataset:
    """One point, L = 4, 3 samples: layer 2's spins are small (|S|^2 ~ q0), identical in both replicas at
    every time, so raw q_2 = q0 from t = 0 while the normalised q_2 stays 1; layer 1 decorrelates
    (normalised 1 -> 0.05, raw 0.9 -> 0.045); layer 3 is saturated and frozen (both 0.95)."""
    times, n_sample = np.array([0, 10, 100]), 3
    norm = np.full((1, 1, 1, n_sample, 1, len(times), 4), np.nan)
    norm[..., 0] = np.array([1.0, 0.5, 0.05])
    norm[..., 1] = 1.0
    norm[..., 2] = 0.95
    raw = norm.copy()
    raw[..., 0] *= 0.9
    raw[..., 1] = q0
    data = {name: raw for name in ("q", "q_test", "c")}
    for name in ("Q", "C"):
        data[name] = np.nan_to_num(raw, nan=0.5)
        data[f"{name}_norm"] = np.nan_to_num(norm, nan=0.5)
    data["q_norm"], data["c_norm"] = norm, norm
    dims = ("alpha", "L", "T", "sample", "t_w", "t", "layer")
    coords = {
        "alpha": [0],
        "L": [4],
        "T": [1e-5],
        "sample": np.arange(n_sample),
        "t_w": [50],
        "t": times,
        "layer": np.arange(1, 5),
        "M": ("alpha", [200]),
        "N": ("alpha", [4]),
        "ln_alpha": ("alpha", [math.log(50)]),
    }
    return xr.Dataset({k: (dims, v) for k, v in data.items()}, coords=coords)


def test_small_spins_frozen_layer_is_solid_on_the_normalised_overlap():
    ds = _small_spin_overlaps()
    out = classify(ds, threshold=THR)  # default: q_norm
    flags = out.phase.isel(alpha=0, L=0, T=0).values
    assert flags[:3].tolist() == [LIQUID, SOLID, SOLID]  # layer 2 did not move: solid, whatever |S|
    assert out.attrs["classify_overlap"] == "q_norm" and out.attrs["classify_variable"] == "q_star"
    assert out.phase.attrs["variable"] == "q_star"
    # both are kept: q_star normalised, q_raw_star raw, for q, Q, c, C
    np.testing.assert_allclose(out.q_star.values[0, 0, 0, :3], [0.05, 1.0, 0.95])
    np.testing.assert_allclose(out.q_raw_star.values[0, 0, 0, :3], [0.045, 0.03, 0.95])
    for name in ("q", "Q", "c", "C"):
        assert f"{name}_star" in out and f"{name}_raw_star" in out and f"{name}_raw_star_sem" in out
    assert float(out.xi_liquid.squeeze()) < 2.0  # only layer 1 is liquid


def test_small_spins_raw_overlap_calls_the_frozen_layer_liquid():
    """The raw overlap measures the spins' size: the frozen small-spin layer is liquid already at t = 0."""
    ds = _small_spin_overlaps()
    out = classify(ds, threshold=THR, overlap="q")
    flags = out.phase.isel(alpha=0, L=0, T=0).values
    assert flags[:3].tolist() == [LIQUID, LIQUID, SOLID]
    assert float(ds.q.isel(t=0).sel(layer=2).max()) < THR  # liquid by this measure before anything moved
    assert out.attrs["classify_overlap"] == "q" and out.attrs["classify_variable"] == "q_raw_star"
    assert out.phase.attrs["variable"] == "q_raw_star"
    normalised = classify(ds, threshold=THR)
    np.testing.assert_allclose(out.q_star, normalised.q_star)  # the stored values do not depend on the choice
    np.testing.assert_allclose(out.q_raw_star, normalised.q_raw_star)


def test_classify_rejects_an_unknown_overlap():
    with pytest.raises(ValueError, match=r"classify.overlap: got 'Q'; allowed values: q_norm, q"):
        classify(_small_spin_overlaps(), overlap="Q")


def test_classify_command_records_the_overlap(tmp_path):
    """`tdlm classify --overlap`: the file says which overlap labelled it; the default is the normalised one."""
    from tdlm import cli

    src = tmp_path / "overlaps.nc"
    _small_spin_overlaps().to_netcdf(src, engine="netcdf4")
    for flag, overlap, expected in (([], "q_norm", SOLID), (["--overlap", "q"], "q", LIQUID)):
        out = tmp_path / f"phase_{overlap}.nc"
        assert cli.main(["classify", str(src), "--out", str(out), *flag]) == 0
        phase = xr.load_dataset(out, engine="netcdf4")
        assert phase.attrs["classify_overlap"] == overlap
        assert int(phase.phase.isel(alpha=0, L=0, T=0).sel(layer=2)) == expected


def test_classify_reports_the_tanh_networks_test_overlap_where_gathered():
    """q_test_tanh_star (mean over samples at t* of the largest t_w) where overlaps.nc has q_test_tanh; an
    overlaps.nc gathered before the variable existed classifies as before, without it."""
    ds = synthetic_overlaps(n_sample=4, seed=3)
    assert "q_test_tanh_star" not in classify(ds)
    ds["q_test_tanh"] = ds.q_test * 0.5
    out = classify(ds)
    want = (ds.q_test_tanh.sel(t_w=int(ds.t_w.max())).isel(t=-1).mean("sample")).transpose(*out.q_test_tanh_star.dims)
    np.testing.assert_allclose(out.q_test_tanh_star, want)
    assert out.q_test_tanh_star_sem.notnull().any()
