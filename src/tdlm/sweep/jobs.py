"""From a workflow config to the table of simulate jobs, each job's parameters, and the checks a JSON
schema cannot make.

A sweep is the union of one or more grids; each grid is the product of its alpha points
(fixed M with a list of N, fixed N with a list of M, or explicit (M, N) pairs), its depths L
and its temperatures T. Samples are split into jobs of `samples_per_job` each.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from tdlm.fields import ConfigError
from tdlm.md.memory import job_memory_mb, time_errors
from tdlm.md.params import FIELDS, build
from tdlm.sweep.settings import CLASSIFY, REFINE, section

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

    T_default = FIELDS.by_name["T"].default if config.get("T") is None else config["T"]
    rows = []
    for i, grid in enumerate(config["grids"]):
        for M, N in alpha_points(grid["alpha"], f"grids[{i}].alpha"):
            for L in grid["L"]:
                for T in grid.get("T", [T_default]):
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


def job_of(wildcards: Any) -> tuple[int, int, int, float, int]:
    """(M, N, L, T, job) of a job (or point: job 0) from the wildcards of its path
    `results/<run>/sims/M~M/N~N/L~L/T~T/job~j.nc`, the one place a path is read back. The path is the job's
    identity (its checkpoint, its resume, Snakemake's DAG); T is written as the repr of `format_T(T)`,
    which Python reads back as the same float, so no value changes on the way (docs/architecture.md)."""
    job = int(getattr(wildcards, "job", 0))
    return int(wildcards.M), int(wildcards.N), int(wildcards.L), float(wildcards.T), job


def to_flags(values: dict[str, Any]) -> str:
    """Command-line flags for `tdlm simulate`."""
    return FIELDS.to_flags(values)


def split_rerun(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values that change a job's result, bookkeeping values: progress and checkpoint cadence). The
    workflow passes the first as rule params (a change reruns the job) and the second in the command
    only, so that changing them does not rerun a finished sweep."""
    rerun = {f.name for f in FIELDS if f.rerun}
    return {k: v for k, v in values.items() if k in rerun}, {k: v for k, v in values.items() if k not in rerun}


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
    refine = section(config, REFINE)
    if refine["max_samples"] is not None and refine["max_samples"] < config["samples"]:
        errors.append(
            f"refine.max_samples: got {refine['max_samples']}; allowed values: >= samples ({config['samples']}), or null (no extra samples)"
        )
    classify_tw = section(config, CLASSIFY)["t_w"]
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
