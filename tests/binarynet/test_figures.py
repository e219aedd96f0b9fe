"""The binary family's figures on the gathered layout: alpha = weights / P, the null read beside each profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.collections import PolyCollection

from tdlm.binarynet.sweep import gather
from tdlm.storage import provenance, write_atomic
from tdlm.sweep.classify import classify
from tdlm.sweep.figures import binary_phase_diagram, compare_families

from helpers.synthetic import synthetic_overlaps


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
    fig = compare_families(phase, measures, tmp_path / "families")
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
    binary_phase_diagram(measures, tmp_path / "binary")
    rows = pd.read_csv(tmp_path / "binary.csv")
    assert len(rows) == 4 and set(rows.P) == {1000} and sorted(rows.L.unique()) == [1, 3]  # 1 + 3 layers
