"""The paper's workflow: dry run of config/paper.yaml (with its cost estimate), the smoke config end to end.

The smoke run (config/paper-smoke.yaml: digits, 10 points, t* = 1000) runs every rule of
`paper_figures` once per session in a private folder; the tests then check every figure file,
every plotted array (plotted_data.json), design_space.nc, and that thin data still renders.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from tdlm.paper.render import FIGURES, PLOTTED, reference_point, render_all

from helpers.workflow import MNIST01, copy_workflow, run_snakemake

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def snakemake(workdir: Path, *args: str, timeout: int):
    """snakemake on a private copy of the workflow in `workdir` (the workflow tests' runner)."""
    return run_snakemake(copy_workflow(workdir), *args, timeout=timeout)


def _paper_config(tmp_path: Path, data_path: str) -> Path:
    with open(REPO / "config" / "paper.yaml") as fh:
        config = yaml.safe_load(fh)
    config["data"]["path"] = data_path
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.skipif(not MNIST01.is_dir(), reason=f"MNIST 0/1 IDX folder {MNIST01} not available")
def test_paper_config_dry_run_prints_its_cost(tmp_path):
    config = _paper_config(tmp_path, str(MNIST01))
    out = snakemake(tmp_path, "-n", "-p", "paper_figures", "--configfile", str(config), timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "cost estimate of run 'paper': 21 points, 42 simulate jobs" in text
    assert "replica-steps   2.696e+09" in text and "GPU hours" in text
    for rule, count in (("simulate", 42), ("gather_point", 21), ("paper_design_space", 1), ("paper_figures", 1)):
        assert any(line.split() == [rule, str(count)] for line in text.splitlines()), rule
    # the design space reads the jobs of the default point: lowest T, largest L (15), median alpha
    assert "python -m tdlm.cli design-space results/paper/sims/M~2000/N~10/L~15/T~1e-05/job~0.nc" in text


def test_paper_config_placeholder_path_is_reported(tmp_path):
    out = snakemake(tmp_path, "-n", "paper_figures", "--configfile", str(REPO / "config" / "paper.yaml"), timeout=300)
    assert out.returncode != 0
    assert "data.path" in out.stdout + out.stderr


@pytest.fixture(scope="session")
def smoke(tmp_path_factory) -> tuple[Path, float]:
    """(results folder, seconds) of one run of `snakemake paper_figures` on config/paper-smoke.yaml."""
    workdir = tmp_path_factory.mktemp("paper-smoke")
    start = time.monotonic()
    out = snakemake(workdir, "paper_figures", "--configfile", str(REPO / "config" / "paper-smoke.yaml"), timeout=1200)
    elapsed = time.monotonic() - start
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    print(f"paper-smoke workflow: {elapsed:.0f} s")
    return workdir / "results" / "paper-smoke", elapsed


@pytest.mark.slow
def test_smoke_every_figure_is_a_valid_png_and_pdf(smoke):
    results, _ = smoke
    figdir = results / "figures" / "paper"
    for stem in FIGURES:
        png, pdf = (figdir / f"{stem}.png").read_bytes(), (figdir / f"{stem}.pdf").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 5000, stem
        assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:], stem
    assert (results / "logs" / "paper_figures.log").exists()


@pytest.mark.slow
def test_smoke_every_plotted_array_is_non_empty_and_finite(smoke):
    results, _ = smoke
    plotted = json.loads((results / "figures" / "paper" / PLOTTED).read_text())
    assert list(plotted) == list(FIGURES)
    for name, entry in plotted.items():
        assert entry["title"] and entry["arrays"], name
        # the CSV beside each figure holds the same arrays, value by value
        table = pd.read_csv(results / "figures" / "paper" / f"{name}.csv")
        assert set(table["array"]) == set(entry["arrays"]), name
        assert len(table) == sum(np.asarray(v, dtype=float).size for v in entry["arrays"].values()), name
        for key, values in entry["arrays"].items():
            flat = values if isinstance(values, list) else [values]
            while flat and isinstance(flat[0], list):
                flat = [v for row in flat for v in row]
            assert flat, f"{name}: {key} is empty"
            assert all(v is not None for v in flat), f"{name}: {key} holds NaN or inf"
    # the smoke config has every series: no figure falls back to "only one ..."
    assert not [n for n, e in plotted.items() if "only one" in e["title"]]


@pytest.mark.slow
def test_smoke_design_space_file(smoke):
    results, _ = smoke
    ds = xr.load_dataset(results / "design_space.nc", engine="netcdf4")
    assert list(ds.role.values) == ["liquid", "solid"]
    # default point: lowest T (1e-5), largest L there (8), median alpha at (8, 1e-5): M=60 N=6
    assert (ds.attrs["param_M"], ds.attrs["param_N"], ds.attrs["param_L"]) == (60, 6, 8)
    assert ds.sizes["config"] == 2 * 3  # samples x replicas
    for kind in ("Q", "q"):  # the smoke config stores spins
        assert bool(ds[f"{kind}_matrix"].notnull().all())
    assert ds.attrs["design_t_w"] == 300 and "params_json" in ds.attrs and ds.attrs["tdlm_version"]


@pytest.mark.slow
def test_thin_data_still_renders_and_says_so(smoke, tmp_path):
    results, _ = smoke
    overlaps = xr.load_dataset(results / "overlaps.nc", engine="netcdf4").sel(L=[6]).sel(T=[1e-5])
    phase = xr.load_dataset(results / "phase.nc", engine="netcdf4").sel(L=[6]).sel(T=[1e-5])
    design = xr.load_dataset(results / "design_space.nc", engine="netcdf4")
    keep = [i for i in range(overlaps.sizes["alpha"]) if int(overlaps.M[i]) == 60 and int(overlaps.N[i]) == 6]
    overlaps, phase = overlaps.isel(alpha=keep, t_w=[-1]), phase.isel(alpha=keep)
    drawn = {d.name: d for d in render_all(overlaps, phase, design, tmp_path, reference_point(overlaps, phase_L=10), phase_L=10)}
    assert set(drawn) == set(FIGURES)
    assert "only one T" in drawn["temperature"].title
    assert "only one L" in drawn["depth_profiles"].title
    assert "only one alpha" in drawn["phase_heatmap"].title and "no L=10" in drawn["phase_heatmap"].title
    assert "only one t_w" in drawn["aging"].title
    for stem in FIGURES:
        assert (tmp_path / f"{stem}.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.slow
def test_paper_figures_draw_into_given_axes_and_write_nothing(smoke, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from tdlm.plot import design, dynamics

    results, _ = smoke
    overlaps = xr.load_dataset(results / "overlaps.nc", engine="netcdf4")
    design_ds = xr.load_dataset(results / "design_space.nc", engine="netcdf4")
    reference = reference_point(overlaps, phase_L=6)
    monkeypatch.chdir(tmp_path)
    fig, axes = plt.subplots(1, 3)
    assert dynamics.aging(overlaps, reference, axes=axes[:2]).figure is fig
    assert dynamics.star_vs_tw(overlaps, reference, ax=axes[2]).figure is fig
    assert axes[0].lines and axes[2].lines and not fig._suptitle  # the caller's figure keeps its layout
    rows = design.design_rows(design_ds)
    fig2 = plt.figure()
    grid = [[fig2.add_subplot(len(rows), 3, 3 * r + k + 1) for k in range(3)] for r in range(len(rows))]
    drawn = design.design_space_figure(design_ds, axes=grid)
    assert drawn.figure is fig2 and drawn.arrays and grid[0][1].images
    with pytest.raises(ValueError, match="rows of Axes"):
        design.design_space_figure(design_ds, axes=grid[:1])
    assert not list(tmp_path.iterdir())  # drawing wrote no file
    plt.close("all")
