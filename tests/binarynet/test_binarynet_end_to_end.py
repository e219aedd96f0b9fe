import argparse
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tdlm.binarynet.cli import register
from tdlm.binarynet.entropy import random_bound

TINY = {
    "M": 400,
    "n_test": 300,
    "n_runs": 64,
    "epochs": 6,
    "batch_size": 100,
    "lr": 0.5,
    "L": 2,
    "hidden_width": 8,
    "pl_max_iter": 30,
    "mc_chains": 50,
    "mc_burn_in": 10,
    "mc_records": 4,
    "mc_every": 1,
    "landscape_n_x": 7,
    "bp_max_iter": 300,
    "bp_tol": 1e-7,
    "draws_per_run": 2,
}


def _run(tmp_path: Path, expect: int = 0, **extra) -> Path:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("".join(f"{k}: {v}\n" for k, v in {**TINY, **extra}.items()))
    out = tmp_path / "sub" / "result.nc"
    parser = argparse.ArgumentParser(prog="tdlm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["binary-simulate", "--config", str(cfg), "--out", str(out), "--device", "cpu", "--seed", "5"])
    assert args.handler(args) == expect
    return out


def test_tiny_run_writes_a_complete_dataset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="tdlm")
    out = _run(tmp_path)
    assert [p.name for p in out.parent.iterdir()] == ["result.nc"]  # the temporary file was moved, not left
    ds = xr.open_dataset(out, engine="netcdf4")
    assert list(ds.ensemble.values) == ["raw", "aligned"]
    assert list(ds.layer.values) == [1, 2]
    assert ds.sizes["network"] == 128 and int(ds.accepted.sum()) == ds.attrs["n_accepted"] == 128
    assert list(ds.n_weights.values) == [160, 80]
    assert ds.attrs["alpha"] == pytest.approx(240 / 400) and ds.attrs["P"] == 400
    assert ds.attrs["param_seed"] == 5 and ds.attrs["param_epochs"] == 6 and ds.attrs["param_widths"] == "none"
    assert "tdlm_version" in ds.attrs and "alpha_convention" in ds.attrs
    assert ds.phase.attrs["flag_meanings"] == "structured liquid_like undetermined"
    np.testing.assert_array_equal(ds.phase.attrs["flag_values"], [0, 1, 2])
    # the noise floor is part of the result: 128 networks cannot resolve ln 2 for 160 weights
    assert np.all(ds.s_null_over_ln2.values < 0.98) and np.all(ds.s_null_sd.values > 0)
    assert np.all(ds.s_null_over_ln2.values <= ds.s_independent_over_ln2.values + 1e-9)
    np.testing.assert_allclose(ds.null_z, (ds.s_over_ln2 - ds.s_null_over_ln2) / ds.s_null_sd)
    assert set(np.unique(ds.phase.values)) <= {0, 2}  # never liquid_like under such a low floor
    # training worked (chance is 0.1) and every measure is in its range
    assert float(ds.test_accuracy.mean()) > 0.2
    assert np.all(np.abs(ds.overlap_Q.values) <= 1) and np.all((ds.mean_abs_m.values >= 0) & (ds.mean_abs_m.values <= 1))
    # the output block follows the first hidden layer's labels: aligning raises its replica overlap
    assert float(ds.overlap_Q.sel(ensemble="aligned", layer=2)) > float(ds.overlap_Q.sel(ensemble="raw", layer=2))
    ok = ds.landscape_converged.values.astype(bool)
    assert ok.any()
    assert np.all(ds.landscape_s.values[ok] <= random_bound(ds.landscape_d.values[ok]) + 1e-6)
    text = caplog.text
    assert "steps/s" in text and "ETA" in text


def test_bad_config_fails_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _run(tmp_path, expect=2, hidden_width=0)  # bad input: exit code 2, the message names the field
    assert "hidden_width" in capsys.readouterr().err
    # found only after training: still a named error (exit 2), not a traceback
    _run(tmp_path, expect=2, min_accuracy=1.0)
    assert "min_accuracy: only 0 networks" in capsys.readouterr().err
    assert not (tmp_path / "sub" / "result.nc").exists()
