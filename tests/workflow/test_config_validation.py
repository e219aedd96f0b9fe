"""Bad workflow configs fail before anything runs, with a message that names the offending field.

Each case starts from tests/workflow/tiny.yaml (valid: checked by the control test) and breaks one
thing. `snakemake -n` validates with the JSON schema and then with tdlm.sweep.jobs.check (the checks a
schema cannot make, such as M against the data pool); `tdlm sweep-check` runs only the latter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tdlm.data import load_pool

from helpers.workflow import MNIST01, REPO, load_tiny, run_snakemake, run_tdlm, write_config


def _pool_limit() -> int:
    pool = load_pool("digits", [0, 1])
    return 2 * min(int((pool.labels == c).sum()) for c in (0, 1))


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def apply(config: dict) -> None:
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return apply


# name -> (how to break the tiny config, words snakemake must print, words sweep-check must print or None
#          when the check belongs to the schema only)
CASES: dict[str, tuple[Callable[[dict], None], list[str], list[str] | None]] = {
    "unknown_key": (
        _set(("n_replica",), 4),
        ["Additional properties are not allowed", "'n_replica' was unexpected", "allowed keys: families, binary, run"],
        None,
    ),
    "thermostat_enum": (
        _set(("thermostat",), "langevin"),
        ["'langevin' is not one of ['per_step', 'literal']", "thermostat: 'langevin' is not one of"],
        ["thermostat: got 'langevin'; allowed values: per_step, literal"],
    ),
    "alpha_both_lists": (
        _set(("grids", 0, "alpha"), {"M": [20, 40], "N": [2, 4]}),
        ["grids.0.alpha: {", "is not valid under any of the given schemas", "(fixed M)", "(fixed N)", "pairs"],
        ["grids[0].alpha", "exactly one of M and N must be a list", "(fixed M)", "(fixed N)"],
    ),
    "negative_t_w": (
        _set(("t_w",), [10, -5]),
        ["-5 is less than the minimum of 0", "t_w.1: -5 is less"],
        ["t_w: got [10, -5]; allowed values: distinct integers >= 0"],
    ),
    "device_enum": (
        _set(("device",), "tpu"),
        ["'tpu' is not one of ['auto', 'cpu', 'cuda']", "device: 'tpu' is not one of"],
        ["device: got 'tpu'; allowed values: auto, cpu, cuda"],
    ),
    "threshold_ge_1": (
        _set(("classify", "threshold"), 1.0),
        ["1.0 is greater than or equal to the maximum of 1", "classify.threshold: 1.0 is greater"],
        None,
    ),
    "overlap_enum": (
        _set(("classify", "overlap"), "Q_norm"),
        ["'Q_norm' is not one of ['q_norm', 'q']", "classify.overlap: 'Q_norm' is not"],
        None,
    ),
    # issue 25: values the schema passes (NaN is not below a minimum, JSON has no int64) and that used to fail
    # only after every simulation
    "seed_beyond_int64": (
        _set(("seed",), 2**64),
        ["seed: got 18446744073709551616: beyond the int64 range"],
        ["seed: got 18446744073709551616: beyond the int64 range"],
    ),
    "threshold_nan": (
        _set(("classify", "threshold"), float("nan")),
        ["classify.threshold: got nan: not a finite number"],
        ["classify.threshold: got nan: not a finite number"],
    ),
    "run_dotdot": (
        _set(("run",), ".."),
        ["run: got '..'; allowed values: one folder name"],
        ["run: got '..'; allowed values: one folder name"],
    ),
    "M_exceeds_pool": (
        _set(("grids", 0, "alpha"), {"N": 4, "M": [20, "LIMIT+2"]}),
        ["M = LIMIT+2 exceeds the balanced pool of digits classes [0, 1]", "allowed values: M <= LIMIT"],
        ["M = LIMIT+2 exceeds the balanced pool", "allowed values: M <= LIMIT"],
    ),
}


SCHEMA_CASES = (
    "unknown_key",
    "thermostat_enum",
    "alpha_both_lists",
    "negative_t_w",
    "device_enum",
    "threshold_ge_1",
    "overlap_enum",
)


def _fill(obj: Any, limit: int) -> Any:
    """Replace the LIMIT placeholders by the digits pool size (computed, not copied from a run)."""
    if isinstance(obj, str):
        text = obj.replace("LIMIT+2", str(limit + 2)).replace("LIMIT", str(limit))
        return int(text) if text.isdigit() else text
    if isinstance(obj, list):
        return [_fill(x, limit) for x in obj]
    if isinstance(obj, dict):
        return {k: _fill(v, limit) for k, v in obj.items()}
    return obj


def _bad_config(tmp_path, name: str) -> tuple:
    limit = _pool_limit()
    breaker, words, check_words = CASES[name]
    config = copy.deepcopy(load_tiny())
    breaker(config)
    config = _fill(config, limit)
    path = write_config(tmp_path / f"{name}.yaml", config)
    return path, _fill(words, limit), _fill(check_words, limit) if check_words else None


def test_control_tiny_config_is_valid(workflow_copy):
    result = run_snakemake(
        workflow_copy, "-n", "--configfile", str(write_config(workflow_copy / "ok.yaml", load_tiny())), timeout=240
    )
    assert result.returncode == 0, result.output[-3000:]
    assert run_tdlm("sweep-check", str(workflow_copy / "ok.yaml"), cwd=workflow_copy).returncode == 0


@pytest.mark.parametrize("name", list(CASES))
def test_snakemake_dry_run_rejects_bad_config(workflow_copy, name):
    path, words, _ = _bad_config(workflow_copy, name)
    result = run_snakemake(workflow_copy, "-n", "--configfile", str(path), timeout=240)
    assert result.returncode != 0
    for word in words:
        assert word in result.output, f"{word!r} not in:\n{result.output[-3000:]}"
    assert "rule simulate" not in result.output  # nothing was scheduled
    # issue 27: the offending keys, not the whole schema (437 lines before)
    assert "schema['properties']" not in result.output and len(result.output.splitlines()) < 40, result.output
    if name in SCHEMA_CASES:
        assert "`tdlm sweep-check my.yaml` runs the same checks" in result.output
    assert not (workflow_copy / "results").exists()


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case[2]])
def test_sweep_check_rejects_bad_config(workflow_copy, name):
    path, _, words = _bad_config(workflow_copy, name)
    result = run_tdlm("sweep-check", str(path), cwd=workflow_copy)
    assert result.returncode == 2, result.output
    assert result.stderr.startswith("tdlm sweep-check: error:")
    for word in words:
        assert word in result.stderr, f"{word!r} not in:\n{result.stderr}"
    assert result.stdout == ""  # no job table


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if not case[2]])
def test_sweep_check_schema_only_cases(workflow_copy, name):
    path, _, _ = _bad_config(workflow_copy, name)
    result = run_tdlm("sweep-check", str(path), cwd=workflow_copy)
    assert result.returncode != 0


@pytest.mark.skipif(not MNIST01.is_dir(), reason=f"MNIST 0/1 IDX folder {MNIST01} not available")
def test_validation_config_lists_the_papers_three_points(workflow_copy):
    """config/validation.yaml (docs/validation.md) passes schema and sweep checks: N = 5, 10 and 20 at M = 2000
    (ln alpha 6.0, 5.3, 4.6), L = 10, two samples each, classified on the normalised overlap."""
    config = yaml.safe_load((REPO / "config" / "validation.yaml").read_text())
    assert config["classify"]["overlap"] == "q_norm" and config["t_star"] == 500000 and config["t_w"] == [50000]
    config["data"]["path"] = str(MNIST01)
    path = write_config(workflow_copy / "validation.yaml", config)
    result = run_tdlm("sweep-check", str(path), cwd=workflow_copy)
    assert result.returncode == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert sorted((int(r[0]), int(r[1]), int(r[2]), int(r[4])) for r in rows) == [
        (2000, 5, 10, 0),
        (2000, 5, 10, 1),
        (2000, 10, 10, 0),
        (2000, 10, 10, 1),
        (2000, 20, 10, 0),
        (2000, 20, 10, 1),
    ]


def test_exponent_form_without_a_dot_is_a_number(workflow_copy):
    """issue 27: `1e-5` and `5e2` as people type them (YAML 1.1 reads them as text) pass the schema and the
    sweep checks under `snakemake -n` and `tdlm sweep-check`, and reach the jobs as numbers."""
    text = yaml.safe_dump(load_tiny(), sort_keys=False)
    for old, new in (("- 1.0e-05", "- 1e-5"), ("eta: 0.001", "eta: 1e-3"), ("t_star: 200", "t_star: 2e2")):
        assert old in text
        text = text.replace(old, new)
    assert isinstance(yaml.safe_load(text)["eta"], str)  # what the workflow is given
    path = workflow_copy / "exponents.yaml"
    path.write_text(text)
    result = run_snakemake(workflow_copy, "-n", "--configfile", str(path), timeout=240)
    assert result.returncode == 0, result.output[-3000:]
    assert "T~1e-05" in result.output and "rule simulate" in result.output
    check = run_tdlm("sweep-check", str(path), cwd=workflow_copy)
    assert check.returncode == 0, check.output
    assert "0.00001" in check.stdout
