"""tdlm.sweep.jobs: alpha forms, grid union, job splitting, job parameters, flags and the pre-submission check."""

from __future__ import annotations

import math
import shlex

import numpy as np
import pytest

from tdlm.cli import build_parser
from tdlm.data import load_pool
from tdlm.fields import ConfigError
from tdlm.md.params import FIELDS, build, load
from tdlm.sweep import jobs as sweep_jobs
from tdlm.sweep import settings

# --- alpha forms --------------------------------------------------------------------------------


def test_alpha_fixed_M_lists_N():
    assert sweep_jobs.alpha_points({"M": 200, "N": [16, 8, 4]}, "x") == [(200, 16), (200, 8), (200, 4)]


def test_alpha_fixed_N_lists_M():
    assert sweep_jobs.alpha_points({"N": 8, "M": [100, 200]}, "x") == [(100, 8), (200, 8)]


def test_alpha_pairs():
    assert sweep_jobs.alpha_points({"pairs": [[100, 4], [300, 12]]}, "x") == [(100, 4), (300, 12)]


def test_alpha_points_are_builtin_ints():
    for m, n in sweep_jobs.alpha_points({"N": np.int64(8), "M": [np.int64(100)]}, "x"):
        assert type(m) is int and type(n) is int


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"M": [20, 40], "N": [2, 4]}, ["exactly one of M and N", "fixed M", "fixed N", "pairs"]),
        ({"M": 20, "N": 4}, ["exactly one of M and N"]),
        ({"pairs": [[20, 4]], "M": 20}, ["either 'pairs' or 'M'/'N'"]),
    ],
)
def test_alpha_bad_forms_name_the_grid_and_the_allowed_forms(spec, words):
    with pytest.raises(ConfigError) as err:
        sweep_jobs.alpha_points(spec, "grids[3].alpha")
    message = str(err.value)
    assert "grids[3].alpha" in message
    for word in words:
        assert word in message


# --- points: union of grids ---------------------------------------------------------------------


def test_points_union_of_grids_has_no_duplicates(config):
    config["grids"] = [
        {"alpha": {"M": 200, "N": [8, 4]}, "L": [3, 8], "T": [1e-5]},
        # overlaps the first grid at (200, 8) and (200, 4) x L=3, adds L=5 and (100, 8)
        {"alpha": {"pairs": [[200, 8], [100, 8], [200, 4]]}, "L": [3, 5], "T": [1e-5]},
    ]
    pts = sweep_jobs.points(config)
    keys = list(zip(pts.M, pts.N, pts.L, pts["T"]))
    assert len(keys) == len(set(keys))
    expected = {(m, n, L, 1e-5) for m, n in [(200, 8), (200, 4)] for L in (3, 8)}
    expected |= {(m, n, L, 1e-5) for m, n in [(200, 8), (100, 8), (200, 4)] for L in (3, 5)}
    assert set(keys) == expected
    for row in pts.itertuples():
        assert row.ln_alpha == pytest.approx(math.log(row.M / row.N))


def test_points_temperatures_deduplicated_after_rounding(config):
    # 1e-5 and 1.0000000001e-5 are the same temperature once rounded to 6 significant digits
    config["grids"] = [
        {"alpha": {"M": 20, "N": [4]}, "L": [2], "T": [1e-5, 0.5]},
        {"alpha": {"M": 20, "N": [4]}, "L": [2], "T": [1.0000000001e-5]},
    ]
    pts = sweep_jobs.points(config)
    assert sorted(pts["T"]) == [1e-5, 0.5]


def test_points_grid_without_T_uses_top_level_T(config):
    config["grids"] = [{"alpha": {"M": 20, "N": [4]}, "L": [2]}]
    config["T"] = 0.25
    assert list(sweep_jobs.points(config)["T"]) == [0.25]
    del config["T"]
    assert list(sweep_jobs.points(config)["T"]) == [1e-5]  # the simulate default


# --- jobs: samples split by samples_per_job -----------------------------------------------------


@pytest.mark.parametrize("samples, per_job", [(1, 1), (5, 1), (5, 2), (6, 3), (7, 10)])
def test_job_splitting_covers_every_sample_once(config, samples, per_job):
    config["samples"], config["samples_per_job"] = samples, per_job
    n = sweep_jobs.n_jobs(config)
    assert n == -(-samples // per_job)
    groups = [sweep_jobs.job_samples(config, j) for j in range(n)]
    assert all(0 < len(g) <= per_job for g in groups)
    flat = [s for g in groups for s in g]
    assert flat == list(range(samples))  # each sample exactly once, in order


@pytest.mark.parametrize("samples, per_job", [(3, 1), (5, 2), (4, 4)])
def test_refinement_extra_jobs_add_new_samples_and_leave_the_grid_jobs_alone(config, samples, per_job):
    """Jobs past the grid's (extra samples of an uncertain point) hold `samples_per_job` new samples each:
    the grid's jobs keep their samples, so adding samples never reruns a finished job."""
    config["samples"], config["samples_per_job"] = samples, per_job
    n0 = sweep_jobs.n_jobs(config)
    grid = [sweep_jobs.job_samples(config, j) for j in range(n0)]
    extra = [sweep_jobs.job_samples(config, j) for j in range(n0, n0 + 2)]
    assert [s for g in grid + extra for s in g] == list(range(samples + 2 * per_job))
    assert sweep_jobs.jobs_of(config, samples) == n0 and sweep_jobs.jobs_of(config, samples + 2 * per_job) == n0 + 2


def test_refine_budget_below_the_samples_is_refused(config):
    config["refine"] = {"rounds": 1, "max_samples": config["samples"] - 1}
    with pytest.raises(ConfigError, match=r"refine.max_samples: got \d+; allowed values: >= samples"):
        sweep_jobs.check(config)


def test_jobs_table_is_points_times_job_groups(config):
    config["samples"], config["samples_per_job"] = 5, 2
    table = sweep_jobs.jobs(config)
    pts = sweep_jobs.points(config)
    assert list(table.columns) == sweep_jobs.JOB_COLUMNS
    assert len(table) == len(pts) * 3
    assert set(table.job) == {0, 1, 2}
    assert not table.duplicated().any()


# --- job parameters and flags -------------------------------------------------------------------


def _assert_builtin(value, where):
    if isinstance(value, list):
        for item in value:
            _assert_builtin(item, where)
    else:
        assert value is None or type(value) in (int, float, str, bool), f"{where}: {type(value)}"


def test_job_overrides_are_builtin_types(config):
    config["samples"], config["samples_per_job"] = 5, 2
    table = sweep_jobs.jobs(config)
    # numpy scalars straight from the table's columns, as a caller may pass them
    M, N, L, T, job = (table[c].to_numpy()[-1] for c in sweep_jobs.JOB_COLUMNS)
    assert isinstance(M, np.integer) and isinstance(T, np.floating)
    values = sweep_jobs.job_overrides(config, M, N, L, T, job)
    for key, value in values.items():
        _assert_builtin(value, key)
    assert values["samples"] == [4]
    assert (values["M"], values["N"], values["L"], values["T"]) == (int(M), int(N), int(L), float(T))
    assert values["data.classes"] == [0, 1]
    # every key is a simulate field, and workflow-only keys are not passed on
    names = {f.name for f in FIELDS}
    assert set(values) <= names
    assert not {"run", "grids", "classify", "resources", "samples_per_job"} & set(values)


def _parse_flags(flags: str) -> dict:
    args = build_parser().parse_args(["simulate", *shlex.split(flags), "--out", "x.nc"])
    return {f.name: getattr(args, f.name) for f in FIELDS if hasattr(args, f.name)}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        # classes other than 0/1, a non-default bool, a tiny temperature, several t_w and a path with a space
        {
            "data": {"source": "digits", "path": "/some where/idx", "classes": [3, 5, 7]},
            "tf32": True,
            "store_spins": True,
            "t_w": [0, 100, 5000],
            "T": 3.5e-7,
            "thermostat": "literal",
            "dtype": "float64",
            "grids": [{"alpha": {"N": 4, "M": [21]}, "L": [5], "T": [3.5e-7]}],
        },
    ],
)
def test_to_flags_round_trips_through_the_cli(config, changes):
    config.update(changes)
    config["samples"], config["samples_per_job"] = 3, 2
    for row in sweep_jobs.jobs(config).itertuples(index=False):
        values = sweep_jobs.job_overrides(config, row.M, row.N, row.L, row.T, row.job)
        parsed = _parse_flags(sweep_jobs.to_flags(values))
        assert load(None, parsed) == build(values)


def test_to_flags_skips_none_and_repeats_list_items():
    flags = sweep_jobs.to_flags({"data.path": None, "t_w": [1, 20], "M": 40, "tf32": False})
    assert "--data-path" not in flags
    assert shlex.split(flags) == ["--t-w", "1", "20", "--M", "40", "--tf32", "False"]


# --- check: errors that name the field ----------------------------------------------------------


def _pool_limit(classes):
    pool = load_pool("digits", classes)
    return len(classes) * min(int((pool.labels == c).sum()) for c in classes)


def test_check_returns_the_job_table(config):
    table = sweep_jobs.check(config)
    assert table.equals(sweep_jobs.jobs(config))


def test_check_M_limit_is_the_balanced_digits_pool(config):
    limit = _pool_limit([0, 1])
    assert limit % 2 == 0 and 300 < limit < 400  # about 180 images per digit in the 8x8 set
    config["grids"] = [{"alpha": {"N": 4, "M": [limit]}, "L": [2]}]
    sweep_jobs.check(config)  # exactly the pool: fine
    config["grids"] = [{"alpha": {"N": 4, "M": [20, limit + 2]}, "L": [2]}]
    with pytest.raises(ConfigError) as err:
        sweep_jobs.check(config)
    message = str(err.value)
    assert "grids" in message and f"M = {limit + 2}" in message
    assert f"allowed values: M <= {limit}" in message
    assert "M = 20 " not in message  # only the offending M is reported


def test_check_pool_depends_on_the_classes(config):
    classes = [0, 1, 2]
    limit = _pool_limit(classes)
    config["data"]["classes"] = classes
    config["grids"] = [{"alpha": {"N": 4, "M": [limit + 3]}, "L": [2]}]
    with pytest.raises(ConfigError, match=rf"M <= {limit}\b"):
        sweep_jobs.check(config)


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("thermostat", "bogus", ["thermostat", "'bogus'", "per_step", "literal"]),
        ("device", "tpu", ["device", "auto", "cpu", "cuda"]),
        ("dtype", "float16", ["dtype", "float32", "float64"]),
        ("eta", 1.5, ["eta", "0 < eta < 1"]),
        ("n_replicas", 1, ["n_replicas", ">= 2"]),
        ("t_w", [-5], ["t_w", ">= 0"]),
        ("t_star", 0, ["t_star", ">= 1"]),
        ("dt", -0.1, ["dt", "> 0"]),
        ("n_test", "many", ["n_test", "int"]),
    ],
)
def test_check_bad_simulate_value_names_the_field(config, key, value, words):
    config[key] = value
    with pytest.raises(ConfigError) as err:
        sweep_jobs.check(config)
    message = str(err.value)
    for word in words:
        assert word in message, message
    # every point is reported with its coordinates
    for row in sweep_jobs.points(config).itertuples():
        assert f"M={row.M} N={row.N} L={row.L}" in message


def test_check_M_not_a_multiple_of_the_classes(config):
    config["grids"] = [{"alpha": {"N": 4, "M": [21]}, "L": [2]}]
    with pytest.raises(ConfigError, match=r"M: got 21; allowed values: multiples of the number of classes \(2\)"):
        sweep_jobs.check(config)


def test_check_reports_every_error_at_once(config):
    config["thermostat"], config["device"] = "bogus", "tpu"
    config["samples_per_job"] = 5
    with pytest.raises(ConfigError) as err:
        sweep_jobs.check(config)
    message = str(err.value)
    assert "thermostat" in message and "device" in message
    assert "samples_per_job: 5 exceeds samples (2)" in message


def test_check_mnist_needs_a_path(config):
    config["data"] = {"source": "mnist", "path": None, "classes": [0, 1]}
    with pytest.raises(ConfigError, match="data.path: required"):
        sweep_jobs.check(config)


def test_coerce_exponents_turns_only_exponent_text_into_numbers():
    """issue 27: `1e-5`/`5e5` (text to YAML 1.1) become floats anywhere in the config, in place; other text,
    the run's folder name and numbers stay as they are."""
    config = {"run": "1e5", "T": ["1e-5", "+2.5E3", ".5e1"], "eta": "5e5", "thermostat": "per_step", "x": "1e-5x"}
    nested = {"grids": [{"T": ["-3e-2"]}], "seed": 7}
    assert settings.coerce_exponents(config) is config
    assert config == {"run": "1e5", "T": [1e-5, 2500.0, 5.0], "eta": 5e5, "thermostat": "per_step", "x": "1e-5x"}
    settings.coerce_exponents(nested)
    assert nested == {"grids": [{"T": [-0.03]}], "seed": 7}


# --- a job's path: its identity, read back without changing a value (issue 26 item 5) -----------


def test_every_job_reads_back_from_its_path_with_the_same_values(config):
    """The workflow names each job by its Paramspace path and reads M, N, L, T, job back from it
    (`job_of`): every value, awkward temperatures included, comes back equal in value and type, so
    the job's flags from its path are the flags from its typed table row."""
    from types import SimpleNamespace

    from snakemake.utils import Paramspace

    config["grids"] = [{"alpha": {"M": 20, "N": [4, 3]}, "L": [2, 5], "T": [1e-5, 0.1 + 0.2, 1 / 3, 2.5e-7, 0.0, 12345.678]}]
    config["samples"], config["samples_per_job"] = 3, 2
    table = sweep_jobs.jobs(config)
    space = Paramspace(table[sweep_jobs.JOB_COLUMNS], filename_params=["job"])
    patterns = list(space.instance_patterns)
    assert len(patterns) == len(table) == 2 * 2 * 6 * 2
    for pattern, row in zip(patterns, table.itertuples(index=False)):
        wildcards = SimpleNamespace(**dict(part.split("~") for part in pattern.split("/")))
        back = sweep_jobs.job_of(wildcards)
        typed = (int(row.M), int(row.N), int(row.L), float(row.T), int(row.job))
        assert back == typed and [type(v) for v in back] == [int, int, int, float, int], pattern
        assert sweep_jobs.to_flags(sweep_jobs.job_overrides(config, *back)) == sweep_jobs.to_flags(
            sweep_jobs.job_overrides(config, *typed)
        )


# --- the workflow settings: one table, one place for each default -------------------------------


def test_settings_defaults_come_from_the_field_tables(config):
    """A config without classify or refine sections gets the tables' defaults (1/e, 0.15), as flags in the
    order finished sweeps' rules have them; a given value replaces its default and a bad one is named."""
    for key in ("classify", "refine"):
        config.pop(key, None)
    assert settings.classify_flags(config) == f"--threshold {math.exp(-1)!r} --n-sigma 2.0 --overlap q_norm"
    refine = settings.refine_settings(config)
    assert refine["resolution"] == settings.RESOLUTION == 0.15 and refine["max_samples"] == config["samples"]
    config["classify"] = {"t_w": 100, "threshold": 0.5}
    assert settings.classify_flags(config) == "--threshold 0.5 --n-sigma 2.0 --overlap q_norm --t-w 100"
    config["refine"] = {"vary": "N", "resolution": 0.1}
    assert settings.refine_flags(config).startswith("--boundaries layer onset --resolution 0.1 --vary N --max-samples")
    config["refine"] = {"resolution": -1}
    with pytest.raises(ConfigError, match=r"refine\.resolution: got -1"):
        settings.refine_settings(config)


def test_the_threshold_and_resolution_are_the_flags_defaults():
    args = build_parser().parse_args(["refine-plan", "j.nc", "--out", "p.json", "--samples", "2", "--samples-per-job", "1"])
    assert (args.threshold, args.resolution, args.boundaries, args.vary) == (settings.THRESHOLD, 0.15, ["layer", "onset"], None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["classify", "o.nc", "--out", "p.nc", "--threshold", "1.5"])


def test_refine_flags_give_back_the_settings_that_boundary_files_record(config):
    """config -> flags of refine-plan/boundaries -> the settings the commands pass on (boundary.nc records
    them as refine.*): the config's values with their nulls resolved, and no workflow-only key (rounds)."""
    from tdlm.sweep.cli import _settings

    config["refine"] = {"rounds": 2, "max_samples": None, "resolution": 0.2}
    flags = shlex.split(settings.refine_flags(config))
    args = build_parser().parse_args(["boundaries", "phase.nc", "--plan", "p.json", "--out", "b.nc", *flags])
    classes = len(config["data"]["classes"])
    resolved = {"vary": "M", "max_samples": config["samples"]}  # the nulls: M, the grid's samples
    expected = {"boundaries": ["layer", "onset"], "resolution": 0.2, **resolved, "m_step": classes}
    assert _settings(args) == expected
