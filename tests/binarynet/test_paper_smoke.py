"""The scaled-down paper config runs end to end (both depths, gather, figure) in seconds, and differs from
config/binary-paper.yaml only in the keys that set the ensemble size and the run length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from tdlm.binarynet.measures import run_effective_model
from tdlm.binarynet.sweep import check, gather, point_params
from tdlm.figure_files import save
from tdlm.plot.binary import binary_phase_diagram
from tdlm.storage import write_atomic

CONFIG = Path(__file__).resolve().parents[2] / "config"
SCALED = {"n_runs", "draws_per_run", "epochs", "mc_chains", "mc_burn_in", "mc_records", "landscape_n_x"}
SCALED |= {"bp_max_iter", "pl_max_iter", "null_shuffles"}


def _load(name: str) -> dict:
    return yaml.safe_load((CONFIG / name).read_text())


def test_smoke_config_is_the_paper_config_scaled_down() -> None:
    paper, smoke = _load("binary-paper.yaml"), _load("binary-paper-smoke.yaml")
    assert paper["binary"]["grids"] == smoke["binary"]["grids"]
    for L in (1, 3):
        a, b = point_params(paper, 1000, L), point_params(smoke, 1000, L)
        assert {k for k in a if a[k] != b[k]} <= SCALED
    assert paper["binary"]["params"]["n_runs"] * paper["binary"]["params"]["draws_per_run"] >= 100_000


def test_smoke_config_runs_end_to_end(tmp_path: Path) -> None:
    smoke = _load("binary-paper-smoke.yaml")
    files = []
    for row in check(smoke).itertuples(index=False):
        ds = run_effective_model({**point_params(smoke, row.P, row.L), "device": "cpu"})
        assert ds.sizes["network"] == 200 and ds.attrs["n_accepted"] == 200
        files.append(tmp_path / f"{row.L}.nc")
        write_atomic(ds, files[-1])
    measures = gather(files, tmp_path / "measures.nc")
    assert list(measures.L.values) == [1, 3] and measures.sizes["alpha"] == 2
    floor = measures[["s_null_over_ln2", "s_null_sd", "s_independent_over_ln2", "null_z"]]
    cells = np.isfinite(measures.s_over_ln2.values)
    assert cells.sum() == 2 * (1 + 3) and all(np.isfinite(floor[v].values[cells]).all() for v in floor)
    drawn = binary_phase_diagram(measures)
    save(drawn.figure, tmp_path / "binary", drawn.table())
    assert (tmp_path / "binary.png").stat().st_size > 0
