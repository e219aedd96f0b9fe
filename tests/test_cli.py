"""The `tdlm` command: every subcommand is registered, and bad input exits 2 naming the field."""

import argparse

import pytest

from tdlm import cli

SUBCOMMANDS = (
    "simulate",
    "gather-point",
    "gather",
    "classify",
    "plot-phase",
    "sweep-check",
    "binary-gather",
    "binary-plot",
    "compare-families",
    "binary-simulate",
    "paper-figures",
    "design-space",
    "cost",
)


def test_every_subcommand_is_registered(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out, name


def test_file_arguments_are_arguments_of_registered_commands():
    """FILE_ARGS (the inputs opened before a command runs) names commands the families register and
    arguments those commands have: a renamed command or argument would otherwise skip the check silently."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for command, arguments in cli.FILE_ARGS.items():
        assert command in commands, command
        dests = {action.dest for action in commands[command]._actions}
        assert {dest for dest, _ in arguments} <= dests, command


def test_binary_simulate_bad_input_names_the_field(tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert cli.main(["binary-simulate", "--n-runs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "n_runs" in err and "allowed values" in err
    assert not out.exists()


def test_version(capsys):
    from tdlm import __version__

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"tdlm {__version__}" and __version__ != "0.0.0+unknown"


def test_log_lines_carry_the_date(tmp_path):
    """Progress and checkpoint lines of long jobs are read across midnight: the timestamp has the date."""
    import re

    from helpers.workflow import run_tdlm

    out = tmp_path / "job.nc"
    flags = "--M 20 --N 4 --L 3 --t-w 10 --t-star 20 --n-replicas 2 --n-test 20 --device cpu".split()
    result = run_tdlm("simulate", *flags, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.output
    lines = [line for line in result.stderr.splitlines() if " INFO " in line]
    assert lines and all(re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} INFO ", line) for line in lines), lines


def test_cost_help_prints_each_default_once(capsys):
    """issue 27: a help that says its own default (`--flops-rate`, `--step-latency`) gets no second one."""
    with pytest.raises(SystemExit):
        cli.main(["cost", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--flops-rate FLOPS_RATE", "--step-latency STEP_LATENCY"):
        block = text.split(flag, 2)[2].split(" --", 1)[0]  # the flag's help, after the usage line and the option
        assert block.count("default:") == 1, block
    assert "(default: False)" in text  # flags whose help does not say it still get theirs


def test_torch_threads_default_one_for_simulate():
    """issue 27: simulate runs on one thread unless --threads or OMP_NUM_THREADS says otherwise."""
    assert cli.torch_threads(None, "simulate", {}) == 1
    assert cli.torch_threads(None, "simulate", {"OMP_NUM_THREADS": "2"}) is None  # torch follows the environment
    assert cli.torch_threads(3, "simulate", {"OMP_NUM_THREADS": "2"}) == 3
    assert cli.torch_threads(None, "gather", {}) is None


def test_simulate_logs_its_thread_count(monkeypatch, caplog):
    import argparse

    import torch

    before = torch.get_num_threads()
    seen = []
    parser = cli.build_parser()
    args = parser.parse_args(["simulate", "--out", "unused.nc"])
    monkeypatch.setattr(args, "handler", lambda a: seen.append(torch.get_num_threads()) or 0)
    monkeypatch.setattr(cli, "check_files", lambda a: None)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)  # torch's own choice on a 2-core machine: main must lower it
    try:
        with caplog.at_level("INFO", logger="tdlm"):
            assert cli.main(["simulate"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
    assert "torch threads: 1" in caplog.text
