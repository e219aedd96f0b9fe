"""From a workflow config to the table of simulate jobs, with the checks a JSON schema cannot make.

A sweep is the union of one or more grids; each grid is the product of its alpha points
(fixed M with a list of N, fixed N with a list of M, or explicit (M, N) pairs), its depths L
and its temperatures T. Samples are split into jobs of `samples_per_job` each.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from tdlm.fields import INT64_MAX, ConfigError, limit_problem, read_yaml
from tdlm.md.params import FIELDS, build

POINT_COLUMNS = ["M", "N", "L", "T"]
JOB_COLUMNS = POINT_COLUMNS + ["job"]
# sweep-level keys copied verbatim into every job's parameters: every simulate field but the data
# section (a block of its own), the point's coordinates and what each job sets itself
SHARED_KEYS = tuple(f.name for f in FIELDS if "." not in f.name and f.name not in (*POINT_COLUMNS, "samples", "checkpoint_path"))


def format_T(T: float) -> float:
    """Temperatures are rounded to 6 significant digits so that paths are stable."""
    return float(f"{T:.6g}")


def alpha_points(spec: dict[str, Any], where: str) -> list[tuple[int, int]]:
    """(M, N) pairs of one grid's `alpha` entry."""
    forms = [k for k in ("pairs", "M", "N") if k in spec]
    if "pairs" in spec:
        if len(forms) != 1:
            raise ConfigError(
                f"{where}: give either 'pairs' or 'M'/'N', not both; allowed forms: "
                "{M: int, N: [..]}, {N: int, M: [..]}, {pairs: [[M, N], ..]}"
            )
        return [(int(m), int(n)) for m, n in spec["pairs"]]
    M, N = spec.get("M"), spec.get("N")
    if isinstance(M, list) == isinstance(N, list):
        raise ConfigError(
            f"{where}: exactly one of M and N must be a list; allowed forms: "
            "{M: int, N: [..]} (fixed M), {N: int, M: [..]} (fixed N), {pairs: [[M, N], ..]}"
        )
    if isinstance(N, list):
        return [(int(M), int(n)) for n in N]
    return [(int(m), int(N)) for m in M]


def points(config: dict[str, Any]) -> pd.DataFrame:
    """Unique parameter points (M, N, L, T) of the sweep, with ln_alpha."""
    import pandas as pd  # slow to import; every `tdlm` call would pay for it

    rows = []
    for i, grid in enumerate(config["grids"]):
        for M, N in alpha_points(grid["alpha"], f"grids[{i}].alpha"):
            for L in grid["L"]:
                for T in grid.get("T", [config.get("T", 1e-5)]):
                    rows.append({"M": M, "N": N, "L": int(L), "T": format_T(T)})
    df = pd.DataFrame(rows, columns=POINT_COLUMNS).drop_duplicates().reset_index(drop=True)
    df["ln_alpha"] = [math.log(m / n) for m, n in zip(df.M, df.N)]
    return df


def n_jobs(config: dict[str, Any]) -> int:
    return math.ceil(config["samples"] / config.get("samples_per_job", 1))


def job_samples(config: dict[str, Any], job: int) -> list[int]:
    """The samples of job `job` of a point: the grid's `samples` in groups of `samples_per_job`; jobs past
    those (refinement's extra samples of uncertain points) hold `samples_per_job` new samples each, so that
    adding samples never changes a finished job."""
    spj, S, n0 = config.get("samples_per_job", 1), config["samples"], n_jobs(config)
    if job < n0:
        return list(range(job * spj, min((job + 1) * spj, S)))
    start = S + (job - n0) * spj
    return list(range(start, start + spj))


def jobs_of(config: dict[str, Any], samples: int) -> int:
    """Number of jobs of a point that has `samples` samples (the grid's, plus whole extra batches)."""
    return n_jobs(config) + max(0, samples - config["samples"]) // config.get("samples_per_job", 1)


REFINE_DEFAULTS: dict[str, Any] = {
    "rounds": 0,
    "boundaries": ["layer", "onset"],
    "resolution": 0.15,
    "max_samples": None,
    "vary": None,
}


def refine_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The `refine` section with its defaults (max_samples null: the grid's samples, no extra)."""
    settings = {**REFINE_DEFAULTS, **(config.get("refine") or {})}
    settings["max_samples"] = settings["max_samples"] or config["samples"]
    settings["vary"] = settings["vary"] or "M"
    return settings


def jobs(config: dict[str, Any]) -> pd.DataFrame:
    """One row per simulate job (point x sample group); columns M, N, L, T, job."""
    import pandas as pd

    pts = points(config)[POINT_COLUMNS]
    return pts.merge(pd.DataFrame({"job": range(n_jobs(config))}), how="cross")


def job_overrides(config: dict[str, Any], M: int, N: int, L: int, T: float, job: int) -> dict[str, Any]:
    """Dotted simulate parameters of one job, as builtin Python types."""
    values: dict[str, Any] = {k: config[k] for k in SHARED_KEYS if k in config}
    data = config.get("data", {})
    values.update({f"data.{k}": v for k, v in data.items()})
    values.update(M=int(M), N=int(N), L=int(L), T=float(T), samples=job_samples(config, int(job)))
    return values


def to_flags(values: dict[str, Any]) -> str:
    """Command-line flags for `tdlm simulate`."""
    return FIELDS.to_flags(values)


def split_rerun(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values that change a job's result, bookkeeping values: progress and checkpoint cadence). The
    workflow passes the first as rule params (a change reruns the job) and the second in the command
    only, so that changing them does not rerun a finished sweep."""
    rerun = {f.name for f in FIELDS if f.rerun}
    return {k: v for k, v in values.items() if k in rerun}, {k: v for k, v in values.items() if k not in rerun}


def check_config_files(configfiles: list) -> None:
    """Every config file the workflow loaded, the Snakefile's own `config/config.yaml` included, read with
    the loader that refuses a key given twice (Snakemake's loader silently keeps the last one)."""
    for path in configfiles or ():
        read_yaml(path, "configfile")


def check_run_named(configfiles: list, command_line: dict[str, Any]) -> None:
    """A sweep config given on top of the Snakefile's config/config.yaml must name its own `run`: else it
    would inherit the default's and write into results/default/ beside (or over) the default sweep. Every
    config file is read with the loader that refuses a key given twice."""
    data = [read_yaml(path, "--configfile") or {} for path in configfiles or ()]
    if not configfiles or "run" in command_line or any(isinstance(d, dict) and "run" in d for d in data):
        return
    names = ", ".join(map(str, configfiles))
    raise ConfigError(
        f"run: {names} does not set `run`; allowed values: a name for its results/<run>/ folder (letters, digits, _.-)"
    )


def config_value_errors(config: Any, where: str = "") -> list[str]:
    """Every value of a workflow config that no field may take, wherever it is: not finite, an integer
    beyond int64, an empty string (`tdlm.fields.limit_problem`, the rule of every field of the field tables:
    a JSON schema's `minimum` is false for NaN, so NaN passes it), and a `run` that is not one folder name."""
    if isinstance(config, dict):
        errors = [e for key, value in config.items() for e in config_value_errors(value, f"{where}{key}.")]
        run = config.get("run") if not where else None
        if isinstance(run, str) and (run in (".", "..") or "/" in run or "\\" in run):
            errors.append(f"run: got {run!r}; allowed values: one folder name (letters, digits, _.-), not . or ..")
        return errors
    if isinstance(config, list):
        return [e for i, value in enumerate(config) for e in config_value_errors(value, f"{where[:-1]}[{i}].")]
    problem = limit_problem(config)
    return [f"{where[:-1]}: got {config!r}: {problem}"] if problem else []


# a number in exponent form without a dot (`1e-5`, `5e5`): YAML 1.1 (PyYAML, Snakemake) reads it as text
EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def coerce_exponents(config: Any, top: bool = True) -> Any:
    """`config` with every text in exponent form (`EXPONENT_NUMBER`) turned into a float, changed in place
    (Snakemake's `config` is a global the workflow must keep). Everywhere, not only where the schema
    expects a number: no string field takes such text except `run`, a folder name, which is left as is;
    text such as `1e-5x` or `e5` stays text, so the schema still names it."""
    if isinstance(config, dict):
        for k, value in config.items():
            config[k] = value if k == "run" and top else coerce_exponents(value, top=False)
    elif isinstance(config, list):
        config[:] = [coerce_exponents(value, top=False) for value in config]
    elif isinstance(config, str) and EXPONENT_NUMBER.match(config):
        return float(config)
    return config


def check_config_values(config: dict[str, Any]) -> None:
    """`config_value_errors` as one ConfigError (the workflow calls it at parse time, before the schema)."""
    errors = config_value_errors(config)
    if errors:
        raise ConfigError("invalid sweep config:\n  " + "\n  ".join(errors))


def schema_errors(config: dict[str, Any], schema_path: str) -> list[str]:
    """The workflow's JSON schema applied as Snakemake's validate() does: one line per violation, named by
    its key path, with what is allowed there (the keys of a mapping, or the schema's description) instead
    of the whole schema that Snakemake prints."""
    import jsonschema

    schema = read_yaml(schema_path, "--schema")
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<top level>'}: {e.message}{_allowed(e)}" for e in errors]


def _allowed(error: Any) -> str:
    """What the schema allows where `error` (a jsonschema ValidationError) is, as a short suffix."""
    if error.validator == "additionalProperties":
        return "; allowed keys: " + ", ".join(error.schema.get("properties", {}))
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"; allowed values: {description}" if description else ""


def check_schema(config: dict[str, Any], schema_path: str) -> None:
    """`schema_errors` as one short ConfigError with the hint to `tdlm sweep-check` (the workflow calls it
    when Snakemake's validate() fails, whose message is the whole schema)."""
    errors = schema_errors(config, schema_path)
    if errors:
        raise ConfigError(
            "sweep config does not match the schema:\n  "
            + "\n  ".join(errors)
            + "\n(`tdlm sweep-check my.yaml` runs the same checks without Snakemake)"
        ) from None


# a job's memory: the branched state (positions), velocities, gradient, noise, the reference configurations
# and two state-sized temporaries of the forces; the snapshots at each t_w; and the interpreter with torch
STATE_COPIES = 7
BASE_MB = 500
GRID_BYTES = 50  # per drawn time of the log grid: numpy's float and int arrays and a list of Python ints


def job_memory_mb(config: dict[str, Any], M: int, N: int, L: int, n_inputs: int) -> float:
    """Estimated peak memory of one simulate job (MB), for the check against resources.simulate.mem_mb and
    (`tdlm simulate`) against the memory the machine has free."""
    from tdlm.md.layout import Layout

    classes = len(config.get("data", {}).get("classes", [0, 1]))
    n_tw, S = len(config["t_w"]), config.get("samples_per_job", 1)
    layout = Layout((n_inputs,) + (N,) * (L - 1) + (classes,), M, S, 1)
    itemsize = 8 if config.get("dtype") == "float64" else 4
    coordinates = layout.total * (STATE_COPIES * n_tw * config["n_replicas"] + n_tw)
    R = config["n_replicas"]
    t_star, per_decade = config.get("t_star", 1), config.get("record_per_decade", 10)
    drawn = math.log10(max(t_star, 1)) * per_decade + 2  # the log-time grid before rounding merges its times
    times = min(t_star + 1, drawn)
    records = times * n_tw * S * (R * (5 * L + 3) + R * (R - 1) // 2 * 5 * L) * 8  # float64 records
    return BASE_MB + (coordinates * itemsize + records + drawn * GRID_BYTES) / 1e6


def time_errors(t_w: list[int] | tuple[int, ...], t_star: int) -> list[str]:
    """The MD step counter and the time coordinates are int64: t_w + t* must fit."""
    if t_w and max(t_w) + t_star > INT64_MAX:
        return [f"t_star: got {t_star} with t_w up to {max(t_w)}; allowed values: t_w + t_star <= {INT64_MAX} (int64 steps)"]
    return []


def check(config: dict[str, Any]) -> pd.DataFrame:
    """Validate every job's parameters (and the data pool) before anything runs; returns the job table."""
    table = jobs(config)
    errors = []
    if table.empty:
        errors.append("grids: the sweep has no parameter points")
    if config.get("samples_per_job", 1) > config["samples"]:
        errors.append(f"samples_per_job: {config['samples_per_job']} exceeds samples ({config['samples']})")
    seen = set()
    for row in table.itertuples(index=False):
        key = (row.M, row.N, row.L, row.T)
        if key in seen:
            continue
        seen.add(key)
        try:
            params = build(job_overrides(config, row.M, row.N, row.L, row.T, 0))
            errors.extend(time_errors(params.t_w, params.t_star) if len(seen) == 1 else [])
        except ConfigError as err:
            errors.append(f"point M={row.M} N={row.N} L={row.L} T={row.T}: {err}")
    refine = config.get("refine") or {}
    if refine.get("max_samples") is not None and refine["max_samples"] < config["samples"]:
        errors.append(
            f"refine.max_samples: got {refine['max_samples']}; allowed values: >= samples ({config['samples']}), or null (no extra samples)"
        )
    classify_tw = config.get("classify", {}).get("t_w")
    if classify_tw is not None and classify_tw not in config["t_w"]:
        errors.append(f"classify.t_w: got {classify_tw}; allowed values: one of t_w {config['t_w']}, or null (the largest)")
    if not errors:
        errors.extend(_check_data(config, table))
    if errors:
        raise ConfigError("invalid sweep config:\n  " + "\n  ".join(errors))
    return table


def _check_data(config: dict[str, Any], table: pd.DataFrame) -> list[str]:
    """M must fit the balanced pool of the data set and leave test examples, and the largest job must fit
    its memory: checked once per sweep before submission."""
    from tdlm.data import load_pool

    data = config.get("data", {})
    classes = list(data.get("classes", [0, 1]))
    try:
        pool = load_pool(data.get("source", "digits"), classes, data.get("path"))
    except (FileNotFoundError, ValueError) as err:
        return [str(err)]
    limit = len(classes) * min(int((pool.labels == c).sum()) for c in classes)
    errors = []
    for m in sorted({int(m) for m in table.M}):
        if m > limit:
            errors.append(
                f"grids: M = {m} exceeds the balanced pool of {pool.source} classes {classes}; allowed values: M <= {limit}"
            )
        elif m >= len(pool.labels):
            errors.append(
                f"grids: M = {m} leaves no test examples in the {len(pool.labels)} images of {pool.source} classes {classes}; "
                f"allowed values: M < {len(pool.labels)}"
            )
    mem_mb = config.get("resources", {}).get("simulate", {}).get("mem_mb")
    if mem_mb and not table.empty:
        need, row = max((job_memory_mb(config, r.M, r.N, r.L, pool.images.shape[1]), r) for r in table.itertuples(index=False))
        if need > mem_mb:
            errors.append(
                f"resources.simulate.mem_mb: got {mem_mb}; the largest job (M={row.M} N={row.N} L={row.L}) needs about "
                f"{need:.0f} MB; allowed values: >= {need:.0f}, or a smaller M, N, L, n_replicas or samples_per_job"
            )
    return errors
