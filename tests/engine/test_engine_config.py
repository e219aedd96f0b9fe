"""Invalid parameters: ConfigError names the field and its allowed values; the CLI exits 2 and writes nothing."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tdlm import cli
from tdlm.fields import ConfigError
from tdlm.md.params import FIELDS, SimParams, build, load

# (values, field named in the message, fragments of the allowed values that must appear)
BAD = [
    pytest.param({"foo": 1}, "foo", ["unknown key", "thermostat", "t_star"], id="unknown-key"),
    pytest.param({"data.colour": "red"}, "data.colour", ["unknown key", "data.source"], id="unknown-nested-key"),
    pytest.param({"thermostat": "verlet"}, "thermostat", ["per_step", "literal"], id="thermostat"),
    pytest.param({"M": 21}, "M", ["multiple", "2"], id="M-not-multiple-of-2"),
    pytest.param({"M": 20, "data.classes": [0, 1, 2]}, "M", ["multiple", "3"], id="M-not-multiple-of-3"),
    pytest.param({"eta": 1.0}, "eta", ["0 < eta < 1"], id="eta-1"),
    pytest.param({"eta": 0}, "eta", ["0 < eta < 1"], id="eta-0"),
    pytest.param({"eta": -0.5}, "eta", ["0 < eta < 1"], id="eta-negative"),
    pytest.param({"t_w": [100, -5]}, "t_w", [">= 0"], id="t_w-negative"),
    pytest.param({"t_w": []}, "t_w", ["non-empty"], id="t_w-empty"),
    pytest.param({"data.source": "mnist"}, "data.path", ["required", "IDX"], id="mnist-without-path"),
    pytest.param({"data.source": "cifar"}, "data.source", ["digits", "mnist"], id="source"),
    pytest.param({"dtype": "float16"}, "dtype", ["float32", "float64"], id="dtype"),
    pytest.param({"device": "tpu"}, "device", ["auto", "cpu", "cuda"], id="device"),
    pytest.param({"T": -1e-5}, "T", [">= 0"], id="T-negative"),
    pytest.param({"dt": 0}, "dt", ["> 0"], id="dt-zero"),
    pytest.param({"n_replicas": 1}, "n_replicas", [">= 2"], id="one-replica"),
    pytest.param({"N": 2.5}, "N", ["int"], id="N-not-integer"),
    pytest.param({"data.classes": [3]}, "data.classes", [">= 2", "distinct"], id="one-class"),
]


@pytest.mark.parametrize("values, field, allowed", BAD)
def test_build_names_field_and_allowed_values(values, field, allowed):
    with pytest.raises(ConfigError) as err:
        build(values)
    msg = str(err.value)
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(field + ":")), None)
    assert line is not None, f"no line for {field!r} in {msg!r}"
    for fragment in allowed:
        assert fragment.lower() in msg.lower(), (fragment, msg)


def test_all_errors_reported_at_once():
    with pytest.raises(ConfigError) as err:
        build({"thermostat": "x", "eta": 2.0, "bogus": 1})
    msg = str(err.value)
    assert "thermostat:" in msg and "eta:" in msg and "bogus:" in msg


def test_defaults_follow_the_spec():
    p = build({})
    assert isinstance(p, SimParams)
    assert (p.dt, p.eta, p.T, p.t_star) == (1e-2, 1e-3, 1e-5, 500000)
    assert p.thermostat == "per_step" and p.data.source == "digits" and list(p.data.classes) == [0, 1]
    assert list(p.t_w) == [100, 1000, 10000, 50000]


def test_yaml_nested_and_cli_style_values(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"classes": [0, 1, 2]}, "M": 30, "T": "1e-4", "t_w": [10, 100]}))
    p = load(str(cfg), {"n_replicas": "4", "t_star": "1e3", "store_spins": "false"})
    assert list(p.data.classes) == [0, 1, 2] and p.M == 30 and p.T == 1e-4
    assert p.n_replicas == 4 and p.t_star == 1000 and p.store_spins is False
    cfg.write_text(yaml.safe_dump({"data": {"source": "mnist"}}))
    with pytest.raises(ConfigError, match="data.path"):
        load(str(cfg))
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load(str(cfg))


def test_physics_key_ignores_bookkeeping_only():
    base = build({})
    same = build({"checkpoint_steps": 7, "checkpoint_seconds": 1.0, "checkpoint_path": "x.ckpt", "progress_seconds": 5})
    assert base.physics_key() == same.physics_key()
    for change in ({"T": 2e-5}, {"seed": 1}, {"eta": 2e-3}, {"thermostat": "literal"}, {"M": 100}, {"t_w": [100]}):
        assert build(change).physics_key() != base.physics_key(), change
    assert {f.name for f in FIELDS if not f.physics} >= {"checkpoint_steps", "checkpoint_path"}


def _yaml(tmp_path, values) -> str:
    path = tmp_path / "cfg" / "bad.yaml"
    path.parent.mkdir(exist_ok=True)
    nested: dict = {}
    for key, value in values.items():
        if key.startswith("data."):
            nested.setdefault("data", {})[key[5:]] = value
        else:
            nested[key] = value
    path.write_text(yaml.safe_dump(nested))
    return str(path)


@pytest.mark.parametrize("values, field, allowed", BAD)
def test_cli_exits_2_and_writes_nothing(values, field, allowed, tmp_path, capsys):
    out = tmp_path / "out" / "job.nc"
    rc = cli.main(["simulate", "--config", _yaml(tmp_path, values), "--out", str(out)])
    assert rc == cli.EXIT_BAD_INPUT == 2
    err = capsys.readouterr().err
    assert field in err
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--data-classes", "0", "10"], "data.classes"),  # class not in the data set: found when loading
        (["--M", "1000"], "M"),  # more than the balanced digits pool holds
        (["--data-source", "mnist", "--data-path", "/nonexistent/mnist"], "data.path"),
        (["--thermostat", "verlet"], "thermostat"),
    ],
)
def test_cli_bad_values_from_flags(flags, field, tmp_path, capsys):
    out = tmp_path / "job.nc"
    rc = cli.main(
        ["simulate", "--out", str(out), "--device", "cpu", "--N", "4", "--L", "3", "--t-w", "5", "--t-star", "5", *flags]
    )
    assert rc == 2
    assert field in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_flag_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["simulate", "--out", str(tmp_path / "x.nc"), "--no-such-flag", "1"])
    assert exc.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_cli_subprocess_exit_code(tmp_path, subprocess_env, tdlm_cmd):
    """The real process exit status (console entry point via python -m)."""
    out = tmp_path / "out.nc"
    proc = subprocess.run(
        [*tdlm_cmd, "simulate", "--config", _yaml(tmp_path, {"thermostat": "verlet", "foo": 1}), "--out", str(out)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "thermostat" in proc.stderr and "per_step" in proc.stderr and "foo" in proc.stderr
    assert not out.exists() and not (tmp_path / "out.nc.ckpt").exists()
