import argparse
from pathlib import Path

import pytest

from tdlm.binarynet.cli import register, resolve_params
from tdlm.binarynet.config import defaults, network_widths, validate
from tdlm.fields import ConfigError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tdlm")
    register(p.add_subparsers(dest="command", required=True))
    return p


def test_defaults_are_valid_and_give_the_paper_network() -> None:
    params = validate({})
    assert params == defaults()
    assert network_widths(params, n_classes=10) == [20, 15, 15, 10]
    assert network_widths(validate({"n_layers": 1}), n_classes=10) == [20, 10]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"n_run": 10}, ["n_run", "allowed keys", "n_runs"]),
        ({"n_runs": "ten"}, ["n_runs", "'ten'", "integers >= 2"]),
        ({"n_runs": True}, ["n_runs", "bool"]),
        ({"n_runs": 1}, ["n_runs", "integers >= 2"]),
        ({"lr": -0.1}, ["lr", "numbers > 0"]),
        ({"dataset": "cifar"}, ["dataset", "digits, mnist"]),
        ({"align_reference": "best"}, ["align_reference", "first, consensus"]),
        ({"widths": [20, 15, 10]}, ["widths", "L (old name n_layers) = 3", "4 integers"]),
        ({"widths": [64, 15, 15, 10]}, ["widths", "n_components = 20"]),
        ({"widths": "20,15"}, ["widths", "list"]),
        ({"dataset": "mnist"}, ["data.path", "mnist_dir", "required"]),
        ({"landscape_x_min": 2.0, "landscape_x_max": 1.0}, ["landscape_x_max", "landscape_x_min"]),
        ({"min_accuracy": 1.5}, ["min_accuracy", "[0, 1]"]),
    ],
)
def test_bad_input_names_field_and_allowed_values(overrides: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        validate(overrides)
    for word in words:
        assert word in str(err.value)


def test_output_width_below_class_count_is_rejected() -> None:
    with pytest.raises(ConfigError, match="widths: last entry 2 .* 10 classes"):
        network_widths(validate({"widths": [20, 15, 15, 2]}), n_classes=10)


def test_yaml_then_flags_override(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("n_runs: 100\nepochs: 7\nwidths: [20, 12, 10]\nn_layers: 2\n")
    args = parser().parse_args(
        ["binary-simulate", "--config", str(cfg), "--out", "x.nc", "--epochs", "9", "--scale-output", "true"]
    )
    params = resolve_params(args)
    assert params["n_runs"] == 100 and params["epochs"] == 9 and params["scale_output"] is True
    assert params["widths"] == [20, 12, 10]
    args = parser().parse_args(["binary-simulate", "--config", str(cfg), "--out", "x.nc", "--widths", "null", "--n-layers", "1"])
    assert resolve_params(args)["widths"] is None


def test_unknown_yaml_key_is_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("learning_rate: 0.1\n")
    args = parser().parse_args(["binary-simulate", "--config", str(cfg), "--out", "x.nc"])
    with pytest.raises(ConfigError, match="learning_rate"):
        resolve_params(args)


def test_unreadable_flag_names_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["binary-simulate", "--out", "x.nc", "--n-runs", "many"])
    assert "n_runs: cannot read 'many' as int" in capsys.readouterr().err


def test_default_config_file_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "config" / "binarynet.yaml"
    args = parser().parse_args(["binary-simulate", "--config", str(path), "--out", "x.nc"])
    params = resolve_params(args)
    assert network_widths(params, 10) == [20, 15, 15, 10]


def test_thermal_names_and_old_aliases(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """data.source/data.path/M/L as in `tdlm simulate` (nested YAML too); the old names still work, with a
    logged deprecation warning, and a flag overrides the file under either name."""
    cfg = tmp_path / "p.yaml"
    cfg.write_text("data:\n  source: digits\n  path: null\nM: 500\nn_layers: 2\n")
    with caplog.at_level("WARNING", logger="tdlm.binarynet"):
        params = resolve_params(
            parser().parse_args(["binary-simulate", "--config", str(cfg), "--out", "x.nc", "--n-train", "300"])
        )
    assert params["M"] == 300 and params["L"] == 2 and params["data.source"] == "digits"
    assert "'n_layers' is deprecated, use 'L'" in caplog.text and "'n_train' is deprecated, use 'M'" in caplog.text
    assert validate({"dataset": "digits", "n_train": 400}) == validate({"data.source": "digits", "M": 400})
    with pytest.raises(ConfigError, match="n_train: given together with M"):
        validate({"n_train": 400, "M": 300})


def test_memory_estimate_grows_with_every_size() -> None:
    """The estimate is what refuses a point before any work: each size that sets the memory must raise it."""
    from tdlm.binarynet.config import point_memory_mb

    base = validate({})
    for key in ("n_runs", "draws_per_run", "batch_size", "hidden_width", "L"):
        bigger = validate({key: base[key] * 4})
        assert point_memory_mb(bigger) > point_memory_mb(base), key


def test_point_beyond_the_free_memory_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    """10^12 networks: a named error (exit 2) naming the sizes, in well under a second, nothing written."""
    from tdlm import cli

    out = tmp_path / "b.nc"
    code = cli.main(["binary-simulate", "--n-runs", "1000000", "--draws-per-run", "1000000", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "n_runs, draws_per_run, batch_size" in err and "needs about" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_sweep_check_refuses_a_binary_point_above_its_mem_mb() -> None:
    from tdlm.binarynet import sweep

    config = {
        "binary": {
            "grids": [{"name": "g", "P": [1000], "L": [3]}],
            "params": {"n_runs": 100, "draws_per_run": 1000},
            "resources": {"mem_mb": 1000},
        }
    }
    with pytest.raises(ConfigError, match=r"binary.resources.mem_mb: got 1000; the point P=1000 L=3 needs about"):
        sweep.check(config)
    config["binary"]["resources"]["mem_mb"] = 8000
    assert len(sweep.check(config)) == 1
