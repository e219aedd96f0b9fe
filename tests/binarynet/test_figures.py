"""The binary family's figures on the gathered layout: alpha = weights / P, the null read beside each profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.collections import PolyCollection

from tdlm.binarynet.sweep import gather
from tdlm.figure_files import save
from tdlm.plot.binary import binary_phase_diagram
from tdlm.plot.families import compare_families
from tdlm.storage import provenance, write_atomic
from tdlm.sweep.classify import classify

from helpers.synthetic import synthetic_overlaps
from helpers.workflow import run_tdlm


def _point(path: Path, P: int, L: int) -> Path:
    widths = [20] + [15] * (L - 1) + [10]
    s = np.linspace(0.7, 0.95, L)
    values = {
        "s_over_ln2": s,
        "s_null_over_ln2": np.full(L, 0.99),
        "s_null_sd": np.full(L, 0.002),
        "phase": np.zeros(L),
        "overlap_Q": np.full(L, 0.2),
        "mean_abs_J": np.full(L, 0.03),
    }
    ds = xr.Dataset(
        {k: (("ensemble", "layer"), np.stack([v, v])) for k, v in values.items()},
        coords={"ensemble": ["raw", "aligned"], "layer": np.arange(1, L + 1)},
        attrs=provenance(
            {"M": P, "L": L, "null_z": 3.0, "liquid_threshold": 0.95},
            {"alpha": sum(a * b for a, b in zip(widths[:-1], widths[1:])) / P, "widths_used": json.dumps(widths)},
        ),
    )
    write_atomic(ds, path)
    return path


def test_families_figure_and_binary_diagram(tmp_path: Path) -> None:
    measures = gather([_point(tmp_path / f"{L}.nc", 1000, L) for L in (1, 3)], tmp_path / "measures.nc")
    phase = classify(synthetic_overlaps())
    drawn = compare_families(phase, measures)
    assert not list(tmp_path.glob("families*")), "drawing writes no file"
    fig = drawn.figure
    save(fig, tmp_path / "families", drawn.table())
    table = pd.read_csv(tmp_path / "families.csv")
    binary = table[table.family == "binary"]
    s = binary[binary.quantity == "s_over_ln2"]
    np.testing.assert_allclose(s.relative_depth, [1 / 3, 2 / 3, 1.0])  # the deepest point, on relative depth
    np.testing.assert_allclose(s.value, np.linspace(0.7, 0.95, 3))
    assert set(binary.quantity) >= {"s_null_over_ln2", "s_null_sd"}
    assert (table.family == "thermal").any()
    ax = fig.axes[0]
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert band, "the null band is shaded"
    lows = band[0].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([lows.min(), lows.max()], [0.99 - 0.02, 0.99 + 0.02])  # max(3 sd, null_tolerance)
    np.testing.assert_allclose(drawn.arrays["binary.s_over_ln2"], np.linspace(0.7, 0.95, 3))
    binary = binary_phase_diagram(measures)
    np.testing.assert_allclose(binary.arrays["P1000_L3.s_over_ln2"], np.linspace(0.7, 0.95, 3))
    save(binary.figure, tmp_path / "binary", binary.table())
    rows = pd.read_csv(tmp_path / "binary.csv")
    assert len(rows) == 4 and set(rows.P) == {1000} and sorted(rows.L.unique()) == [1, 3]  # 1 + 3 layers


def test_figures_draw_into_given_axes(tmp_path: Path) -> None:
    """Given axes, the figures draw there (the twin axis of the families figure joins the caller's figure)."""
    import matplotlib.pyplot as plt

    measures = gather([_point(tmp_path / f"{L}.nc", 1000, L) for L in (1, 3)], tmp_path / "measures.nc")
    fig, axes = plt.subplots(1, 3)
    assert binary_phase_diagram(measures, axes=axes[:2]).figure is fig
    assert compare_families(classify(synthetic_overlaps()), measures, ax=axes[2]).figure is fig
    assert all(ax.has_data() for ax in axes) and len(fig.axes) == 4
    plt.close(fig)


def test_commands_write_png_and_csv(tmp_path: Path) -> None:
    """`tdlm binary-plot` and `tdlm compare-families` write the PNG and, beside it, the CSV of what was drawn."""
    gather([_point(tmp_path / f"{L}.nc", 1000, L) for L in (1, 3)], tmp_path / "measures.nc")
    write_atomic(classify(synthetic_overlaps()), tmp_path / "phase.nc")
    out = tmp_path / "figures"
    for command, inputs, stem in [
        ("binary-plot", ["measures.nc"], "binary_phase_diagram"),
        ("compare-families", ["phase.nc", "measures.nc"], "families"),
    ]:
        proc = run_tdlm(command, *inputs, "--out", str(out / stem), cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(pd.read_csv(out / f"{stem}.csv")) > 0
        assert not list(out.glob(".*tmp*")), "written atomically: no temporary file left"
