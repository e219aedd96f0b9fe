"""tdlm.plot.phase and `tdlm plot-phase`: the phase diagram and the q* heat maps draw what phase.nc holds
and are written as valid PNG and PDF with their CSV."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tdlm.figure_files import save
from tdlm.plot.phase import heatmap_rows, phase_diagram, q_star_heatmap
from tdlm.storage import write_atomic
from tdlm.sweep.classify import classify

from helpers.synthetic import synthetic_overlaps
from helpers.workflow import run_tdlm

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png_pdf(paths, stem):
    assert sorted(p.name for p in paths) == sorted([f"{stem.name}.png", f"{stem.name}.pdf"])
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000, path
        head = path.read_bytes()[:8]
        if path.suffix == ".png":
            assert head == PNG_MAGIC
        else:
            assert head.startswith(b"%PDF-")
            assert b"%%EOF" in path.read_bytes()[-1024:]


@pytest.fixture(scope="module")
def phase():
    return classify(synthetic_overlaps(3, 0.05, 0), threshold=math.exp(-1))


def _figure_files(stem):
    return [stem.with_suffix(".png"), stem.with_suffix(".pdf")]


def test_phase_diagram_files(phase, tmp_path):
    stem = tmp_path / "sub" / "phase_diagram"  # the folder is created
    drawn = phase_diagram(phase)
    fig = drawn.figure
    assert not (tmp_path / "sub").exists()  # drawing writes nothing
    save(fig, stem, drawn.table())
    assert_png_pdf(_figure_files(stem), stem)
    # the CSV beside it holds what was drawn: every hidden layer's phase and each point's xi_s
    table = pd.read_csv(stem.with_suffix(".csv"))
    assert len(table) == phase.sizes["alpha"] * sum(int(L) - 1 for L in phase.L.values)
    for row in table.itertuples(index=False):
        cell = phase.isel(T=0).sel(L=row.L).isel(alpha=int(np.flatnonzero(phase.N.values == row.N)[0]))
        assert row.q_star == pytest.approx(float(cell.q_star.sel(layer=row.layer)))
        assert row.xi_solid == pytest.approx(float(cell.xi_solid))
    assert [len(ax.collections) > 0 for ax in fig.axes[:1]] == [True]  # the Figure comes back, drawn


def test_figures_draw_into_given_axes(phase):
    fig, axes = plt.subplots(1, 4)
    assert phase_diagram(phase, axes=axes[:3]).figure is fig
    assert q_star_heatmap(phase, 6, ax=axes[3]).figure is fig
    assert axes[0].patches and axes[1].lines and axes[2].lines and axes[3].collections
    plt.close(fig)


@pytest.mark.parametrize("L", [3, 6])
def test_q_star_heatmap_files(phase, tmp_path, L):
    stem = tmp_path / f"q_star_L{L}"
    drawn = q_star_heatmap(phase, L)
    save(drawn.figure, stem, drawn.table())
    assert_png_pdf(_figure_files(stem), stem)
    cells = pd.read_csv(stem.with_suffix(".csv"))
    ln_alpha, rows, _ = heatmap_rows(phase.isel(T=0).sel(L=L), "q_star", L)
    assert len(cells) == rows.size and set(cells["layer"]) == set(range(1, L))
    np.testing.assert_allclose(cells["q_star"].to_numpy(), rows.ravel())
    np.testing.assert_allclose(np.unique(cells["ln_alpha"]), np.sort(ln_alpha))


def test_q_star_heatmap_without_data_raises(phase):
    empty = phase.copy()
    empty["q_star"] = empty.q_star.where(empty.L != 3)
    with pytest.raises(ValueError, match="no data for L = 3"):
        q_star_heatmap(empty, 3)


@pytest.mark.slow  # a subprocess importing torch and matplotlib: 15-60 s on the loaded machine
def test_plot_phase_cli(phase, tmp_path):
    write_atomic(phase, tmp_path / "phase.nc")
    out = tmp_path / "figures"
    proc = run_tdlm("plot-phase", str(tmp_path / "phase.nc"), "--outdir", str(out), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for stem in ["phase_diagram"] + [f"q_star_L{int(L)}" for L in phase.L.values]:
        assert_png_pdf([out / f"{stem}.png", out / f"{stem}.pdf"], out / stem)
        assert len(pd.read_csv(out / f"{stem}.csv")) > 0


def test_heatmap_rows_sort_and_average_equal_ln_alpha():
    """Rows come sorted by ln alpha; points with equal ln alpha (2000/40 and 500/10) share one averaged
    row; a point without data in any hidden layer has no row."""
    M, N = np.array([2000, 500, 100, 4000]), np.array([40, 10, 10, 10])
    q = np.array([[0.2, 0.6], [0.4, np.nan], [0.9, 0.1], [np.nan, np.nan]])
    ds = xr.Dataset(
        {"q_star": (("alpha", "layer"), np.concatenate([q, np.zeros((4, 1))], axis=1))},
        coords={"alpha": np.arange(4), "layer": [1, 2, 3], "ln_alpha": ("alpha", np.log(M / N))},
    )
    ln_alpha, rows, merged = heatmap_rows(ds, "q_star", 3)
    assert merged == 1
    np.testing.assert_allclose(ln_alpha, np.log([10.0, 50.0]))
    np.testing.assert_allclose(rows, [[0.9, 0.1], [0.3, 0.6]])
