"""tdlm.sweep.tables: phase.csv and xi.csv say per point and layer what phase.nc says, in physical columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tdlm import cli
from tdlm.sweep.classify import classify
from tdlm.sweep.tables import phase_table, xi_table

from helpers.synthetic import synthetic_overlaps


def _phase():
    phase = classify(synthetic_overlaps())
    phase["diverged"] = (("alpha", "L", "T"), np.zeros((phase.sizes["alpha"], phase.sizes["L"], phase.sizes["T"]), np.int8))
    return phase


def test_one_row_per_point_and_hidden_layer_with_the_values_of_phase_nc():
    phase = _phase()
    table = phase_table(phase)
    assert list(table.columns) == ["M", "N", "alpha", "ln_alpha", "L", "T", "layer", "q_star", "q_star_sem", "phase"]
    points = phase.sizes["alpha"] * phase.sizes["T"]
    assert len(table) == points * sum(int(L) - 1 for L in phase.L.values)
    names = dict(zip(phase.phase.attrs["flag_values"].tolist(), phase.phase.attrs["flag_meanings"].split()))
    for row in table.itertuples(index=False):
        a = int(np.flatnonzero((phase.M.values == row.M) & (phase.N.values == row.N))[0])
        at = {"alpha": a, "L": row.L, "T": row.T, "layer": row.layer}
        assert np.isclose(row.q_star, float(phase.q_star.sel(at)))
        assert np.isclose(row.q_star_sem, float(phase.q_star_sem.sel(at)), equal_nan=True)
        assert row.phase == names[int(phase.phase.sel(at))]
        assert np.isclose(row.alpha, row.M / row.N) and np.isclose(row.ln_alpha, np.log(row.M / row.N))
    assert set(table.phase) <= {"solid", "liquid", "uncertain"}


def test_xi_per_point_and_a_diverged_point_is_kept():
    phase = _phase()
    phase["diverged"][0, 0, 0] = 1
    for name in ("q_star", "phase"):
        phase[name][0, 0, 0] = np.nan if name == "q_star" else -1
    table = xi_table(phase)
    assert len(table) == phase.sizes["alpha"] * phase.sizes["L"] * phase.sizes["T"]
    assert table["diverged"].sum() == 1
    rows = phase_table(phase)
    first = rows[(rows.M == int(phase.M[0])) & (rows.N == int(phase.N[0])) & (rows.L == int(phase.L[0]))]
    assert len(first) == int(phase.L[0]) - 1 and (first.phase == "undefined").all()


def test_cli_writes_both_files(tmp_path):
    path = tmp_path / "phase.nc"
    _phase().to_netcdf(path, engine="netcdf4")
    assert cli.main(["tables", str(path), "--outdir", str(tmp_path / "out")]) == 0
    assert len(pd.read_csv(tmp_path / "out" / "phase.csv")) == len(phase_table(_phase()))
    assert len(pd.read_csv(tmp_path / "out" / "xi.csv")) == len(xi_table(_phase()))
