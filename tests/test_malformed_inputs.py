"""Malformed inputs, table-driven: every one ends in a named error (exit 2, or 3 for a divergence), none in a
traceback, none silently accepted, and none leaves a result file behind.

The commands run in-process through `tdlm.cli.main` (an uncaught exception would fail the test), the
workflow cases through `snakemake -n` on a copy of the workflow (nothing may be scheduled).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tdlm import cli

from helpers.workflow import copy_workflow, load_tiny, run_snakemake, write_config

# a tiny simulate job: a run that is accepted takes about a second
SIM = [
    "--M",
    "20",
    "--N",
    "4",
    "--L",
    "3",
    "--t-w",
    "10",
    "--t-star",
    "50",
    "--n-replicas",
    "2",
    "--n-test",
    "20",
    "--device",
    "cpu",
]
# a tiny binary point
BIN = ["--n-train", "200", "--n-runs", "4", "--epochs", "1", "--mc-chains", "4", "--landscape-n-x", "3", "--device", "cpu"]


def _file(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def _corrupt_mnist(tmp: Path) -> str:
    folder = tmp / "mnist"
    folder.mkdir(exist_ok=True)
    (folder / "images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (folder / "labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return str(folder)


# (id, arguments after the command given the temporary folder, exit code, words the error must hold)
SIMULATE = [
    ("thermostat", lambda t: ["--thermostat", "verlet"], 2, ["thermostat", "per_step"]),
    ("eta-1", lambda t: ["--eta", "1"], 2, ["eta", "0 < eta < 1"]),
    ("eta-0", lambda t: ["--eta", "0"], 2, ["eta", "0 < eta < 1"]),
    ("dt-0", lambda t: ["--dt", "0"], 2, ["dt", "> 0"]),
    ("dt-nan", lambda t: ["--dt", "nan"], 2, ["dt", "nan"]),
    ("dt-inf", lambda t: ["--dt", "inf"], 2, ["dt", "inf"]),
    ("T-negative", lambda t: ["--T=-1e-5"], 2, ["T", ">= 0"]),
    ("T-negative-as-option", lambda t: ["--T", "-1e-5"], 2, ["--T", "expected one argument"]),
    ("T-inf", lambda t: ["--T", "inf"], 2, ["T", "inf"]),
    ("N-0", lambda t: ["--N", "0"], 2, ["N", ">= 1"]),
    ("N-fraction", lambda t: ["--N", "2.5"], 2, ["N", "int"]),
    ("N-text", lambda t: ["--N", "four"], 2, ["N", "int"]),
    ("L-1", lambda t: ["--L", "1"], 2, ["L", ">= 2"]),
    ("M-odd", lambda t: ["--M", "21"], 2, ["M", "multiple"]),
    ("M-beyond-pool", lambda t: ["--M", "1000"], 2, ["M", "larger than"]),
    ("one-replica", lambda t: ["--n-replicas", "1"], 2, ["n_replicas", ">= 2"]),
    ("t_w-negative", lambda t: ["--t-w", "10", "-5"], 2, ["t_w", ">= 0"]),
    ("t_w-repeated", lambda t: ["--t-w", "10,10"], 2, ["t_w", "distinct"]),
    ("t_star-0", lambda t: ["--t-star", "0"], 2, ["t_star", ">= 1"]),
    ("samples-negative", lambda t: ["--samples", "-1"], 2, ["samples", ">= 0"]),
    ("n_test-0", lambda t: ["--n-test", "0"], 2, ["n_test", ">= 1"]),
    ("record-0", lambda t: ["--record-per-decade", "0"], 2, ["record_per_decade", ">= 1"]),
    ("progress-0", lambda t: ["--progress-seconds", "0"], 2, ["progress_seconds", "> 0"]),
    ("checkpoint-steps-negative", lambda t: ["--checkpoint-steps", "-1"], 2, ["checkpoint_steps", ">= 0"]),
    ("device", lambda t: ["--device", "tpu"], 2, ["device", "auto, cpu, cuda"]),
    ("dtype", lambda t: ["--dtype", "float16"], 2, ["dtype", "float32"]),
    ("store-spins", lambda t: ["--store-spins", "maybe"], 2, ["store_spins", "bool"]),
    ("source", lambda t: ["--data-source", "cifar"], 2, ["data.source", "digits, mnist"]),
    ("mnist-without-path", lambda t: ["--data-source", "mnist"], 2, ["data.path", "required"]),
    (
        "mnist-missing-folder",
        lambda t: ["--data-source", "mnist", "--data-path", str(t / "nowhere")],
        2,
        ["data.path", "not found"],
    ),
    ("mnist-corrupt-gz", lambda t: ["--data-source", "mnist", "--data-path", _corrupt_mnist(t)], 2, ["data.path", "cannot read"]),
    ("class-not-in-data", lambda t: ["--data-classes", "0", "10"], 2, ["data.classes", "unknown class"]),
    ("one-class", lambda t: ["--data-classes", "3"], 2, ["data.classes", ">= 2"]),
    ("unknown-flag", lambda t: ["--n-replica", "4"], 2, ["unrecognized", "--n-replica"]),
    ("yaml-unknown-key", lambda t: ["--config", _file(t, "c.yaml", "foo: 1\n")], 2, ["foo", "unknown key"]),
    ("yaml-syntax", lambda t: ["--config", _file(t, "c.yaml", "M: [1, 2\n")], 2, ["--config", "not valid YAML"]),
    ("yaml-list", lambda t: ["--config", _file(t, "c.yaml", "- 1\n- 2\n")], 2, ["mapping"]),
    ("yaml-missing", lambda t: ["--config", str(t / "none.yaml")], 2, ["--config", "cannot read"]),
    ("yaml-bad-nested", lambda t: ["--config", _file(t, "c.yaml", "data: {colour: red}\n")], 2, ["data.colour", "unknown key"]),
    ("out-unwritable", lambda t: ["--out", "/proc/tdlm/job.nc"], 2, ["--out", "cannot write"]),
    ("out-is-folder", lambda t: ["--out", str(t)], 2, ["--out", "folder"]),
    ("diverges-dt", lambda t: ["--dt", "1", "--t-star", "200"], 3, ["diverged", "layer"]),
    ("diverges-T", lambda t: ["--T", "1e4"], 3, ["diverged", "layer"]),
]

BINARY = [
    ("widths-last-below-classes", lambda t: ["--widths", "20,15,15,1"], 2, ["widths", "classes"]),
    ("widths-wrong-length", lambda t: ["--widths", "20,15,10"], 2, ["widths", "n_layers"]),
    ("widths-first", lambda t: ["--widths", "64", "15", "15", "10"], 2, ["widths", "n_components"]),
    ("min-accuracy-1", lambda t: ["--min-accuracy", "1.0"], 2, ["min_accuracy"]),
    ("min-accuracy-above-1", lambda t: ["--min-accuracy", "1.5"], 2, ["min_accuracy", "[0, 1]"]),
    ("n-train-beyond-data", lambda t: ["--n-train", "100000"], 2, ["n_train"]),
    ("n-components-beyond-pixels", lambda t: ["--n-train", "1000", "--n-components", "1000"], 2, ["n_components"]),
    ("n-components-beyond-n-train", lambda t: ["--n-components", "500"], 2, ["n_components", "n_train"]),
    ("mnist-missing-folder", lambda t: ["--dataset", "mnist", "--mnist-dir", str(t / "nowhere")], 2, ["mnist_dir", "not found"]),
    ("mnist-without-dir", lambda t: ["--dataset", "mnist"], 2, ["mnist_dir", "required"]),
    ("yaml-syntax", lambda t: ["--config", _file(t, "b.yaml", "n_runs: [1\n")], 2, ["--config", "not valid YAML"]),
    ("yaml-unknown-key", lambda t: ["--config", _file(t, "b.yaml", "learning_rate: 0.1\n")], 2, ["learning_rate", "unknown key"]),
    ("landscape-reference", lambda t: ["--landscape-reference", "1000"], 2, ["landscape_reference", "n_runs"]),
    ("lr-inf", lambda t: ["--lr", "inf"], 2, ["lr", "inf"]),
    ("lr-negative", lambda t: ["--lr", "-0.1"], 2, ["lr", "> 0"]),
    ("n-runs-1", lambda t: ["--n-runs", "1"], 2, ["n_runs", ">= 2"]),
    ("n-runs-text", lambda t: ["--n-runs", "many"], 2, ["n_runs", "cannot read"]),
    ("bp-damping-1", lambda t: ["--bp-damping", "1"], 2, ["bp_damping", "[0, 1)"]),
    ("landscape-x-order", lambda t: ["--landscape-x-min", "2", "--landscape-x-max", "1"], 2, ["landscape_x_max"]),
    ("out-suffix", lambda t: ["--out", str(t / "result.txt")], 2, ["--out", ".nc"]),
    ("out-unwritable", lambda t: ["--out", "/proc/tdlm/b.nc"], 2, ["--out", "cannot write"]),
]


def _merged(base: list[str], extra: list[str]) -> list[str]:
    """`base` flags that `extra` does not give, then `extra` (a flag given twice is itself an error)."""
    given = {word.split("=", 1)[0] for word in extra if word.startswith("--")}
    out, keep = [], True
    for word in base:
        if word.startswith("--"):
            keep = word not in given
        if keep:
            out.append(word)
    return out + extra


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse usage errors
        code = stop.code
    return code, capsys.readouterr().err


def _check(code: int, err: str, expected: int, words: list[str], leftovers: list[Path]) -> None:
    assert code == expected, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    assert not any(p.exists() for p in leftovers), "a result file was written"


@pytest.mark.parametrize(("case", "args", "code", "words"), SIMULATE, ids=[c[0] for c in SIMULATE])
def test_simulate(case, args, code, words, tmp_path, capsys):
    extra = args(tmp_path)
    out = tmp_path / "out" / "job.nc"
    argv = ["--threads", "1", "simulate", *_merged(SIM, extra)]
    if "--out" not in extra:
        argv += ["--out", str(out)]
    _check(*_run(capsys, argv), code, words, [out])


@pytest.mark.parametrize(("case", "args", "code", "words"), BINARY, ids=[c[0] for c in BINARY])
def test_binary_simulate(case, args, code, words, tmp_path, capsys):
    extra = args(tmp_path)
    out = tmp_path / "out" / "b.nc"
    argv = ["--threads", "1", "binary-simulate", *_merged(BIN, extra)]
    if "--out" not in extra:
        argv += ["--out", str(out)]
    _check(*_run(capsys, argv), code, words, [out])


@pytest.fixture(scope="module")
def overlaps(tmp_path_factory) -> Path:
    """A real overlaps.nc of a tiny sweep, built by the commands themselves."""
    folder = tmp_path_factory.mktemp("overlaps")
    assert cli.main(["--threads", "1", "simulate", *_merged(SIM, ["--t-w", "10", "20"]), "--out", str(folder / "job.nc")]) == 0
    assert cli.main(["gather-point", str(folder / "job.nc"), "--out", str(folder / "point.nc")]) == 0
    assert cli.main(["gather", str(folder / "point.nc"), "--out", str(folder / "overlaps.nc")]) == 0
    return folder / "overlaps.nc"


CLASSIFY = [
    ("threshold-nan", ["--threshold", "nan"], ["threshold", "nan"]),
    ("threshold-above-1", ["--threshold", "1.5"], ["threshold", "(0, 1)"]),
    ("threshold-0", ["--threshold", "0"], ["threshold", "(0, 1)"]),
    ("threshold-text", ["--threshold", "high"], ["threshold", "float"]),
    ("n-sigma-negative", ["--n-sigma", "-1"], ["n_sigma", ">= 0"]),
    ("t-w-not-recorded", ["--t-w", "999"], ["t_w", "999"]),
    ("overlap-choice", ["--overlap", "Q_norm"], ["--overlap", "q_norm"]),
    ("missing-input", ["MISSING"], ["No such file"]),
]


@pytest.mark.parametrize(("case", "args", "words"), CLASSIFY, ids=[c[0] for c in CLASSIFY])
def test_classify(case, args, words, overlaps, tmp_path, capsys):
    out = tmp_path / "phase.nc"
    source = str(tmp_path / "missing.nc") if args == ["MISSING"] else str(overlaps)
    flags = [] if args == ["MISSING"] else args
    _check(*_run(capsys, ["classify", source, "--out", str(out), *flags]), 2, words, [out])


def _tiny(**changes) -> dict:
    config = copy.deepcopy(load_tiny())
    for dotted, value in changes.items():
        node, *path = dotted.split("/")
        target = config
        for key in [node, *path][:-1]:
            target = target[int(key) if key.isdigit() else key]
        target[[node, *path][-1]] = value
    return config


# the dry-run cases that tests/workflow/test_config_validation.py does not already run
WORKFLOW = [
    ("classify-t_w", _tiny(**{"classify/t_w": 999}), ["classify.t_w", "999"]),
    ("classes-leave-no-test", _tiny(**{"data/classes": [1, 5], "grids/0/alpha": {"N": 4, "M": [364]}}), ["no test examples"]),
    ("N-huge", _tiny(**{"grids/0/alpha": {"M": 20, "N": [1000000000]}}), ["resources.simulate.mem_mb", "needs about"]),
    ("run-missing", {k: v for k, v in load_tiny().items() if k != "run"}, ["run:", "does not set `run`"]),
]


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("malformed") / "wf")


@pytest.mark.slow
@pytest.mark.parametrize(("case", "config", "words"), WORKFLOW, ids=[c[0] for c in WORKFLOW])
def test_snakemake_dry_run(case, config, words, workflow):
    path = write_config(workflow / f"{case}.yaml", config)
    result = run_snakemake(workflow, "-n", "--configfile", str(path), timeout=240)
    assert result.returncode != 0, result.output[-2000:]
    for word in words:
        assert word in result.output, f"{word!r} not in {result.output[-3000:]}"
    assert "rule simulate" not in result.output
    assert not (workflow / "results").exists()


def test_the_suite_is_large_enough():
    assert len(SIMULATE) + len(BINARY) + len(CLASSIFY) + len(WORKFLOW) >= 60
