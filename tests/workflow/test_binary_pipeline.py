"""Both model families in one sweep: binary-weight points run, gather over (alpha, L, ensemble, layer),
get their alpha-L diagram, and are drawn beside the thermal machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from helpers.workflow import copy_workflow, run_snakemake, write_config

pytestmark = pytest.mark.slow


def test_both_families_end_to_end(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    # merged over the copy's config/config.yaml by Snakemake
    overrides = yaml.safe_load((Path(__file__).parent / "binary_tiny.yaml").read_text())
    overrides["grids"] = [{"name": "one", "alpha": {"M": 20, "N": [4]}, "L": [3], "T": [1.0e-5]}]
    overrides["samples"] = 1
    write_config(work / "both.yaml", overrides)
    result = run_snakemake(work, "--configfile", str(work / "both.yaml"), timeout=900)
    assert result.returncode == 0, result.output[-4000:]

    out = work / "results" / overrides["run"]
    with xr.open_dataset(out / "binary" / "measures.nc", engine="netcdf4") as ds:
        assert {"alpha", "L", "ensemble", "layer"} <= set(ds.dims)
        assert list(ds.L.values) == [1, 3] and set(ds.P.values[np.isfinite(ds.P.values)]) == {300}
        assert set(ds.ensemble.values) == {"raw", "aligned"}
        # alpha holds weights / P of each point (20-10: 200 weights, 20-15-15-10: 675), as in the thermal files
        np.testing.assert_allclose(ds.alpha.values, [200 / 300, 675 / 300])
        deep, shallow = ds.sel(ensemble="aligned", alpha=675 / 300, L=3), ds.sel(ensemble="aligned", alpha=200 / 300, L=1)
        assert np.isfinite(deep.s_over_ln2.values).all()  # every layer of the deep net is measured
        assert np.isnan(shallow.s_over_ln2.sel(layer=[2, 3]).values).all() and np.isfinite(float(shallow.s_over_ln2.sel(layer=1)))
        s = np.concatenate([deep.s_over_ln2.values, shallow.s_over_ln2.values[:1]])
        assert ((s > 0) & (s <= 1.0 + 1e-9)).all()  # entropy ratio of a +/-1 block is in (0, 1]
        # 40 networks cannot resolve ln 2: the null floor is part of the result, and no layer is called liquid
        assert (deep.s_null_over_ln2.values < 0.98).all() and set(deep.phase.values) <= {0, 2}
    for stem in ("binary_phase_diagram", "families", "phase_diagram"):
        assert (out / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert len(pd.read_csv(out / "figures" / f"{stem}.csv")) > 0, stem  # the drawn values beside it
