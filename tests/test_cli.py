"""The `tdlm` command: every subcommand is registered, and bad input exits 2 naming the field."""

import pytest

from tdlm import cli

SUBCOMMANDS = ("simulate", "gather-point", "gather", "classify", "plot-phase", "sweep-check", "binary-gather",
               "binary-plot", "compare-families", "binary-simulate", "paper-figures", "design-space", "cost")


def test_every_subcommand_is_registered(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out, name


def test_binary_simulate_bad_input_names_the_field(tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert cli.main(["binary-simulate", "--n-runs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "n_runs" in err and "allowed values" in err
    assert not out.exists()
