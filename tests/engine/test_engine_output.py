"""The netCDF file of a job: variables, dimensions, attributes, and observables checked against
independent recomputation from the stored final configurations and the spec's definitions (section 6)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import tdlm
from tdlm.md import noise
from tdlm.md.params import FIELDS, build
from tdlm.md.setup import log_grid

BRANCH_VARS = ("energy", "kinetic_temperature", "accuracy", "c", "C", "q", "Q", "c_norm", "C_norm", "q_norm", "Q_norm")
SPIN_VARS = ("c", "c_norm", "q", "q_norm")
WEIGHT_VARS = ("C", "C_norm", "Q", "Q_norm")


@pytest.fixture(scope="module")
def out(tiny_run):
    import xarray as xr

    params, path = tiny_run
    return params, xr.load_dataset(path, engine="netcdf4")


def test_variables_and_dimensions(out):
    params, ds = out
    for name in BRANCH_VARS:
        assert name in ds.data_vars, name
        assert {"sample", "t_w", "t"} <= set(ds[name].dims), name
    for name in SPIN_VARS + WEIGHT_VARS + ("energy_layer",):
        assert "layer" in ds[name].dims
    assert ds["q"].sizes["pair"] == params.n_replicas * (params.n_replicas - 1) // 2
    assert ds["c"].sizes["replica"] == params.n_replicas
    np.testing.assert_array_equal(ds["layer"].values, np.arange(1, params.L + 1))
    np.testing.assert_array_equal(ds["t_w"].values, sorted(params.t_w))
    np.testing.assert_array_equal(ds["sample"].values, params.samples)
    assert ds["t"].attrs.get("long_name") and ds["t"].attrs.get("units") is not None
    for name in BRANCH_VARS:
        assert ds[name].attrs.get("long_name"), name
    pairs = list(zip(ds["pair_a"].values, ds["pair_b"].values))
    assert pairs == [(a, b) for a in range(params.n_replicas) for b in range(a + 1, params.n_replicas)]


def test_time_grids_are_logarithmic(out):
    params, ds = out
    time = ds["t"].values
    assert time[0] == 0 and time[-1] == params.t_star and np.all(np.diff(time) > 0)
    np.testing.assert_array_equal(time, log_grid(params.t_star, params.record_per_decade))
    ratio = time[2:] / time[1:-1]
    big = time[1:-1] >= 10  # past the integer-rounding region the spacing is geometric
    assert np.all(ratio[big] <= 10 ** (1 / params.record_per_decade) * 1.1 + 0.1)
    decades = math.log10(params.t_star)
    assert len(time) >= decades * params.record_per_decade * 0.5
    hist = ds["history_time"].values
    assert hist[0] == 0 and hist[-1] == max(params.t_w) and set(params.t_w) <= set(hist.tolist())


def test_spin_variables_are_nan_only_at_layer_L(out):
    params, ds = out
    for name in SPIN_VARS + ("q_test", "q_test_tanh"):
        top = ds[name].sel(layer=params.L)
        rest = ds[name].sel(layer=slice(1, params.L - 1))
        assert bool(top.isnull().all()), name
        assert bool(np.isfinite(rest.values).all()), name
    for name in WEIGHT_VARS + ("energy_layer", "energy", "kinetic_temperature", "accuracy"):
        assert bool(np.isfinite(ds[name].values).all()), name


def test_attributes_hold_every_parameter(out):
    params, ds = out
    a = ds.attrs
    assert a["Conventions"] == "CF-1.11"
    assert a["tdlm_version"] == tdlm.__version__
    assert a["device"] == "cpu"
    flat = json.loads(a["params_json"])
    assert flat == params.flat()
    assert build(flat) == params, "params_json must round-trip to the job's parameters"
    for f in FIELDS:
        key = "param_" + f.name.replace(".", "_")
        assert key in a, key
    assert a["param_dtype"] == params.dtype == "float32"
    assert ds["energy"].dtype == np.float32 and ds["J_final"].dtype == np.float32
    for key in ("data_seeds", "init_seeds", "noise_seed"):
        assert key in a, key
    assert str(noise.NOISE_CHUNK) in a["noise"], "the noise streams' size is part of the provenance"
    assert np.size(a["data_seeds"]) == len(params.samples) == np.size(a["init_seeds"])
    assert a["param_thermostat"] == params.thermostat
    np.testing.assert_array_equal(np.atleast_1d(a["param_t_w"]), params.t_w)


def test_attributes_say_what_computed_the_file(out):
    """The device actually used (type, model, compute capability), whether TF32 was in effect, whether a
    CUDA graph replayed the steps, the torch/CUDA versions, and every device of the trajectory."""
    import torch

    from tdlm.device import cpu_model

    _, ds = out
    a = ds.attrs
    assert (a["device"], a["device_name"], a["device_capability"]) == ("cpu", cpu_model(), "none")
    assert a["tf32"] == "false" and a["cuda_graph_replayed"] == "false"
    assert a["torch_version"] == torch.__version__ and a["cuda_version"] == (torch.version.cuda or "none")
    assert "cudnn_version" in a
    assert json.loads(a["devices_json"]) == [{"device": "cpu", "device_name": cpu_model(), "device_capability": "none"}]


def test_time_zero_overlaps(out):
    """At t = 0 every replica sits on the snapshot: normalised overlaps are 1, q = c and Q = C per branch."""
    params, ds = out
    t0 = ds.sel(t=0)
    spin_layers = slice(1, params.L - 1)
    for name in ("c_norm", "q_norm"):
        np.testing.assert_allclose(t0[name].sel(layer=spin_layers).values, 1.0, rtol=1e-5)
    for name in ("C_norm", "Q_norm"):
        np.testing.assert_allclose(t0[name].values, 1.0, rtol=1e-5)
    # raw self-overlap: the same value for all replicas of a branch, and the pair overlap equals it
    for auto, pair in (("c", "q"), ("C", "Q")):
        layers = spin_layers if auto == "c" else slice(None)
        per_replica = t0[auto].sel(layer=layers).transpose("sample", "t_w", "replica", "layer").values
        ref = per_replica[:, :, :1, :]
        np.testing.assert_allclose(per_replica, np.broadcast_to(ref, per_replica.shape), rtol=1e-6)
        per_pair = t0[pair].sel(layer=layers).transpose("sample", "t_w", "pair", "layer").values
        np.testing.assert_allclose(per_pair, np.broadcast_to(ref, per_pair.shape), rtol=1e-5)
        # coordinates lie in (-1, 1), so a mean square is in (0, 1)
        assert np.all((per_replica > 0) & (per_replica < 1))
    # identical replicas: the sign networks' hidden states on the test inputs coincide, q_test = mean h^2 = 1
    np.testing.assert_array_equal(t0["q_test"].sel(layer=spin_layers).values, 1.0)
    np.testing.assert_allclose(t0["q_test_tanh"].sel(layer=spin_layers).values, 1.0, rtol=1e-5)
    for name in ("accuracy", "accuracy_tanh"):
        acc = t0[name].transpose("sample", "t_w", "replica").values
        np.testing.assert_array_equal(acc, np.broadcast_to(acc[:, :, :1], acc.shape))
    # the energy at t = 0 of a branch is the trajectory's energy at t_w
    for t_w in params.t_w:
        hist = ds["history_energy_layer"].sel(history_time=t_w).values  # (sample, layer)
        branch = t0["energy_layer"].sel(t_w=t_w).values  # (sample, replica, layer)
        np.testing.assert_allclose(branch, np.broadcast_to(hist[:, None, :], branch.shape), rtol=1e-5)
    # fresh Maxwell-Boltzmann velocities at branching: <v^2> = T up to sampling noise
    n_coords = ds.sizes["weight_index"] + ds.sizes["spin_index"]
    kin = t0["kinetic_temperature"].values
    assert abs(kin.mean() / params.T - 1) < 5 * math.sqrt(2 / (n_coords * kin.size))
    np.testing.assert_allclose(ds["energy"].values, ds["energy_layer"].sum("layer").values, rtol=1e-6)


def _digits_data(ds, params):
    """Training and test sets rebuilt from the spec: sklearn digits of the classes, pixel > 8 -> +1, one-hot +/-1."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.isin(d.target, params.data.classes)
    images, labels = d.data[keep], d.target[keep]
    x = np.where(images > 8.0, 1.0, -1.0)
    y = np.where(labels[:, None] == np.asarray(params.data.classes)[None, :], 1.0, -1.0)
    s = 0
    tr, te = ds["train_index"].values[s], ds["test_index"].values[s]
    return x[tr], y[tr], x[te], y[te]


def _final_config(ds, params, t_w_i, r):
    """Per-layer J_l (N_l, N_{l-1}) and S_l (M, N_l) of one replica from the flattened snapshots (sample 0)."""
    widths = [int(w) for w in np.atleast_1d(ds.attrs["widths"])]
    jf = ds["J_final"].values[0, t_w_i, r].astype(np.float64)
    sf = ds["S_final"].values[0, t_w_i, r].astype(np.float64)
    wl, sl = ds["weight_layer"].values, ds["spin_layer"].values
    J = [jf[wl == l].reshape(widths[l], widths[l - 1]) for l in range(1, params.L + 1)]
    S = [sf[sl == l].reshape(params.M, widths[l]) for l in range(1, params.L)]
    return J, S


def test_final_snapshot_reproduces_last_observables(out):
    """At t = t*, energy, overlaps and accuracy recomputed here from J_final/S_final and the data match the file."""
    params, ds = out
    x, y, x_test, y_test = _digits_data(ds, params)
    assert x.shape == (params.M, ds.attrs["widths"][0])
    last = ds.sel(t=params.t_star).isel(sample=0)
    R = params.n_replicas
    for i in range(len(params.t_w)):
        configs = [_final_config(ds, params, i, r) for r in range(R)]
        for r, (J, S) in enumerate(configs):
            # energy: E_l = || S_l - tanh(S_{l-1} J_l^T) ||
            below, energies = x, []
            for l in range(1, params.L + 1):
                target = S[l - 1] if l < params.L else y
                energies.append(np.sqrt(np.sum((target - np.tanh(below @ J[l - 1].T)) ** 2)))
                below = S[l - 1] if l < params.L else None
            np.testing.assert_allclose(last["energy_layer"].values[i, r], energies, rtol=2e-4)
            # sign-network and tanh-network test accuracy (argmax of the output pre-activation)
            for name, act in (("accuracy", lambda a: np.where(a >= 0, 1.0, -1.0)), ("accuracy_tanh", np.tanh)):
                h = x_test
                for l in range(1, params.L):
                    h = act(h @ J[l - 1].T)
                acc = np.mean(np.argmax(h @ J[-1].T, axis=1) == np.argmax(y_test, axis=1))
                assert abs(last[name].values[i, r] - acc) <= 1.5 / len(y_test), name
        # replica overlaps of the final configurations
        for p, (a, b) in enumerate(zip(ds["pair_a"].values, ds["pair_b"].values)):
            (Ja, Sa), (Jb, Sb) = configs[a], configs[b]
            for l in range(1, params.L + 1):
                Q = np.sum(Ja[l - 1] * Jb[l - 1]) / Ja[l - 1].size
                Qn = np.sum(Ja[l - 1] * Jb[l - 1]) / np.sqrt(np.sum(Ja[l - 1] ** 2) * np.sum(Jb[l - 1] ** 2))
                np.testing.assert_allclose(last["Q"].values[i, p, l - 1], Q, rtol=1e-4, atol=1e-6)
                np.testing.assert_allclose(last["Q_norm"].values[i, p, l - 1], Qn, rtol=1e-4, atol=1e-6)
            for l in range(1, params.L):
                q = np.sum(Sa[l - 1] * Sb[l - 1]) / (params.M * Sa[l - 1].shape[1])
                np.testing.assert_allclose(last["q"].values[i, p, l - 1], q, rtol=1e-4, atol=1e-6)
            # the tanh networks' hidden states on the test inputs, normalised overlap
            ha, hb = x_test, x_test
            for l in range(1, params.L):
                ha, hb = np.tanh(ha @ Ja[l - 1].T), np.tanh(hb @ Jb[l - 1].T)
                qt = np.sum(ha * hb) / np.sqrt(np.sum(ha**2) * np.sum(hb**2))
                np.testing.assert_allclose(last["q_test_tanh"].values[i, p, l - 1], qt, rtol=1e-4, atol=1e-6)
        # auto-correlations: c(t*) = c_norm(t*) |S(t*)| |S(t_w)| / n with |S(t_w)|^2 = n c(0)
        first = ds.sel(t=0).isel(sample=0)
        for r, (J, S) in enumerate(configs):
            for l in range(1, params.L + 1):
                n = J[l - 1].size
                pred = (
                    last["C_norm"].values[i, r, l - 1]
                    * np.linalg.norm(J[l - 1])
                    * math.sqrt(n * first["C"].values[i, r, l - 1])
                    / n
                )
                np.testing.assert_allclose(last["C"].values[i, r, l - 1], pred, rtol=1e-4, atol=1e-6)
            for l in range(1, params.L):
                n = S[l - 1].size
                pred = (
                    last["c_norm"].values[i, r, l - 1]
                    * np.linalg.norm(S[l - 1])
                    * math.sqrt(n * first["c"].values[i, r, l - 1])
                    / n
                )
                np.testing.assert_allclose(last["c"].values[i, r, l - 1], pred, rtol=1e-4, atol=1e-6)


def test_branch_at_t_w_zero_sees_the_uniform_initial_state(tiny, tmp_path, load_nc):
    """t_w = 0 branches from the initial state, uniform in (-1, 1): c_l(0) and C_l(0) are mean squares of
    uniform variables, 1/3 up to sampling noise (variance of x^2 is 4/45)."""
    from tdlm.md.simulate import run

    params = build({**tiny, "t_w": [0, 5], "t_star": 10})
    run(params, tmp_path / "tw0.nc")
    ds = load_nc(tmp_path / "tw0.nc")
    t0 = ds.sel(t_w=0, t=0).isel(sample=0, replica=0)
    widths = [int(w) for w in np.atleast_1d(ds.attrs["widths"])]
    for l in range(1, params.L + 1):
        n = widths[l] * widths[l - 1]
        assert abs(float(t0["C"].sel(layer=l)) - 1 / 3) < 5 * math.sqrt(4 / 45 / n), l
    for l in range(1, params.L):
        n = widths[l] * params.M
        assert abs(float(t0["c"].sel(layer=l)) - 1 / 3) < 5 * math.sqrt(4 / 45 / n), l
    np.testing.assert_allclose(
        ds["energy_layer"].sel(t_w=0, t=0).isel(sample=0).values,
        np.broadcast_to(ds["history_energy_layer"].sel(history_time=0).isel(sample=0).values, (params.n_replicas, params.L)),
        rtol=1e-5,
    )


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    """storage.write_atomic: an error while writing leaves neither a partial file nor a temporary behind."""
    import xarray as xr

    from tdlm.storage import with_cf, write_atomic

    out = tmp_path / "job.nc"
    good = xr.Dataset({"a": ("x", np.arange(3.0))})
    write_atomic(good, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.nc"]
    bad = xr.Dataset({"a": ("x", np.arange(3.0))}, attrs={"unserialisable": {"nested": 1}})
    with pytest.raises(TypeError):
        write_atomic(bad, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.nc"]
    xr.testing.assert_identical(xr.load_dataset(out), with_cf(good.copy()))  # as written: with its CF units
    (tmp_path / "new").mkdir()
    with pytest.raises(TypeError):
        write_atomic(bad, tmp_path / "new" / "x.nc")
    assert list((tmp_path / "new").iterdir()) == []
