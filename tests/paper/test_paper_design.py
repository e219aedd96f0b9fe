"""Design-space analysis: overlap matrices, P(Q), complete-linkage clustering, layer choice, design_space.nc."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy.cluster.hierarchy import dendrogram, fcluster

from tdlm.paper.design import choose_layers, cluster, design_space, histogram, overlap_matrix
from tdlm.paper.select import Point
from tdlm.sweep.classify import LIQUID, SOLID, UNCERTAIN


def planted(n_per: int = 6, within: float = 0.8, between: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy two-block overlap matrix in shuffled order, and the planted block of each configuration."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n_per)
    q = np.where(labels[:, None] == labels[None, :], within, between) + 0.02 * rng.standard_normal((2 * n_per,) * 2)
    q = 0.5 * (q + q.T)
    np.fill_diagonal(q, 1.0)
    perm = rng.permutation(2 * n_per)
    return q[np.ix_(perm, perm)], labels[perm]


def test_overlap_matrix_is_the_mean_product():
    x = np.array([[1.0, -1.0, 0.5, 0.0], [0.5, 0.5, -1.0, 1.0]])
    q = overlap_matrix(x)
    assert q[0, 1] == pytest.approx((0.5 - 0.5 - 0.5 + 0.0) / 4)
    assert q[0, 0] == pytest.approx((1 + 1 + 0.25) / 4)
    np.testing.assert_allclose(q, q.T)


def test_planted_two_clusters_are_recovered():
    q, labels = planted()
    z, order = cluster(q)
    found = fcluster(z, 2, criterion="maxclust")
    # same partition up to the naming of the clusters
    assert len({(a, b) for a, b in zip(labels, found)}) == 2
    # the leaf order puts each cluster in one contiguous block, so the reordered matrix is block-diagonal
    blocks = labels[order]
    assert np.count_nonzero(np.diff(blocks)) == 1
    reordered = q[np.ix_(order, order)]
    n = len(q) // 2
    assert reordered[:n, :n].mean() > 0.7 and reordered[:n, n:].mean() < 0.2
    # the top merge is at the inter-cluster distance 1 - 0.1 (complete linkage: the largest)
    assert z[-1, 2] == pytest.approx(0.9, abs=0.1)
    # the dendrogram scipy draws has the stored leaf order
    assert dendrogram(z, no_plot=True)["leaves"] == order.tolist()


def test_histogram_splits_pairs_by_sample_and_normalises():
    q, labels = planted(n_per=5)
    h = histogram(q, labels, bins=30)
    width = np.diff(h["edges"])
    assert (h["P"] * width).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(h["P_intra"] + h["P_inter"], h["P"])
    # 2 x C(5, 2) = 20 intra-sample pairs of 45
    assert (h["P_intra"] * width).sum() == pytest.approx(20 / 45)
    centres = 0.5 * (h["edges"][1:] + h["edges"][:-1])
    assert centres[h["P_intra"] > 0].min() > 0.6 and centres[h["P_inter"] > 0].max() < 0.3


def _phase(q_star: list[float], flags: list[int], L: int) -> xr.Dataset:
    layer = np.arange(1, L + 1)
    pad = lambda v, fill: np.array(list(v) + [fill] * (L - len(v)))[None, None, None, :]  # noqa: E731
    return xr.Dataset(
        {
            "q_star": (("alpha", "L", "T", "layer"), pad(q_star, np.nan)),
            "phase": (("alpha", "L", "T", "layer"), pad(flags, -1).astype(np.int8)),
        },
        coords={"alpha": [0], "L": [L], "T": [1e-5], "layer": layer, "M": ("alpha", [20]), "N": ("alpha", [4])},
    )


def test_layers_chosen_from_phase():
    point = Point(20, 4, 5, 1e-5)
    phase = _phase([0.9, 0.1, 0.05, 0.7], [SOLID, LIQUID, LIQUID, SOLID], 5)
    assert [(r, l) for r, l, _ in choose_layers(phase, point)] == [("liquid", 3), ("solid", 1)]
    # no liquid layer: the lowest q* stands in, and the note says so
    phase = _phase([0.9, 0.5, 0.38, 0.7], [SOLID, SOLID, UNCERTAIN, SOLID], 5)
    (role, layer, note), _ = choose_layers(phase, point)
    assert (role, layer) == ("liquid", 3) and "no layer classified liquid" in note


def _job_file(path, samples: list[int], R: int, rng: np.random.Generator, spins: bool) -> None:
    """A per-job file with the snapshot variables and provenance that design_space reads."""
    widths = [3, 4, 4, 2]  # L = 3
    weight_layer = np.concatenate([np.full(a * b, l) for l, (a, b) in enumerate(zip(widths[:-1], widths[1:]), 1)])
    spin_layer = np.concatenate([np.full(5 * widths[l], l) for l in (1, 2)])
    t_w = [10, 100]
    base = rng.uniform(-1, 1, (len(samples), 1, 1, weight_layer.size))
    J = np.clip(base + 0.05 * rng.standard_normal((len(samples), len(t_w), R, weight_layer.size)), -1, 1)
    data = {"J_final": (("sample", "t_w", "replica", "weight_index"), J)}
    coords = {"sample": samples, "t_w": t_w, "replica": np.arange(R), "weight_layer": ("weight_index", weight_layer)}
    if spins:
        data["S_final"] = (
            ("sample", "t_w", "replica", "spin_index"),
            rng.uniform(-1, 1, (len(samples), len(t_w), R, spin_layer.size)),
        )
        coords["spin_layer"] = ("spin_index", spin_layer)
    params = {"M": 10, "N": 4, "L": 3, "T": 1e-5, "samples": samples, "t_star": 50, "checkpoint_path": None, "seed": 0}
    xr.Dataset(data, coords=coords, attrs={"params_json": json.dumps(params)}).to_netcdf(path, engine="netcdf4")


@pytest.mark.parametrize("spins", [True, False])
def test_design_space_from_job_files(tmp_path, spins):
    rng = np.random.default_rng(1)
    files = [tmp_path / "job~0.nc", tmp_path / "job~1.nc"]
    _job_file(files[0], [0, 1], 3, rng, spins)
    _job_file(files[1], [2], 3, rng, spins)
    ds = design_space(files, layers=[1, 3], bins=10)
    assert ds.sizes["config"] == 9 and list(ds.layer.values) == [1, 3]
    assert list(ds.config_sample.values) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.attrs["design_t_w"] == 100 and "params_json" in ds.attrs and ds.attrs["Conventions"] == "CF-1.11"
    Q = ds.Q_matrix.sel(panel=0).values
    assert np.isfinite(Q).all() and np.allclose(Q, Q.T)
    assert sorted(ds.Q_order.sel(panel=0).values.tolist()) == list(range(9))
    # weights are planted per sample: the three top clusters of layer 1 are the three samples
    found = fcluster(ds.Q_linkage.sel(panel=0).values, 3, criterion="maxclust")
    assert len({(s, f) for s, f in zip(ds.config_sample.values, found)}) == 3
    if spins:
        assert np.isfinite(ds.q_matrix.sel(panel=0).values).all()
        assert np.isnan(ds.q_matrix.sel(panel=1).values).all()  # no spins at layer L
    else:
        assert "q_matrix" not in ds and "weights only" in ds.attrs["design_spins"]
    with pytest.raises(ValueError):
        design_space(files, layers=[4])
    with pytest.raises(ValueError):
        design_space(files)  # neither layers nor phase.nc
