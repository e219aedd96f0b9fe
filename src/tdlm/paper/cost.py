"""What a sweep costs before it runs: replica-steps, FLOP, GPU hours and per-job runtime.

Why: the paper's sweep is thousands of GPU hours away from the default config's minutes; a
config should show its bill during `snakemake -n`, not after the queue fills.

Model (one simulate job = `samples_per_job` samples batched together):

- replica-steps of one sample: max(t_w) * 1 (one trajectory up to the last waiting time)
  + n_tw * n_replicas * t_star (every branch runs t* steps after its t_w)
- FLOP of one replica-step: 3 matrix products of 2 * M * N_{l-1} * N_l per weight layer
  (pre-activation, dE/dJ_l, dE/dS_{l-1}); N_0 = 784 (MNIST) or 64 (embedded digits),
  N_1..N_{L-1} = N, N_L = number of classes. Layer 1 needs only 2 of the 3 (S_0 is fixed),
  so this is an upper bound by at most a third of layer 1's share.
- runtime of a job: with a measured replica-step rate, replica-steps / rate; otherwise
  max(FLOP / flops_rate, batched steps * step_latency), where the batched steps are
  max(t_w) + t* (all samples, waiting times and replicas of a job advance together) and
  step_latency is the fixed cost of one step (kernel launches) that small matrices cannot hide.
  These GPU rates are assumptions until a GPU measurement exists, and are labelled so.
- CPU runtime of a job (one thread), from the measured table CPU_MS_PER_REPLICA_STEP (copied from
  benchmarks/measured/cpu_full.json, which `python benchmarks/bench_md.py` writes; a test keeps the two
  equal): the engine's effective FLOP rate at the measured (N, R) nearest to the job's width (linear
  in log N between measured widths, clamped outside) and batch (the largest measured R not above the
  job's configurations per step), for the config's `noise`; FLOP / that rate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tdlm.sweep import jobs as sweep_jobs
from tdlm.sweep.settings import refine_settings

# Input dimension N_0 of each data source (784 = 28 x 28 MNIST pixels, 64 = 8 x 8 digits).
INPUT_DIMS = {"mnist": 784, "digits": 64}
# ASSUMPTIONS (no measurement behind them; override with --flops-rate/--step-latency or a
# measured --step-rate / --from-log): an H100 runs the skinny float32 products of one step
# (inner dimension N = 5..40) at about 5 TFLOP/s, a tenth of its FP32 peak; one batched MD step
# of PyTorch eager code (about 10 kernels per layer at ~1 us each plus Python) costs >= 1 ms.
DEFAULT_FLOPS_RATE = 5.0e12
DEFAULT_STEP_LATENCY = 1.0e-3

# MEASURED CPU rates: ms of CPU time per replica-step of the engine (Integrator.step, float32, one thread,
# M = 2000, N_0 = 784, L = 10, 2 classes) by noise and (N, R), copied from benchmarks/measured/cpu_full.json
# ("cpu_ms_per_replica_step" of the engine and engine+uniform methods; tests/bench/test_cpu_rates.py checks it).
CPU_RATES_SOURCE = "bench_md.py, AMD EPYC (2 vCPU, idle: other jobs paused), torch 2.13.0+cpu, 1 thread, 2026-12-05 14:22 UTC"
CPU_MS_PER_REPLICA_STEP: dict[str, dict[tuple[int, int], float]] = {
    "gaussian": {
        (5, 3): 1.719,
        (5, 8): 1.290,
        (10, 3): 2.779,
        (10, 8): 2.484,
        (20, 3): 4.962,
        (20, 8): 4.556,
        (40, 3): 9.744,
        (40, 8): 9.556,
    },
    "uniform": {
        (5, 3): 0.783,
        (5, 8): 0.583,
        (10, 3): 1.355,
        (10, 8): 1.250,
        (20, 3): 2.820,
        (20, 8): 2.623,
        (40, 3): 5.930,
        (40, 8): 5.678,
    },
}
BENCH_SHAPE = {"M": 2000, "N_0": 784, "L": 10, "classes": 2}


@dataclass(frozen=True)
class JobCost:
    """One simulate job: its point, sample count and cost."""

    M: int
    N: int
    L: int
    T: float
    job: int
    samples: int
    replica_steps: float
    flop: float
    batched_steps: int
    seconds: float
    cpu_seconds: float  # one thread, from the measured CPU rates


@dataclass
class Estimate:
    """The bill of a whole config."""

    jobs: list[JobCost]
    rate_source: str
    flops_rate: float | None
    step_rate: float | None
    step_latency: float
    notes: list[str] = field(default_factory=list)

    @property
    def replica_steps(self) -> float:
        return sum(j.replica_steps for j in self.jobs)

    @property
    def flop(self) -> float:
        return sum(j.flop for j in self.jobs)

    @property
    def gpu_hours(self) -> float:
        return sum(j.seconds for j in self.jobs) / 3600.0

    @property
    def cpu_hours(self) -> float:
        return sum(j.cpu_seconds for j in self.jobs) / 3600.0

    @property
    def points(self) -> int:
        return len({(j.M, j.N, j.L, j.T) for j in self.jobs})


def widths(config: dict[str, Any], N: int, L: int) -> list[int]:
    """N_0, N_1..N_{L-1} = N, N_L = number of classes."""
    data = config.get("data", {})
    source = data.get("source", "digits")
    n_classes = len(data.get("classes", [0, 1]))
    return [INPUT_DIMS[source]] + [int(N)] * (int(L) - 1) + [n_classes]


def flop_per_replica_step(M: int, layer_widths: list[int]) -> float:
    """3 products of 2 * M * N_{l-1} * N_l per weight layer."""
    return float(sum(3 * 2 * M * a * b for a, b in zip(layer_widths[:-1], layer_widths[1:])))


def replica_steps_per_sample(t_w: list[int], n_replicas: int, t_star: int) -> float:
    """max(t_w) steps of one trajectory, then n_tw * n_replicas branches of t* steps each."""
    return float(max(t_w) + len(t_w) * n_replicas * t_star)


def job_seconds(
    replica_steps: float,
    flop: float,
    batched_steps: int,
    step_rate: float | None,
    flops_rate: float,
    step_latency: float,
) -> float:
    """Wall time of one job under the rate model (see the module docstring)."""
    if step_rate:
        return replica_steps / step_rate
    return max(flop / flops_rate, batched_steps * step_latency)


def cpu_flops_rate(N: int, configurations: int, noise: str = "gaussian") -> float:
    """The engine's measured effective FLOP rate on one CPU thread (FLOP of the benchmark's replica-step
    over its measured time) at width N and `configurations` per step: see the module docstring."""
    table = CPU_MS_PER_REPLICA_STEP[noise]
    Rs = sorted({R for _, R in table})
    R = max([r for r in Rs if r <= configurations], default=Rs[0])
    Ns = sorted(n for n, r in table if r == R)

    def rate(n: int) -> float:
        bench = [BENCH_SHAPE["N_0"]] + [n] * (BENCH_SHAPE["L"] - 1) + [BENCH_SHAPE["classes"]]
        return flop_per_replica_step(BENCH_SHAPE["M"], bench) / (table[(n, R)] * 1e-3)

    if N <= Ns[0] or N >= Ns[-1]:
        return rate(Ns[0] if N <= Ns[0] else Ns[-1])
    hi = next(n for n in Ns if n >= N)
    lo = max(n for n in Ns if n <= N)
    if lo == hi:
        return rate(lo)
    w = (math.log(N) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return math.exp((1 - w) * math.log(rate(lo)) + w * math.log(rate(hi)))


def estimate(
    config: dict[str, Any],
    step_rate: float | None = None,
    flops_rate: float | None = None,
    step_latency: float | None = None,
    rate_source: str | None = None,
) -> Estimate:
    """Cost of every job of a workflow config (grids, samples, samples_per_job, t_w, n_replicas, t_star).

    Rates not given here fall back to the config's `paper.cost` section, then to the documented defaults.
    """
    cfg_cost = (config.get("paper") or {}).get("cost") or {}
    step_rate = step_rate or cfg_cost.get("step_rate")
    flops_rate = flops_rate or cfg_cost.get("flops_rate") or DEFAULT_FLOPS_RATE
    if step_latency is None:
        step_latency = cfg_cost.get("step_latency")
    step_latency = DEFAULT_STEP_LATENCY if step_latency is None else float(step_latency)
    if rate_source is None:
        if step_rate:
            rate_source = f"replica-step rate {step_rate:.4g}/s"
        elif flops_rate != DEFAULT_FLOPS_RATE or step_latency != DEFAULT_STEP_LATENCY:
            rate_source = f"given FLOP rate {flops_rate:.3g} FLOP/s, step latency {step_latency:.3g} s"
        else:
            rate_source = (
                f"ASSUMED defaults: {DEFAULT_FLOPS_RATE:.3g} FLOP/s effective, "
                f"{DEFAULT_STEP_LATENCY:.3g} s per batched step (not measured)"
            )
    t_w = [int(t) for t in config["t_w"]]
    R, t_star = int(config["n_replicas"]), int(config["t_star"])
    noise = config.get("noise", "gaussian")
    per_sample = replica_steps_per_sample(t_w, R, t_star)
    batched = max(t_w) + t_star
    jobs = []
    for row in sweep_jobs.jobs(config).itertuples(index=False):
        n = len(sweep_jobs.job_samples(config, int(row.job)))
        f = flop_per_replica_step(int(row.M), widths(config, int(row.N), int(row.L)))
        steps = n * per_sample
        jobs.append(
            JobCost(
                int(row.M),
                int(row.N),
                int(row.L),
                float(row.T),
                int(row.job),
                n,
                steps,
                steps * f,
                batched,
                job_seconds(steps, steps * f, batched, step_rate, flops_rate, step_latency),
                steps * f / cpu_flops_rate(int(row.N), n * len(t_w) * R, noise),
            )
        )
    return Estimate(jobs, rate_source, None if step_rate else flops_rate, step_rate, step_latency)


def rate_from_log(path: str | Path, config: dict[str, Any]) -> tuple[float, str]:
    """Effective FLOP rate of a finished (or running) simulate job, from its log.

    The log's `simulate: M=.. N=.. L=..` line gives the shape and the last `branch (S=..): ..
    steps/s` line the batched step rate; times the configurations per step (S * n_tw * n_r)
    and the FLOP per replica-step this is a FLOP rate that carries over to other shapes.
    """
    text = Path(path).read_text()
    shape = re.search(r"simulate: M=(\d+) N=(\d+) L=(\d+) samples=\[([^\]]*)\] t_w=\[([^\]]*)\].*?replicas=(\d+)", text)
    rates = re.findall(r"branch \(S=(\d+)\): step \d+/\d+ \([\d.]+%\), ([\d.eE+-]+) steps/s", text)
    if not shape or not rates:
        raise ValueError(f"{path}: no 'simulate: M=..' line or no 'branch (S=..) .. steps/s' progress line")
    M, N, L = (int(shape.group(i)) for i in (1, 2, 3))
    n_tw = len([x for x in shape.group(5).split(",") if x.strip()])
    R = int(shape.group(6))
    S, steps_per_s = int(rates[-1][0]), float(rates[-1][1])
    replica_rate = steps_per_s * S * n_tw * R
    flops = replica_rate * flop_per_replica_step(M, widths(config, N, L))
    return flops, f"measured from {path}: M={M} N={N} L={L}, {replica_rate:.4g} replica-steps/s = {flops:.3g} FLOP/s"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} h" if seconds >= 3600 else f"{seconds / 60:.3g} min"


def format_estimate(est: Estimate, label: str = "") -> str:
    """Human-readable summary: totals, rate model, per-job runtime range and the slowest job."""
    jobs = sorted(est.jobs, key=lambda j: j.seconds)
    if not jobs:
        return "cost estimate: no jobs"
    median = jobs[len(jobs) // 2].seconds
    cpu = sorted(j.cpu_seconds for j in jobs)
    slow = jobs[-1]
    lines = [
        f"cost estimate{(' of ' + label) if label else ''}: {est.points} points, {len(jobs)} simulate jobs",
        f"  replica-steps   {est.replica_steps:.4g}",
        f"  FLOP            {est.flop:.4g} (3 x 2 M N_(l-1) N_l per layer per replica-step)",
        f"  rate model      {est.rate_source}",
        f"  GPU hours       {est.gpu_hours:.4g} (one GPU per job, sum over jobs; "
        + ("ASSUMED rate, no GPU measurement yet)" if "ASSUMED" in est.rate_source else "rate as above)"),
        f"  per-job runtime min {_hours(jobs[0].seconds)}, median {_hours(median)}, max {_hours(slow.seconds)} "
        f"(slowest: M={slow.M} N={slow.N} L={slow.L} T={slow.T:g}, {slow.samples} samples)",
        f"  CPU core-hours  {est.cpu_hours:.4g} (one thread per job; MEASURED engine rates: {CPU_RATES_SOURCE}); "
        f"per-job CPU runtime median {_hours(cpu[len(cpu) // 2])}, max {_hours(cpu[-1])}",
    ]
    lines += [f"  note: {n}" for n in est.notes]
    return "\n".join(lines)


def runtime_minutes(est: Estimate, margin: float = 2.0) -> int:
    """A `resources.simulate.runtime` (minutes) that covers the slowest job with a safety margin."""
    return max(1, math.ceil(margin * max(j.seconds for j in est.jobs) / 60.0)) if est.jobs else 1


def refinement_worst_case(config: dict[str, Any]) -> dict[str, Any]:
    """A config whose grid is the most that `refine` can simulate: each interval between neighbouring grid
    alphas split by every round (2^rounds - 1 points, no more than the resolution allows), at every integer
    L between the grid's depths (the onset along L) and every T, every point at the sample budget."""
    settings = refine_settings(config)
    rounds, res = settings["rounds"], settings["resolution"]
    grid_points = sweep_jobs.points(config)
    depths = sorted(grid_points.L.unique())
    if "onset" in settings["boundaries"] and rounds:
        depths = list(range(int(min(depths)), int(max(depths)) + 1))
    grid = sorted({(int(m), int(n)) for m, n in zip(grid_points.M, grid_points.N)}, key=lambda mn: math.log(mn[0] / mn[1]))
    pairs = set(grid)
    for (m0, n0), (m1, n1) in zip(grid, grid[1:]):
        lo, hi = math.log(m0 / n0), math.log(m1 / n1)
        n_add = min(2**rounds - 1, max(0, math.ceil((hi - lo) / res) - 1))
        for x in np.linspace(lo, hi, n_add + 2)[1:-1]:  # at the shared N vary M, else at the lower end's M vary N
            pairs.add((int(round(math.exp(x) * n0)), n0) if n0 == n1 else (m0, max(1, int(round(m0 / math.exp(x))))))
    worst = {k: v for k, v in config.items() if k != "grids"}
    worst["grids"] = [
        {"name": "worst", "alpha": {"pairs": sorted(pairs)}, "L": depths, "T": sorted(grid_points["T"].unique().tolist())}
    ]
    worst["samples"] = settings["max_samples"]
    return worst
