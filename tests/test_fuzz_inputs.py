"""Every input, not a list of inputs (issue 25): the representatives of each class of bad input, then a
property-based fuzzer that draws invalid values for every flag of every command and every key of the
workflow config from the field tables, and a corpus of bad files for every file argument.

Each case asserts: exit 2 (3 for a divergence), the field or file named, no traceback, and nothing
written, renamed or deleted in the folder the command was given. Commands run in-process through
`tdlm.cli.main`. The budget is bounded for CI (TDLM_FUZZ_EXAMPLES examples per property, default 25);
a long campaign: `TDLM_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_inputs.py -n 0 -p no:randomly`
(docs/architecture.md reports one).
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdlm import cli
from tdlm.binarynet import config as binary_config
from tdlm.fields import FALSE, INT64_MAX, NULLS, TRUE, Field
from tdlm.md import params as simulate_params

from helpers.workflow import load_tiny

EXAMPLES = int(os.environ.get("TDLM_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# a tiny simulate job (about a second when accepted)
SIM = "--M 20 --N 4 --L 3 --t-w 10 --t-star 50 --n-replicas 2 --n-test 20 --device cpu".split()
T = "1e-05"
PLAN_FLAGS = ["--samples", "1", "--samples-per-job", "1", "--max-samples", "1"]  # of refine-plan


def run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse usage errors
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.err


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time: what a failed command must not change."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


OUTCOMES: Counter[str] = Counter()  # of every case: named, traceback, accepted (exit 0), other


def outcome(code: int, err: str, names: list[str]) -> str:
    if "Traceback" in err or "internal error" in err:
        return "traceback"
    if code == 0:
        return "accepted"
    return "named" if code in (2, 3) and any(name in err for name in names) else "other"


@pytest.fixture(scope="module", autouse=True)
def campaign_report():
    """With TDLM_FUZZ_REPORT=<file>, the counts of the module's cases are written there (a campaign's record)."""
    yield
    if os.environ.get("TDLM_FUZZ_REPORT"):
        counts = {"cases": sum(OUTCOMES.values()), **{k: OUTCOMES[k] for k in ("named", "traceback", "accepted", "other")}}
        Path(os.environ["TDLM_FUZZ_REPORT"]).write_text(json.dumps({"examples_per_property": EXAMPLES, **counts}, indent=1))


def assert_named(code: int, err: str, names: list[str], expected: int = 2) -> None:
    OUTCOMES[outcome(code, err, names)] += 1
    assert code == expected, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert any(name in err for name in names), f"none of {names} in {err!r}"


# ------------------------------------------------------------------------------------------------ files


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Real files of every thermal kind, built by the commands in the workflow's layout: two job files (two
    points), their point files, overlaps.nc and phase.nc."""
    root = tmp_path_factory.mktemp("made")
    files: dict[str, Path] = {}
    for N in (4, 2):
        job = root / f"sims/M~20/N~{N}/L~3/T~{T}/job~0.nc"
        sim = [w if w != "4" else str(N) for w in SIM]
        assert cli.main(["--threads", "1", "simulate", *sim, "--out", str(job)]) == 0
        point = root / f"points/M~20/N~{N}/L~3/T~{T}.nc"
        assert cli.main(["gather-point", str(job), "--out", str(point)]) == 0
        files[f"job{N}"], files[f"point{N}"] = job, point
    files["sweep"] = root / "overlaps.nc"
    assert cli.main(["gather", str(files["point4"]), str(files["point2"]), "--out", str(files["sweep"])]) == 0
    files["phase"] = root / "phase.nc"
    assert cli.main(["classify", str(files["sweep"]), "--out", str(files["phase"])]) == 0
    return files


def test_every_file_says_its_kind_and_version(made):
    expected = {"job4": "job", "point4": "point", "sweep": "sweep", "phase": "phase"}
    for name, kind in expected.items():
        with xr.open_dataset(made[name], engine="netcdf4") as ds:
            assert ds.attrs["tdlm_kind"] == kind and int(ds.attrs["tdlm_format_version"]) == 1


# ------------------------------------------------------------------------------------------------ representatives


def test_checkpoint_over_the_output_is_refused(tmp_path, capsys):
    out = tmp_path / "out.nc"
    code, err = run(capsys, ["simulate", *SIM, "--out", str(out), "--checkpoint-path", str(out)])
    assert_named(code, err, ["checkpoint_path"])
    assert "--out" in err and not out.exists()


def test_checkpoint_over_the_config_or_a_foreign_file_is_refused(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("M: 20\n")
    code, err = run(
        capsys, ["simulate", *SIM, "--config", str(config), "--checkpoint-path", str(config), "--out", str(tmp_path / "o.nc")]
    )
    assert_named(code, err, ["checkpoint_path"])
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes\n")
    before = snapshot(tmp_path)
    code, err = run(capsys, ["simulate", *SIM, "--checkpoint-path", str(foreign), "--out", str(tmp_path / "o.nc")])
    assert_named(code, err, ["not a tdlm checkpoint"])
    assert snapshot(tmp_path) == before and config.read_text() == "M: 20\n"


def sim(*extra: str) -> list[str]:
    """SIM with `extra` in place of the flags it gives (a flag given twice is itself refused)."""
    given = {word for word in extra if word.startswith("--")}
    out, keep = [], True
    for word in SIM:
        keep = word not in given if word.startswith("--") else keep
        out += [word] if keep else []
    return out + list(extra)


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--seed", str(2**64)], ["seed", "int64"]),
        (["--checkpoint-path", ""], ["checkpoint_path", "empty"]),
        (["--t-w", "10", "nan"], ["t_w"]),
        (["--data-path", " "], ["data.path", "empty"]),
    ],
    ids=["seed-2^64", "empty-path", "t_w-nan", "blank-path"],
)
def test_simulate_values_no_format_stores(flags, names, tmp_path, capsys):
    code, err = run(capsys, ["simulate", *sim(*flags), "--out", str(tmp_path / "o.nc")])
    assert_named(code, err, names)
    assert all(n in err for n in names), err
    assert not (tmp_path / "o.nc").exists()


def test_a_flag_given_twice_is_refused(tmp_path, capsys):
    code, err = run(capsys, ["simulate", *SIM, "--M", "40", "--out", str(tmp_path / "o.nc")])
    assert_named(code, err, ["--M: given more than once"])


def test_duplicate_yaml_keys_are_refused(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("T: 1.0e-5\nN: 4\nT: 1.0\n")
    code, err = run(capsys, ["simulate", "--config", str(config), "--out", str(tmp_path / "o.nc")])
    assert_named(code, err, ["duplicate key 'T'"])


def _sweep_config(tmp_path: Path, change: Callable[[dict], None], text: str | None = None) -> str:
    config = load_tiny()
    change(config)
    path = tmp_path / "sweep.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(config))
    return str(path)


def _setter(*keys: str, value: object) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return apply


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (_setter("seed", value=2**64), ["seed", "int64"]),
        (_setter("classify", "threshold", value=math.nan), ["classify.threshold", "finite"]),
        (_setter("refine", "resolution", value=math.nan), ["refine.resolution", "finite"]),
        (_setter("run", value=".."), ["run", "not . or .."]),
        (_setter("run", value="a/b"), ["run"]),
        (_setter("t_star", value=math.inf), ["t_star"]),
        (_setter("grids", value=[{"name": "", "alpha": {"M": 20, "N": [4]}, "L": [3]}]), ["grids[0].name", "empty"]),
    ],
    ids=["seed-2^64", "threshold-nan", "resolution-nan", "run-dotdot", "run-slash", "t_star-inf", "empty-name"],
)
def test_sweep_check_refuses_what_would_fail_after_the_simulations(change, names, tmp_path, capsys):
    code, err = run(capsys, ["sweep-check", _sweep_config(tmp_path, change), "--base", ""])
    assert_named(code, err, names)
    assert all(n in err for n in names), err


def test_sweep_check_refuses_duplicate_keys(tmp_path, capsys):
    text = yaml.safe_dump(load_tiny()) + "seed: 3\n"
    code, err = run(capsys, ["sweep-check", _sweep_config(tmp_path, lambda c: None, text), "--base", ""])
    assert_named(code, err, ["duplicate key 'seed'"])


def test_gather_refuses_the_same_point_twice(made, tmp_path, capsys):
    copy = tmp_path / "points" / "copy.nc"
    copy.parent.mkdir()
    shutil.copy(made["point4"], copy)
    code, err = run(capsys, ["gather", str(made["point4"]), str(copy), "--out", str(tmp_path / "o.nc")])
    assert_named(code, err, ["same point"])
    assert str(copy) in err and not (tmp_path / "o.nc").exists()


def test_a_job_copied_over_another_points_job_is_named_not_dropped(made, tmp_path, capsys):
    wrong = tmp_path / f"sims/M~20/N~4/L~3/T~{T}/job~0.nc"
    wrong.parent.mkdir(parents=True)
    shutil.copy(made["job2"], wrong)  # point N = 2's job at point N = 4's path
    before = snapshot(tmp_path)
    code, err = run(capsys, ["gather-point", str(wrong), "--out", str(tmp_path / "p.nc")])
    assert_named(code, err, ["its path says N = 4"])
    assert snapshot(tmp_path) == before  # not moved aside: it is intact, only misplaced


def _overlaps_with(made: dict[str, Path], tmp_path: Path, value: float) -> Path:
    with xr.open_dataset(made["sweep"], engine="netcdf4") as ds:
        changed = ds.load()
    q = changed["q_norm"].values
    q[0, 0, 0, 0, -1, -1, 0] = value
    if np.isnan(value):
        q[0] = np.nan
    changed["q_norm"].values = q
    path = tmp_path / "overlaps.nc"
    changed.to_netcdf(path, engine="netcdf4")
    return path


@pytest.mark.parametrize("value", [math.inf, 5.0, -1.5], ids=["inf", "5", "-1.5"])
def test_classify_refuses_overlaps_outside_minus_one_one(value, made, tmp_path, capsys):
    source = _overlaps_with(made, tmp_path, value)
    code, err = run(capsys, ["classify", str(source), "--out", str(tmp_path / "phase.nc")])
    assert_named(code, err, ["q_norm"])
    assert "[-1, 1]" in err and not (tmp_path / "phase.nc").exists()


def test_an_all_nan_point_is_missing_not_a_missing_layer(made, tmp_path, capsys):
    source = _overlaps_with(made, tmp_path, math.nan)
    assert cli.main(["classify", str(source), "--out", str(tmp_path / "phase.nc")]) == 0
    phase = xr.load_dataset(tmp_path / "phase.nc", engine="netcdf4")
    assert phase.missing.isel(alpha=0).values.all() and not phase.missing.isel(alpha=1).values.any()
    assert "missing" in phase.phase.attrs["long_name"]


def test_a_job_file_is_not_a_sweep(made, tmp_path, capsys):
    code, err = run(capsys, ["classify", str(made["job4"]), "--out", str(tmp_path / "phase.nc")])
    assert_named(code, err, ["is a job file"])
    assert "expected an overlaps.nc" in err


def test_a_full_disk_is_named_keeps_the_old_file_and_leaves_no_temporary(made, tmp_path, capsys, monkeypatch):
    out = tmp_path / "phase.nc"
    out.write_bytes(b"old")

    def full(self, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    code, err = run(capsys, ["classify", str(made["sweep"]), "--out", str(out)])
    assert_named(code, err, [str(out)])
    assert "No space left on device" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phase.nc"] and out.read_bytes() == b"old"


def test_a_full_disk_at_the_end_of_a_job_keeps_its_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "job.nc"
    ckpt = tmp_path / "job.nc.ckpt"

    def full(self, path, **kwargs):
        assert ckpt.exists()  # the run's last checkpoint is on disk when the output is written
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    code, err = run(capsys, ["simulate", *SIM, "--checkpoint-steps", "10", "--out", str(out)])
    assert_named(code, err, [str(out)])
    assert "HDF error" in err and "checkpoint is kept" in err
    assert ckpt.exists() and not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_a_read_that_fails_halfway_names_the_file(made, tmp_path, capsys, monkeypatch):
    """Damaged chunks surface only when the data are read (after the header opened fine)."""
    import tdlm.sweep.classify as classify

    def damaged(*args, **kwargs):
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(classify, "classify", damaged)
    code, err = run(capsys, ["classify", str(made["sweep"]), "--out", str(tmp_path / "p.nc")])
    assert_named(code, err, [f"overlaps: {made['sweep']} cannot be read (NetCDF: HDF error)"])
    assert not (tmp_path / "p.nc").exists()


def test_stale_temporaries_of_a_killed_step_are_removed_at_its_next_start(made, tmp_path):
    out = tmp_path / "phase.nc"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".phase.nc.tmp{dead}"
    stale.write_bytes(b"half")
    alive = tmp_path / f".phase.nc.tmp{os.getppid()}"  # a live process's temporary is not ours to remove
    alive.write_bytes(b"busy")
    assert cli.main(["classify", str(made["sweep"]), "--out", str(out)]) == 0
    assert not stale.exists() and alive.exists() and out.exists()


def test_threads_are_bounded(tmp_path, capsys):
    code, err = run(capsys, ["--threads", "100000", "simulate", *SIM, "--out", str(tmp_path / "o.nc")])
    assert_named(code, err, ["threads"])


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_debug(tmp_path, capsys, monkeypatch):
    import tdlm.sweep.classify as classify

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(classify, "classify_file", broken)
    code, err = run(capsys, ["classify", "x.nc", "--out", str(tmp_path / "p.nc")])
    assert code == 2 and "x.nc" in err  # the input is checked first: a missing file is a named error
    monkeypatch.setattr(cli, "check_files", lambda args: None)
    code, err = run(capsys, ["classify", "x.nc", "--out", str(tmp_path / "p.nc")])
    assert code == cli.EXIT_INTERNAL and "internal error (ZeroDivisionError: bug)" in err and "Traceback" not in err
    code, err = run(capsys, ["--debug", "classify", "x.nc", "--out", str(tmp_path / "p.nc")])
    assert code == cli.EXIT_INTERNAL and "Traceback" in err


def test_a_closed_stdout_is_quiet(monkeypatch, capsys):
    def closed(args):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(cli, "_quiet_stdout", lambda: None)
    parser = cli.build_parser()
    args = parser.parse_args(["params", "simulate"])
    monkeypatch.setattr(args, "handler", closed)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    assert cli.main(["params", "simulate"]) == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------------ the fuzzer


def _limits(f: Field) -> tuple[float | None, bool, float | None, bool]:
    """(low, low closed, high, high closed) of a field's rule, from its JSON-schema keywords."""
    schema = f.rule.schema
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return low, "minimum" in schema, high, "maximum" in schema


def _not_a_number() -> st.SearchStrategy[str]:
    def unreadable(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return text.strip().lower() not in NULLS + TRUE + FALSE
        return False

    return st.text(st.characters(codec="ascii", categories=("L", "P")), min_size=1, max_size=8).filter(
        lambda t: unreadable(t) and not t.startswith("-")
    )


def bad_scalars(f: Field, kind: type) -> st.SearchStrategy[str]:
    """Text of values that `f` (or its items, of type `kind`) refuses, derived from its type and rule."""
    low, low_closed, high, high_closed = _limits(f)
    options: list[st.SearchStrategy[str]] = [st.sampled_from(["nan", "inf", "-inf"])] if kind in (int, float) else []
    if kind is int:
        options += [
            st.integers(INT64_MAX + 1, 2**80).map(str),
            st.floats(0.01, 1e6).filter(lambda x: not float(x).is_integer()).map(repr),
            _not_a_number(),
        ]
    if kind is float:
        options.append(_not_a_number())
    if kind in (int, float) and low is not None:
        below = (
            st.integers(-(2**40), math.ceil(low) - (1 if low_closed else 0))
            if kind is int
            else st.floats(-1e9, low, exclude_max=low_closed)
        )
        options.append(below.filter(lambda v: v < low or (v == low and not low_closed)).map(str))
    if kind in (int, float) and high is not None and not math.isinf(high):
        above = st.integers(math.floor(high) + 1, 2**40) if kind is int else st.floats(high, 1e9, exclude_min=high_closed)
        options.append(above.map(str))
    if kind is bool:
        options.append(_not_a_number())
    if kind is str and "enum" in f.rule.schema:
        options.append(
            st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=10).filter(
                lambda t: t not in f.rule.schema["enum"]
            )
        )
    if kind is str:
        options.append(st.sampled_from(["", " "]))
    return st.one_of(options)


def bad_words(f: Field) -> st.SearchStrategy[list[str]]:
    """The words after `f`'s flag: a bad value (a list: one bad item among good ones, or no item)."""
    if f.kind is not list:
        return bad_scalars(f, f.kind).map(lambda v: [v])
    good = [str(v) for v in (f.default or [])] or ["0", "1"]
    lists = [bad_scalars(f, f.item).map(lambda v: [*good[:1], v])]
    if f.min_items:
        lists.append(st.just([]))
    if f.unique:
        lists.append(st.just([good[0], good[0]]))
    return st.one_of(lists)


def flag_fields() -> list[tuple[str, str, str, st.SearchStrategy[list[str]]]]:
    """(command, flag, what the error must name, bad words) of every flag of every command: from the field
    a flag holds, or from its choices."""
    found = []
    parser = cli.build_parser()
    commands = [("", parser)] + [
        (name, sub) for action in parser._subparsers._group_actions for name, sub in action.choices.items()
    ]
    for command, sub in commands:
        for action in sub._actions:
            if not action.option_strings:
                continue
            f = getattr(action.type, "field", None)
            if f is not None:
                found.append((command, action.option_strings[0], f.name, bad_words(f)))
            elif action.choices:
                choices = [str(c) for c in action.choices]
                words = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8).filter(
                    lambda t, c=choices: t not in c
                )
                found.append((command, action.option_strings[0], action.option_strings[0], words.map(lambda w: [w])))
    return found


FLAGS = flag_fields()
FIELD_COMMANDS = {command for command, _, _, _ in FLAGS}


def test_the_fuzzer_reaches_every_field():
    for fields, command in ((simulate_params.FIELDS, "simulate"), (binary_config.FIELDS, "binary-simulate")):
        assert {name for c, _, name, _ in FLAGS if c == command} >= {f.name for f in fields}
    assert {"", "classify", "refine-plan", "boundaries", "plot-phase", "cost", "design-space", "paper-figures"} <= FIELD_COMMANDS


def base_argv(command: str, made: dict[str, Path], out: Path) -> list[str]:
    """A valid call of `command` (the fuzzer breaks one flag of it)."""
    jobs = [str(made["job4"]), str(made["job2"])]
    return {
        "": ["params", "simulate"],
        "params": ["params", "simulate"],
        "simulate": ["simulate", *SIM, "--out", str(out / "o.nc")],
        "binary-simulate": ["binary-simulate", "--n-runs", "4", "--epochs", "1", "--device", "cpu", "--out", str(out / "b.nc")],
        "classify": ["classify", str(made["sweep"]), "--out", str(out / "p.nc")],
        "refine-plan": [
            "refine-plan",
            *jobs,
            "--out",
            str(out / "plan.json"),
            *PLAN_FLAGS,
        ],
        "boundaries": [
            "boundaries",
            str(made["phase"]),
            "--plan",
            str(out / "plan.json"),
            "--out",
            str(out / "b.nc"),
            "--max-samples",
            "1",
        ],
        "plot-phase": ["plot-phase", str(made["phase"]), "--outdir", str(out / "fig")],
        "cost": ["cost", str(made["config"])],
        "design-space": ["design-space", str(made["job4"]), "--out", str(out / "d.nc")],
        "paper-figures": [
            "paper-figures",
            str(made["sweep"]),
            str(made["phase"]),
            str(made["phase"]),
            "--outdir",
            str(out / "f"),
        ],
    }[command]


@pytest.fixture(scope="module")
def made_with_config(made, tmp_path_factory) -> dict[str, Path]:
    config = tmp_path_factory.mktemp("config") / "tiny.yaml"
    config.write_text(yaml.safe_dump(load_tiny()))
    return {**made, "config": config}


@FUZZ
@given(data=st.data())
def test_fuzz_every_flag_of_every_command(data, made_with_config, tmp_path_factory, capsys):
    command, flag, name, strategy = data.draw(st.sampled_from(FLAGS), label="flag")
    words = data.draw(strategy, label="words")
    out = tmp_path_factory.mktemp("fuzz")
    argv = base_argv(command, made_with_config, out)
    given_flags = {w for w in argv if w.startswith("--")}
    if flag in given_flags:  # replace the base's value of this flag
        i = argv.index(flag)
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        argv = argv[:i] + argv[j:]
    argv = [flag, *words, *argv] if command == "" else [*argv[:1], flag, *words, *argv[1:]]
    before = snapshot(out), snapshot(made_with_config["sweep"].parent)
    code, err = run(capsys, argv)
    # a word that starts with "-" after a list flag is read as an unknown option: argparse names that word
    assert_named(code, err, [name, flag, *(f"unrecognized arguments: {w}" for w in words if w.startswith("-"))])
    assert (snapshot(out), snapshot(made_with_config["sweep"].parent)) == before


BINARY = ["--n-runs", "4", "--epochs", "1", "--device", "cpu"]
FIELD_TABLES = [("simulate", f, SIM) for f in simulate_params.FIELDS] + [
    ("binary-simulate", f, BINARY) for f in binary_config.FIELDS
]


def without(base: list[str], flag: str) -> list[str]:
    """`base` without `flag` and its words (a YAML value is overridden by a flag)."""
    out, keep = [], True
    for word in base:
        keep = word != flag if word.startswith("--") else keep
        out += [word] if keep else []
    return out


@FUZZ
@given(data=st.data())
def test_fuzz_every_field_as_a_yaml_key(data, tmp_path_factory, capsys):
    """The same bad values as the flags, given as keys of the command's YAML file (another parser)."""
    command, f, base = data.draw(st.sampled_from(FIELD_TABLES), label="field")
    words = data.draw(bad_words(f), label="words")
    folder = tmp_path_factory.mktemp("yaml")
    config = folder / "c.yaml"
    config.write_text(yaml.safe_dump({f.name: words if f.kind is list else words[0]}))
    before = snapshot(folder)
    code, err = run(capsys, [command, "--config", str(config), *without(base, f.flag), "--out", str(folder / "out.nc")])
    assert_named(code, err, [f.name])
    assert snapshot(folder) == before


ALIAS_FIELDS = [(old, binary_config.BY_NAME[new]) for old, new in binary_config.ALIASES.items()]


@FUZZ
@given(data=st.data())
def test_fuzz_the_binary_familys_old_names(data, tmp_path_factory, capsys):
    """The deprecated names (binary ALIASES, flags without a field of their own) take the bad values of the
    field they stand for, as a flag or a YAML key; the error names the old name the user gave."""
    old, f = data.draw(st.sampled_from(ALIAS_FIELDS), label="alias")
    words = data.draw(bad_words(f), label="words")
    folder = tmp_path_factory.mktemp("alias")
    flag = "--" + old.replace("_", "-")
    if data.draw(st.booleans(), label="as a flag"):
        given_as = [flag, *words]
    else:
        config = folder / "c.yaml"
        config.write_text(yaml.safe_dump({old: words if f.kind is list else words[0]}))
        given_as = ["--config", str(config)]
    before = snapshot(folder)
    code, err = run(capsys, ["binary-simulate", *given_as, *BINARY, "--out", str(folder / "out.nc")])
    assert_named(code, err, [old, flag])  # argparse names the flag itself (e.g. a value that looks like one)
    assert snapshot(folder) == before


def _schema_leaves(schema: dict, prefix: tuple = ()) -> list[tuple[tuple, dict]]:
    """(key path, schema node) of every leaf key of the workflow schema that the tiny config has."""
    leaves = []
    for key, node in schema.get("properties", {}).items():
        if "$ref" in node:
            continue
        if node.get("type") == "object" and "properties" in node:
            leaves += _schema_leaves(node, (*prefix, key))
        elif isinstance(node.get("type"), (str, list)):
            leaves.append(((*prefix, key), node))
    return leaves


SCHEMA = yaml.safe_load((Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text())
TINY_KEYS = {
    path: node for path, node in _schema_leaves(SCHEMA) if path[0] not in ("binary", "paper", "refine") and path != ("families",)
}


def bad_config_values(node: dict) -> st.SearchStrategy[object]:
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    options: list[st.SearchStrategy[object]] = [st.sampled_from([math.nan, math.inf, -math.inf, 2**64, ""])]
    if "enum" in node:
        options.append(st.text(min_size=1, max_size=6).filter(lambda t: t not in node["enum"]))
    for bound, side in (("minimum", -1), ("exclusiveMinimum", 0)):
        if bound in node and "integer" in types or (bound in node and "number" in types):
            options.append(st.just(node[bound] + side if side else node[bound]))
    if "array" in types:
        options.append(st.just([]) if node.get("minItems") else st.just([math.nan]))
    if types == ["boolean"]:
        options.append(st.sampled_from(["maybe", 3]))
    return st.one_of(options)


@FUZZ
@given(data=st.data())
def test_fuzz_every_key_of_the_workflow_config(data, tmp_path_factory, capsys):
    path = data.draw(st.sampled_from(sorted(TINY_KEYS)), label="key")
    value = data.draw(bad_config_values(TINY_KEYS[path]), label="value")
    folder = tmp_path_factory.mktemp("config")
    config_path = _sweep_config(folder, _setter(*path, value=value))
    before = snapshot(folder)
    code, err = run(capsys, ["sweep-check", config_path, "--base", ""])
    assert_named(code, err, [".".join(path), path[-1]])
    assert snapshot(folder) == before


# ------------------------------------------------------------------------------------------------ bad files


def _garbage(folder: Path, made: dict[str, Path]) -> dict[str, Callable[[Path], None]]:
    """How to spoil a file argument: each writes the bad file at the given path."""

    def truncated(path: Path) -> None:
        raw = made["sweep"].read_bytes()
        path.write_bytes(raw[: len(raw) // 2])

    def foreign(path: Path) -> None:
        xr.Dataset({"temperature": ("x", np.arange(3.0))}).to_netcdf(path, engine="netcdf4")

    return {
        "missing": lambda path: None,
        "empty": lambda path: path.write_bytes(b""),
        "garbage": lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)),
        "text": lambda path: path.write_text("M: 20\n"),
        "truncated": truncated,
        "foreign-netcdf": foreign,
        "folder": lambda path: path.mkdir(),
        **{f"kind-{k}": (lambda src: lambda path: shutil.copy(src, path))(made[k]) for k in ("job4", "point4", "sweep", "phase")},
    }


# (command, where the bad file goes, the kinds that are right there) -> argv given the bad path
FILE_ARGS: list[tuple[str, Callable[[dict, Path, Path], list[str]], tuple[str, ...]]] = [
    ("gather-point", lambda m, bad, out: ["gather-point", str(bad), "--out", str(out / "p.nc")], ("job4",)),
    ("gather", lambda m, bad, out: ["gather", str(m["point4"]), str(bad), "--out", str(out / "o.nc")], ("point4",)),
    ("classify", lambda m, bad, out: ["classify", str(bad), "--out", str(out / "p.nc")], ("sweep",)),
    ("plot-phase", lambda m, bad, out: ["plot-phase", str(bad), "--outdir", str(out / "fig")], ("phase",)),
    ("tables", lambda m, bad, out: ["tables", str(bad), "--outdir", str(out / "t")], ("phase",)),
    (
        "boundaries",
        lambda m, bad, out: ["boundaries", str(bad), "--plan", "x.json", "--out", str(out / "b.nc"), "--max-samples", "1"],
        ("phase",),
    ),
    (
        "compare-families-phase",
        lambda m, bad, out: ["compare-families", str(bad), str(m["sweep"]), "--out", str(out / "c")],
        ("phase",),
    ),
    (
        "compare-families-measures",
        lambda m, bad, out: ["compare-families", str(m["phase"]), str(bad), "--out", str(out / "c")],
        (),
    ),
    ("binary-gather", lambda m, bad, out: ["binary-gather", str(bad), "--out", str(out / "m.nc")], ()),
    ("binary-plot", lambda m, bad, out: ["binary-plot", str(bad), "--out", str(out / "b")], ()),
    (
        "refine-plan",
        lambda m, bad, out: [
            "refine-plan",
            str(bad),
            "--out",
            str(out / "p.json"),
            *PLAN_FLAGS,
        ],
        ("job4",),
    ),
    ("design-space", lambda m, bad, out: ["design-space", str(bad), "--out", str(out / "d.nc")], ("job4",)),
    (
        "paper-figures",
        lambda m, bad, out: ["paper-figures", str(m["sweep"]), str(m["phase"]), str(bad), "--outdir", str(out / "f")],
        (),
    ),
]
YAML_ARGS: list[tuple[str, Callable[[Path, Path], list[str]]]] = [
    ("simulate", lambda bad, out: ["simulate", "--config", str(bad), "--out", str(out / "o.nc")]),
    ("binary-simulate", lambda bad, out: ["binary-simulate", "--config", str(bad), "--out", str(out / "b.nc")]),
    ("sweep-check", lambda bad, out: ["sweep-check", str(bad), "--base", ""]),
    ("cost", lambda bad, out: ["cost", str(bad)]),
]
BAD_YAML = {
    "missing": None,
    "garbage": b"\xff\xfe\x00garbage\x00",
    "syntax": b"M: [1, 2\n",
    "list": b"- 1\n- 2\n",
    "duplicate": b"seed: 1\nseed: 2\n",
    "scalar": b"42\n",
}


SPOILS = (
    "missing",
    "empty",
    "garbage",
    "text",
    "truncated",
    "foreign-netcdf",
    "folder",
    "kind-job4",
    "kind-point4",
    "kind-sweep",
    "kind-phase",
)
# every spoiled file crossed with every file argument, except a file of the kind the argument takes
BAD_FILE_CASES = [
    pytest.param(command, argv, spoil, id=f"{command}-{spoil}")
    for command, argv, right in FILE_ARGS
    for spoil in SPOILS
    if spoil.removeprefix("kind-") not in right
]


@pytest.mark.parametrize(("command", "argv", "spoil"), BAD_FILE_CASES)
def test_bad_file_arguments(command, argv, spoil, made, tmp_path, capsys):
    bad = tmp_path / "in" / "bad.nc"
    bad.parent.mkdir()
    _garbage(tmp_path, made)[spoil](bad)
    before = snapshot(tmp_path), snapshot(made["sweep"].parent)
    code, err = run(capsys, argv(made, bad, tmp_path / "out"))
    assert_named(code, err, [str(bad)])
    assert (snapshot(tmp_path), snapshot(made["sweep"].parent)) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


@pytest.mark.parametrize("spoil", sorted(BAD_YAML))
@pytest.mark.parametrize(("command", "argv"), YAML_ARGS, ids=[c for c, _ in YAML_ARGS])
def test_bad_config_files(command, argv, spoil, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    if BAD_YAML[spoil] is not None:
        bad.write_bytes(BAD_YAML[spoil])
    before = snapshot(tmp_path)
    code, err = run(capsys, argv(bad, tmp_path / "out"))
    assert_named(code, err, [str(bad)])
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["gather", "classify", "simulate"])
def test_unwritable_outputs(command, made, capsys):
    out = "/proc/tdlm/out.nc"  # no folder can be made there, not even by root
    argv = {
        "gather": ["gather", str(made["point4"]), "--out", out],
        "classify": ["classify", str(made["sweep"]), "--out", out],
        "simulate": ["simulate", *SIM, "--out", out],
    }[command]
    code, err = run(capsys, argv)
    assert_named(code, err, [out, "/proc/tdlm"])
