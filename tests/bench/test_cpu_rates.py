"""`tdlm cost`'s CPU rates are the benchmark's measured ones, and the CPU runtime model does what it says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tdlm.paper import cost

MEASURED = Path(__file__).resolve().parents[2] / "benchmarks" / "measured" / "cpu_full.json"


def test_cost_table_is_the_benchmarks_measurement():
    result = json.loads(MEASURED.read_text())
    meta = result["meta"]
    assert (meta["M"], meta["N_0"], meta["L"], meta["classes"]) == tuple(cost.BENCH_SHAPE.values())
    assert meta["threads"] == 1 and meta["dtype"] == "float32"
    for noise, method in (("gaussian", "engine"), ("uniform", "engine+uniform")):
        table = {(r["N"], r["R"]): r["methods"][method]["cpu_ms_per_replica_step"] for r in result["rows"]}
        assert set(table) == set(cost.CPU_MS_PER_REPLICA_STEP[noise]), noise
        for key, ms in table.items():
            assert cost.CPU_MS_PER_REPLICA_STEP[noise][key] == pytest.approx(ms, abs=5e-4), (noise, key)


def _bench_rate(N: int, R: int, noise: str) -> float:
    w = [784] + [N] * 9 + [2]
    return cost.flop_per_replica_step(2000, w) / (cost.CPU_MS_PER_REPLICA_STEP[noise][(N, R)] * 1e-3)


def test_cpu_rate_at_measured_points_between_them_and_beyond():
    table = cost.CPU_MS_PER_REPLICA_STEP["gaussian"]
    Ns, Rs = sorted({n for n, _ in table}), sorted({r for _, r in table})
    lo, hi = Ns[1], Ns[2]
    for R in Rs:
        assert cost.cpu_flops_rate(lo, R) == pytest.approx(_bench_rate(lo, R, "gaussian"))
    # the batch: the largest measured R not above the job's configurations (the smallest one below all)
    assert cost.cpu_flops_rate(lo, 1000) == pytest.approx(_bench_rate(lo, Rs[-1], "gaussian"))
    assert cost.cpu_flops_rate(lo, 1) == pytest.approx(_bench_rate(lo, Rs[0], "gaussian"))
    # between widths: linear in log N, so at the geometric mean the geometric mean of the rates
    mid = math.sqrt(lo * hi)
    if mid == int(mid):
        expected = math.sqrt(_bench_rate(lo, Rs[0], "gaussian") * _bench_rate(hi, Rs[0], "gaussian"))
        assert cost.cpu_flops_rate(int(mid), Rs[0]) == pytest.approx(expected)
    between = cost.cpu_flops_rate(lo + 1, Rs[0])
    a, b = _bench_rate(lo, Rs[0], "gaussian"), _bench_rate(hi, Rs[0], "gaussian")
    assert min(a, b) <= between <= max(a, b)
    # beyond the measured widths: clamped
    assert cost.cpu_flops_rate(1, Rs[0]) == pytest.approx(_bench_rate(Ns[0], Rs[0], "gaussian"))
    assert cost.cpu_flops_rate(10 * Ns[-1], Rs[0]) == pytest.approx(_bench_rate(Ns[-1], Rs[0], "gaussian"))


def test_estimate_reports_measured_cpu_hours_per_noise_and_labels_the_gpu_rate():
    config = {
        "run": "c",
        "data": {"source": "mnist", "path": "/nowhere", "classes": [0, 1]},
        "grids": [{"alpha": {"M": 2000, "N": [10]}, "L": [10], "T": [1e-5]}],
        "samples": 2,
        "samples_per_job": 1,
        "n_replicas": 4,
        "t_w": [10, 100],
        "t_star": 1000,
    }
    est = cost.estimate(config)
    job = est.jobs[0]
    # 1 sample x 2 waiting times x 4 replicas = 8 configurations per step: the R = 8 rate at N = 10
    assert job.cpu_seconds == pytest.approx(job.flop / _bench_rate(10, 8, "gaussian"))
    assert job.cpu_seconds == pytest.approx(job.replica_steps * cost.CPU_MS_PER_REPLICA_STEP["gaussian"][(10, 8)] * 1e-3)
    assert est.cpu_hours == pytest.approx(2 * job.cpu_seconds / 3600)
    uniform = cost.estimate({**config, "noise": "uniform"})
    assert uniform.jobs[0].cpu_seconds == pytest.approx(
        job.replica_steps * cost.CPU_MS_PER_REPLICA_STEP["uniform"][(10, 8)] * 1e-3
    )
    text = cost.format_estimate(est, "c")
    assert "CPU core-hours" in text and "MEASURED" in text and cost.CPU_RATES_SOURCE in text
    assert "ASSUMED rate, no GPU measurement yet" in text
