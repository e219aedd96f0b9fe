"""Refinement rounds on disk: the cumulative plan files, the job files a plan asks for, and the boundaries.

`results/<run>/refine/plan~k.json` lists every point of rounds 0..k (M, N, L, T, samples, the round that
added it) and a summary line per round. Plan k+1 is computed from the job files of plan k alone (gathered,
classified, then `tdlm.sweep.refine.plan_next`), so it is a pure function of the config and results of
rounds 0..k, and the workflow can rerun it at will.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tdlm import io
from tdlm.files import open_input, read_json
from tdlm.storage import provenance, write_atomic
from tdlm.sweep.classify import classify
from tdlm.sweep.gather import gather_point, gather_sweep, read_job
from tdlm.sweep.refine import brackets, plan_next, settle
from tdlm.sweep.tables import phase_table

Point = tuple[int, int, int, float]


def point_key(row: dict[str, Any]) -> Point:
    return int(row["M"]), int(row["N"]), int(row["L"]), float(row["T"])


def job_paths(plan: dict[str, Any], out: str, jobs_of) -> list[str]:
    """Job files of every point of a plan, in the workflow's layout (`jobs_of(samples)` jobs per point)."""
    return [
        f"{out}/sims/M~{p['M']}/N~{p['N']}/L~{p['L']}/T~{p['T']}/job~{j}.nc"
        for p in plan["points"]
        for j in range(jobs_of(p["samples"]))
    ]


def _classified(job_files: list[str], classify_args: dict[str, Any]) -> tuple[xr.Dataset, dict[Point, int]]:
    """phase.nc content of the job files (grouped by point, gathered in a temporary folder) and the samples
    of each point."""
    by_point: dict[Point, list[str]] = defaultdict(list)
    samples: dict[Point, int] = defaultdict(int)
    for path in sorted(job_files):
        params, _ = read_job(path)
        key = point_key(params)
        by_point[key].append(path)
        samples[key] += len(params["samples"])
    with tempfile.TemporaryDirectory() as tmp:
        points = []
        for i, (_, files) in enumerate(sorted(by_point.items())):
            gather_point(files, Path(tmp) / f"point{i}.nc")
            points.append(Path(tmp) / f"point{i}.nc")
        with gather_sweep(points, Path(tmp) / "overlaps.nc") as overlaps:
            phase = classify(overlaps, **classify_args).load()
    return phase, dict(samples)


def next_plan(
    job_files: list[str],
    previous: dict[str, Any] | None,
    settings: dict[str, Any],
    classify_args: dict[str, Any],
    samples: int,
    samples_per_job: int,
) -> dict[str, Any]:
    """Plan k+1 from the job files of plan k (and plan k itself, for the rounds points came from; None: k = 0).
    New points get the grid's `samples`."""
    phase, have = _classified(job_files, classify_args)
    k = previous["round"] if previous else 0
    origin = {point_key(p): p["round"] for p in previous["points"]} if previous else dict.fromkeys(have, 0)
    plan = plan_next(
        phase_table(phase),
        have,
        kinds=tuple(settings["boundaries"]),
        resolution=settings["resolution"],
        vary=settings["vary"],
        threshold=classify_args["threshold"],
        samples_per_job=samples_per_job,
        max_samples=settings["max_samples"],
        m_step=settings.get("m_step", 1),
    )
    totals = {**have, **plan.more_samples}
    rows = [
        {"M": M, "N": N, "L": L, "T": T, "samples": totals[(M, N, L, T)], "round": origin.get((M, N, L, T), k)}
        for M, N, L, T in sorted(totals)
    ]
    rows += [{"M": M, "N": N, "L": L, "T": T, "samples": samples, "round": k + 1} for M, N, L, T in plan.new_points]
    widths = [b.high - b.low for b in plan.brackets if b.along == "ln_alpha"]
    summary = {
        "round": k + 1,
        "classified_points": len(have),
        "points_added": len(plan.new_points),
        "points_given_samples": len(plan.more_samples),
        "open_brackets": sum(not b.resolved for b in plan.brackets),
        "widest_ln_alpha_bracket": max(widths) if widths else None,
    }
    history = (previous["history"] if previous else []) + [summary]
    return {
        "round": k + 1,
        "points": sorted(rows, key=lambda r: point_key(r)),
        "history": history,
        "brackets": [b.row() for b in plan.brackets],
    }


def write_json(data: dict[str, Any], out: str | Path) -> None:
    """A plan file, keys sorted, written atomically (`tdlm.io`)."""
    io.write_json(data, out, sort_keys=True)


def rounds_of(plan: dict[str, Any]) -> dict[Point, int]:
    return {point_key(p): int(p["round"]) for p in plan["points"]}


def write_boundaries(
    phase_path: str, plan_path: str, settings: dict[str, Any], out_nc: str, out_csv: str, refine_csv: str
) -> pd.DataFrame:
    """The boundaries of the final classification: boundary.nc and boundary.csv (one row per bracket, with
    its interpolated estimate and uncertainty), and refine.csv (one row per round)."""
    phase = open_input(phase_path, "phase", "phase", load=True)
    plan = read_json(plan_path, "--plan")
    threshold = float(phase.attrs["classify_threshold"])
    final = settle(phase_table(phase), threshold)  # an uncertain layer at its mean, as in the plans
    found = brackets(
        final, tuple(settings["boundaries"]), settings["resolution"], settings["vary"], threshold, settings.get("m_step", 1)
    )
    table = pd.DataFrame([b.row() for b in found], columns=list(BOUNDARY_COLUMNS))
    table["width"] = table["high"] - table["low"]
    ds = xr.Dataset(
        {
            name: ("boundary", _column(table[name]), {"long_name": text, "units": "1"})
            for name, text in BOUNDARY_COLUMNS.items()
            if name != "resolved"
        },
        attrs=provenance(
            {**{f"refine.{k}": v for k, v in settings.items()}, "classify_threshold": threshold},
            {"rounds": plan["round"], "history_json": json.dumps(plan["history"])},
            step="tdlm boundaries",
            history=phase.attrs.get("history"),
        ),
    )
    ds["resolved"] = (
        "boundary",
        table["resolved"].to_numpy(np.int8),
        {
            "long_name": "1: narrower than the resolution or no integer point inside",
            "units": "1",
            "flag_values": np.array([0, 1], np.int8),
            "flag_meanings": "open resolved",
        },
    )
    write_atomic(ds, out_nc, kind="boundary")
    io.write_csv(table, out_csv)
    io.write_csv(pd.DataFrame(plan["history"]), refine_csv)
    return table


def _column(values: pd.Series) -> np.ndarray:
    """A bracket column as netCDF takes it: text stays text, missing numbers are NaN."""
    if values.map(lambda v: isinstance(v, str)).any():
        return values.fillna("").astype(str).to_numpy(dtype=object)
    return pd.to_numeric(values).astype(float).to_numpy()


BOUNDARY_COLUMNS = {
    "kind": "layer: a layer's phase changes; onset: no liquid layer vs one",
    "along": "the axis the bracket lies on: ln_alpha or L",
    "T": "temperature T (k_B = 1)",
    "L": "fixed depth (brackets along ln_alpha)",
    "layer": "the layer (per-layer brackets)",
    "M": "fixed M (brackets along L)",
    "N": "fixed N (brackets along L)",
    "low": "lower end of the bracket (ln alpha, or L)",
    "high": "upper end of the bracket",
    "phase_low": "phase at the lower end",
    "phase_high": "phase at the upper end",
    "low_by_mean": "1: the lower end was uncertain and is taken at its mean (liquid when q* < threshold)",
    "high_by_mean": "1: the upper end was uncertain and is taken at its mean",
    "estimate": "the crossing of q* (onset: min over layers of q*) with the threshold, linear between the ends",
    "uncertainty": "standard error of the estimate from those of q* at the ends, at most the bracket width",
    "resolved": "narrower than the resolution or no integer point inside",
}
