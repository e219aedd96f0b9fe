"""tdlm.sweep.gather: per-job files -> point files -> one dense sweep dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from tdlm.files import FileError
from tdlm.md.params import LATER_FIELDS
from tdlm.sweep.gather import HISTORY_VARS, PAIR_VARS, REPLICA_VARS, gather_point, gather_sweep

ALL_VARS = set(REPLICA_VARS) | set(PAIR_VARS) | set(HISTORY_VARS)


def test_gather_point_concatenates_samples_and_reduces_replicas(job_factory, tmp_path):
    # job files given out of order, with uneven sample groups (as samples_per_job = 2 with 5 samples)
    jobs = [job_factory(f"job~{j}.nc", samples=s) for j, s in [(2, (4,)), (0, (0, 1)), (1, (2, 3))]]
    written = gather_point([p for p, _ in jobs], tmp_path / "point.nc")
    # the point's physical coordinates, along length-1 point dimensions
    assert {d: written.sizes[d] for d in ("alpha", "L", "T")} == {"alpha": 1, "L": 1, "T": 1}
    assert (written.alpha.item(), written.M.item(), written.N.item(), written.L.item()) == (5.0, 20, 4, 3)
    assert written.ln_alpha.item() == pytest.approx(np.log(5.0)) and written.T.item() == pytest.approx(1e-5)
    ds = written.isel(alpha=0, L=0, T=0)
    assert ds.sample.values.tolist() == [0, 1, 2, 3, 4]
    assert set(ds.data_vars) == ALL_VARS
    assert "replica" not in ds.dims and "pair" not in ds.dims
    L = 3
    assert ds.sizes["layer"] == L
    for name in REPLICA_VARS + PAIR_VARS:
        assert ds[name].dims[0] == "sample"
    # values: replica means and pair means of the right job, sample by sample
    by_sample = {}
    for path, arrays in jobs:
        with xr.open_dataset(path) as job:
            for i, s in enumerate(job.sample.values):
                by_sample[int(s)] = (job.isel(sample=i).load(), arrays, i)
    for s, (job, arrays, i) in by_sample.items():
        np.testing.assert_allclose(ds.q.sel(sample=s), job.q.mean("pair"))
        np.testing.assert_allclose(ds.c.sel(sample=s), job.c.mean("replica"))
        np.testing.assert_allclose(ds.C.sel(sample=s), arrays["C"][i].mean(axis=2))
        np.testing.assert_allclose(ds.Q.sel(sample=s), arrays["Q"][i].mean(axis=2))
        np.testing.assert_allclose(ds.energy.sel(sample=s), arrays["energy_layer"][i].sum(axis=-1).mean(axis=2))
        np.testing.assert_allclose(ds.history_accuracy.sel(sample=s), arrays["history_accuracy"][i])
    # the label layer stays NaN for spin observables, weights are defined there
    assert ds.q.sel(layer=L).isnull().all() and ds.C.sel(layer=L).notnull().all()
    # provenance: point and shared parameters, no per-job keys; one entry per job
    params = json.loads(ds.attrs["params_json"])
    assert (params["M"], params["N"], params["L"]) == (20, 4, 3)
    assert "samples" not in params and "checkpoint_path" not in params
    assert ds.attrs["ln_alpha"] == pytest.approx(np.log(20 / 4))
    sources = json.loads(ds.attrs["jobs_json"])
    assert sorted(tuple(s["samples"]) for s in sources) == [(0, 1), (2, 3), (4,)]
    # written atomically to the final name and readable
    on_disk = xr.load_dataset(tmp_path / "point.nc")
    xr.testing.assert_allclose(on_disk.drop_attrs(), written.drop_attrs())
    with xr.open_dataset(jobs[0][0]) as job:
        assert on_disk.q.dtype == job.q.dtype  # the jobs' precision is kept
    assert not list(tmp_path.glob(".*tmp*"))


def test_gather_point_rejects_duplicate_samples(job_factory, tmp_path):
    a, _ = job_factory("job~0.nc", samples=(0, 1))
    b, _ = job_factory("job~1.nc", samples=(1, 2))
    with pytest.raises(ValueError, match="duplicate samples"):
        gather_point([a, b], tmp_path / "point.nc")
    assert not (tmp_path / "point.nc").exists()


@pytest.mark.parametrize(
    "other",
    [
        {"eta": 0.002},  # shared simulate parameter
        {"t_w": (10, 20)},  # shared list parameter (also changes a dimension)
        {"seed": 3},
        {"L": 4},  # point key
        {"N": 2},
    ],
)
def test_gather_point_rejects_mismatched_parameters(job_factory, tmp_path, other):
    a, _ = job_factory("job~0.nc", samples=(0,))
    b, _ = job_factory("job~1.nc", samples=(1,), **other)
    with pytest.raises(ValueError, match="parameters differ"):
        gather_point([a, b], tmp_path / "point.nc")


def test_gather_point_ignores_per_job_keys(job_factory, tmp_path):
    # different checkpoint paths and samples are per job, not a mismatch
    a, _ = job_factory("job~0.nc", samples=(0,), checkpoint_path="a.ckpt", checkpoint_steps=10)
    b, _ = job_factory("job~1.nc", samples=(1,), checkpoint_path="b.ckpt", checkpoint_steps=10)
    assert gather_point([a, b], tmp_path / "point.nc").sizes["sample"] == 2


def test_gather_point_needs_files(tmp_path):
    with pytest.raises(ValueError, match="no job files"):
        gather_point([], tmp_path / "point.nc")


def _points(job_factory, tmp_path, spec):
    """One point file per (M, N, L, samples) of spec; returns the point paths."""
    paths = []
    for M, N, L, samples in spec:
        jobs = [job_factory(f"M{M}N{N}L{L}s{s}.nc", M=M, N=N, L=L, samples=(s,))[0] for s in samples]
        path = tmp_path / f"point_M{M}_N{N}_L{L}.nc"
        gather_point(jobs, path)
        paths.append(path)
    return paths


def test_gather_sweep_outer_join_over_layers(job_factory, tmp_path):
    # three of the four (alpha, L) points; L differs; one point has fewer samples
    spec = [(20, 4, 2, (0, 1)), (20, 4, 4, (0, 1)), (20, 2, 4, (0,))]
    points = _points(job_factory, tmp_path, spec)
    ds = gather_sweep(reversed(points), tmp_path / "overlaps.nc")
    assert ds.L.values.tolist() == [2, 4]
    assert ds.sizes["layer"] == 4 and ds.layer.values.tolist() == [1, 2, 3, 4]
    assert ds.sizes["sample"] == 2
    # alpha ordered by ln alpha: M/N = 5 before 10
    assert ds.M.values.tolist() == [20, 20] and ds.N.values.tolist() == [4, 2]
    np.testing.assert_allclose(ds.ln_alpha, np.log([5.0, 10.0]))
    for name in ALL_VARS:
        assert ds[name].dims[:3] == ("alpha", "L", "T")
    # every observable with a layer dimension is present (the per-layer observables of the model spec)
    assert {n for n in ds.data_vars if "layer" in ds[n].dims} >= {
        "c",
        "c_norm",
        "C",
        "C_norm",
        "q",
        "q_norm",
        "Q",
        "Q_norm",
        "q_test",
        "energy_layer",
    }
    for M, N, L, samples in spec:
        a = int(np.flatnonzero(ds.N.values == N)[0])
        point = xr.load_dataset(tmp_path / f"point_M{M}_N{N}_L{L}.nc").isel(alpha=0, L=0, T=0)
        cell = ds.isel(alpha=a, T=0).sel(L=L)
        # values copied into the first L layers and the point's samples
        np.testing.assert_allclose(cell.C.isel(sample=slice(0, len(samples)), layer=slice(0, L)), point.C.transpose(*cell.C.dims))
        # NaN beyond the point's L, and for samples it does not have
        assert cell.C.sel(layer=slice(L + 1, None)).isnull().all()
        assert cell.C.isel(sample=slice(len(samples), None)).isnull().all()
        assert cell.q.sel(layer=L).isnull().all()  # spin overlaps undefined at l = L
    # the missing point (N=2, L=2) is all NaN
    assert ds.C.isel(alpha=1, T=0).sel(L=2).isnull().all()
    reread = xr.load_dataset(tmp_path / "overlaps.nc")
    assert reread.attrs["points"] == 3
    assert set(json.loads(reread.attrs["point_files_json"])) == {str(p) for p in points}


def test_gather_sweep_rejects_mismatched_shared_parameters(job_factory, tmp_path):
    a, b = tmp_path / "pa.nc", tmp_path / "pb.nc"
    gather_point([job_factory("a.nc", L=2)[0]], a)
    gather_point([job_factory("b.nc", L=4, eta=0.005)[0]], b)
    with pytest.raises(ValueError, match="shared parameters differ"):
        gather_sweep([a, b], tmp_path / "overlaps.nc")
    assert not (tmp_path / "overlaps.nc").exists()


def test_gather_sweep_needs_files(tmp_path):
    with pytest.raises(ValueError, match="no point files"):
        gather_sweep([], tmp_path / "overlaps.nc")


@pytest.mark.slow
def test_gather_real_simulate_outputs(tmp_path):
    """The same chain on two real (very short) simulate jobs of different depth."""
    from tdlm.md.params import build
    from tdlm.md.simulate import run

    points = []
    for L in (2, 3):
        jobs = []
        for s in (0, 1):
            params = build(
                {
                    "M": 20,
                    "N": 4,
                    "L": L,
                    "samples": [s],
                    "t_w": [5],
                    "t_star": 20,
                    "n_replicas": 2,
                    "device": "cpu",
                    "n_test": 20,
                    "record_per_decade": 2,
                    "store_spins": False,
                }
            )
            run(params, tmp_path / f"L{L}_job{s}.nc")
            jobs.append(tmp_path / f"L{L}_job{s}.nc")
        gather_point(jobs, tmp_path / f"point_L{L}.nc")
        points.append(tmp_path / f"point_L{L}.nc")
    ds = gather_sweep(points, tmp_path / "overlaps.nc")
    assert dict(ds.sizes)["layer"] == 3 and ds.sizes["sample"] == 2
    assert ds.q.dtype == np.float32 and ds.q.encoding["zlib"]  # the jobs computed float32; compressed
    assert ds.q.sel(L=2).sel(layer=1).notnull().all()
    assert ds.q.sel(L=2).sel(layer=slice(2, None)).isnull().all()
    assert ds.C.sel(L=2).sel(layer=2).notnull().all() and ds.C.sel(L=2).sel(layer=3).isnull().all()
    assert ds.q.sel(L=3).sel(layer=slice(1, 2)).notnull().all()
    # coordinates live in (-1, 1): raw overlaps are at most 1 in magnitude; at t = 0, right after
    # branching, the replicas coincide, so the normalised overlaps are exactly 1
    assert (np.abs(ds.q.sel(layer=1)) <= 1 + 1e-6).all()
    np.testing.assert_allclose(ds.q_norm.sel(L=3).sel(layer=[1, 2]).isel(t=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(ds.Q_norm.sel(L=3).isel(t=0), 1.0, atol=1e-5)


def test_point_files_combine_with_open_mfdataset_and_select_by_physics(job_factory, tmp_path):
    # a full 2 x 2 grid of (alpha, L), two samples each: the point files alone make the sweep
    spec = [(20, N, L, (0, 1)) for N in (4, 2) for L in (2, 4)]
    points = _points(job_factory, tmp_path, spec)
    sweep = gather_sweep(points, tmp_path / "overlaps.nc").load()
    with xr.open_mfdataset(points, engine="netcdf4", combine="by_coords", join="outer", data_vars="minimal") as combined:
        combined = combined.load()
    assert {d: combined.sizes[d] for d in ("alpha", "L", "T", "layer")} == {"alpha": 2, "L": 2, "T": 1, "layer": 4}
    for name in ALL_VARS:
        xr.testing.assert_allclose(combined[name].transpose(*sweep[name].dims), sweep[name])
    for name in ("M", "N", "ln_alpha"):
        np.testing.assert_array_equal(combined[name].values, sweep[name].values)
    # the sweep file is selected by physics: alpha = M / N, ln alpha (nearest), L, T
    np.testing.assert_array_equal(sweep.alpha.values, [5.0, 10.0])
    one = sweep.sel(alpha=10.0, L=4).sel(T=1e-5, method="nearest")
    with xr.open_dataset(tmp_path / "point_M20_N2_L4.nc") as point:
        np.testing.assert_allclose(one.C.transpose(*point.C.dims[3:]), point.C.isel(alpha=0, L=0, T=0))
    assert sweep.set_xindex("ln_alpha").sel(ln_alpha=2.2, method="nearest").N.item() == 2
    # CF: long names and units on every coordinate, kept through gather, no _FillValue on coordinates
    with xr.open_dataset(tmp_path / "overlaps.nc", decode_cf=False) as raw:
        for name in raw.coords:
            assert raw[name].attrs.get("long_name") and raw[name].attrs.get("units"), name
            assert "_FillValue" not in raw[name].attrs, name
        assert raw["t"].attrs["long_name"] == "MD steps since t_w"
        assert len(raw.attrs["history"].splitlines()) == 3  # job, point, sweep


def test_job_and_point_files_from_before_a_variable_gather_with_newer_ones(job_factory, tmp_path):
    """q_test_tanh came later than the other variables: an old job file gathers with a new one (NaN where it
    was not recorded, saying so), and a point file gathered before it existed joins a sweep with newer points."""
    old, _ = job_factory("job~0.nc", samples=(0,), without=("q_test_tanh",))
    new, arrays = job_factory("job~1.nc", samples=(1,))
    point = gather_point([old, new], tmp_path / "point_N4.nc").isel(alpha=0, L=0, T=0)
    assert point.q_test_tanh.sel(sample=0).isnull().all()
    np.testing.assert_allclose(point.q_test_tanh.sel(sample=1), arrays["q_test_tanh"][0].mean(axis=2))
    alone = gather_point([old], tmp_path / "alone.nc")
    assert "predates" in alone.q_test_tanh.attrs["comment"]
    # a point file of the older gather lacks the variable altogether; the sweep keeps it from the newer point
    other, _ = job_factory("other~0.nc", N=2, samples=(0,))
    gather_point([other], tmp_path / "point_N2.nc")
    legacy = tmp_path / "point_N4_legacy.nc"
    xr.load_dataset(tmp_path / "point_N4.nc").drop_vars("q_test_tanh").to_netcdf(legacy)
    ds = gather_sweep([legacy, tmp_path / "point_N2.nc"], tmp_path / "overlaps.nc").load()
    assert "q_test_tanh" in ds
    assert ds.q_test_tanh.isel(alpha=int(np.flatnonzero(ds.N.values == 4)[0])).isnull().all()
    assert ds.q_test_tanh.isel(alpha=int(np.flatnonzero(ds.N.values == 2)[0]), sample=0).sel(layer=slice(1, 2)).notnull().all()


def _predating(path, fields=LATER_FIELDS):
    """Rewrite a job or point file as the code before `fields` existed wrote it: params_json without them."""
    ds = xr.load_dataset(path)
    params = json.loads(ds.attrs["params_json"])
    ds.attrs["params_json"] = json.dumps({k: v for k, v in params.items() if k not in fields})
    ds.to_netcdf(path)


def test_files_from_before_a_parameter_gather_as_its_default(job_factory, tmp_path):
    """A job or point file written before `preactivation` and `init_velocities` existed ran with their defaults:
    it gathers with newer files of the default, and not with one of another value."""
    old, _ = job_factory("job~0.nc", samples=(0,))
    _predating(old)
    new, _ = job_factory("job~1.nc", samples=(1,))
    point = gather_point([old, new], tmp_path / "point_N4.nc")
    assert point.sizes["sample"] == 2
    fan_in, _ = job_factory("job~2.nc", samples=(2,), preactivation="fan_in")
    with pytest.raises(ValueError, match="parameters differ"):
        gather_point([old, fan_in], tmp_path / "mixed.nc")
    # the same for point files: an older point joins a newer one in the sweep
    other, _ = job_factory("other~0.nc", N=2, samples=(0,))
    gather_point([other], tmp_path / "point_N2.nc")
    _predating(tmp_path / "point_N2.nc")
    ds = gather_sweep([tmp_path / "point_N4.nc", tmp_path / "point_N2.nc"], tmp_path / "overlaps.nc")
    assert sorted(ds.N.values.tolist()) == [2, 4]
    assert json.loads(ds.attrs["params_json"])["preactivation"] == "plain"


def test_a_job_file_lacking_a_variable_that_is_not_later_is_refused_by_name(job_factory, tmp_path):
    """Only variables added later (`Variable.later`) may be missing; a file without `q` is no job file of this code."""
    broken, _ = job_factory("job~0.nc", samples=(0,), without=("q",))
    with pytest.raises(FileError, match=r"job~0\.nc lacks the variables q\b"):
        gather_point([broken], tmp_path / "point.nc")
    assert not (tmp_path / "point.nc").exists()
