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
        assert list(ds.L.values) == [1, 3] and list(ds.P.values) == [300]
        assert set(ds.ensemble.values) == {"raw", "aligned"}
        s = ds.s_over_ln2.sel(ensemble="aligned")
        assert np.isfinite(s.sel(L=3).values).all()  # every layer of the deep net is measured
        assert np.isnan(s.sel(L=1, layer=[2, 3]).values).all() and np.isfinite(s.sel(L=1, layer=1).values).all()
        assert ((s > 0) & (s <= 1.0 + 1e-9)).sum() == 4  # entropy ratio of a +/-1 block is in (0, 1]
        flags = ds.phase.sel(ensemble="aligned", L=3).values
        threshold = float(ds.attrs["param_liquid_threshold"])
        np.testing.assert_array_equal(flags, (s.sel(L=3).values >= threshold).astype(float))
        assert np.all(np.log(300) > ds.ln_alpha.values) and ds.ln_alpha.sel(L=3) > ds.ln_alpha.sel(L=1)
    for stem in ("binary_phase_diagram", "families", "phase_diagram"):
        assert (out / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert len(pd.read_csv(out / "figures" / f"{stem}.csv")) > 0, stem  # the drawn values beside it
