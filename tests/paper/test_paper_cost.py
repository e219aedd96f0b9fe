"""Cost arithmetic: replica-steps, FLOP, the rate models, the log-derived rate and the `tdlm cost` CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tdlm.paper import cost

from helpers.workflow import run_tdlm

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def small() -> dict:
    return {
        "run": "c",
        "data": {"source": "digits", "classes": [0, 1]},
        "grids": [{"alpha": {"M": 20, "N": [4]}, "L": [3], "T": [1e-5]}],
        "samples": 3,
        "samples_per_job": 2,
        "n_replicas": 2,
        "t_w": [10, 100],
        "t_star": 1000,
    }


def test_replica_steps_and_flop_by_hand(small):
    est = cost.estimate(small, flops_rate=1e6, step_latency=0.0)
    # per sample: max(t_w) + n_tw * n_r * t* = 100 + 2 * 2 * 1000; 3 samples in jobs of 2 and 1
    assert [j.samples for j in est.jobs] == [2, 1]
    assert est.replica_steps == 3 * 4100
    # widths 64, 4, 4, 2: 3 products of 2 M N_(l-1) N_l per layer
    per_step = 3 * 2 * 20 * (64 * 4 + 4 * 4 + 4 * 2)
    assert cost.flop_per_replica_step(20, [64, 4, 4, 2]) == per_step == 33600
    assert est.flop == pytest.approx(3 * 4100 * per_step)
    assert est.jobs[0].seconds == pytest.approx(2 * 4100 * per_step / 1e6)
    assert est.gpu_hours == pytest.approx(3 * 4100 * per_step / 1e6 / 3600)


def test_mnist_input_width_and_classes(small):
    small["data"] = {"source": "mnist", "path": "/nowhere", "classes": [0, 1, 2]}
    assert cost.widths(small, 10, 4) == [784, 10, 10, 10, 3]


def test_step_latency_floor_and_measured_step_rate(small):
    slow_launch = cost.estimate(small, flops_rate=1e30, step_latency=0.01)
    assert slow_launch.jobs[0].seconds == pytest.approx((100 + 1000) * 0.01)  # batched steps x latency
    measured = cost.estimate(small, step_rate=820.0)
    assert measured.jobs[0].seconds == pytest.approx(2 * 4100 / 820.0)
    assert "replica-step rate" in measured.rate_source


def test_defaults_are_labelled_as_assumptions(small):
    est = cost.estimate(small)
    assert "ASSUMED" in est.rate_source
    text = cost.format_estimate(est, "small")
    assert "replica-steps" in text and "GPU hours" in text and "per-job runtime" in text


def test_rates_from_the_config_section(small):
    small["paper"] = {"cost": {"flops_rate": 1e6, "step_latency": 0.0}}
    assert cost.estimate(small).jobs[0].seconds == pytest.approx(2 * 4100 * 33600 / 1e6)


def test_rate_from_a_simulate_log(small, tmp_path):
    log = tmp_path / "job.log"
    log.write_text(
        "11:18:13 INFO simulate: M=20 N=4 L=3 samples=[0, 1] t_w=[10, 100] t*=1000 replicas=2 on cpu/float32 (9 coordinates)\n"
        "11:18:25 INFO wait (S=2): step 100/100 (100.0%), 82.7 steps/s, ETA 0:00:00\n"
        "11:18:50 INFO branch (S=2): step 1000/1000 (100.0%), 50.0 steps/s, ETA 0:00:00\n"
    )
    flops, text = cost.rate_from_log(log, small)
    # 50 batched steps/s x (2 samples x 2 t_w x 2 replicas) replica-steps x 33600 FLOP
    assert flops == pytest.approx(50.0 * 8 * 33600)
    assert "measured" in text
    (tmp_path / "bad.log").write_text("nothing here\n")
    with pytest.raises(ValueError):
        cost.rate_from_log(tmp_path / "bad.log", small)


def test_paper_config_totals():
    with open(REPO / "config" / "paper.yaml") as fh:
        config = yaml.safe_load(fh)
    est = cost.estimate(config)
    assert est.points == 21 and len(est.jobs) == 42
    # 21 points x 8 samples x (5e4 + 4 x 8 x 5e5)
    assert est.replica_steps == 21 * 8 * (50_000 + 4 * 8 * 500_000)
    assert cost.runtime_minutes(est) <= config["resources"]["simulate"]["runtime"]


def test_cost_cli(tmp_path, small):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(small))
    out = run_tdlm("cost", str(path), "--step-rate", "1000", "--jobs", cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "replica-steps   1.23e+04" in out.stdout and "job=1" in out.stdout
    bad = run_tdlm("cost", str(tmp_path / "missing.yaml"), cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and "tdlm cost: error" in bad.stderr


def test_refinement_worst_case_splits_every_interval_each_round_and_fills_the_budget(small):
    small["grids"] = [{"alpha": {"N": 4, "M": [20, 320]}, "L": [3, 7], "T": [1e-5]}]
    small["refine"] = {"rounds": 2, "resolution": 0.15, "max_samples": 6}
    worst = cost.refinement_worst_case(small)
    (grid,) = worst["grids"]
    # ln(320/20) = 2.77 wide: 2 rounds split it into 4 (3 new alphas), every integer L from 3 to 7 (onset)
    assert len(grid["alpha"]["pairs"]) == 2 + 3 and grid["L"] == [3, 4, 5, 6, 7] and worst["samples"] == 6
    assert cost.estimate(worst).points == 5 * 5 > cost.estimate(small).points == 4
    # no more points than the resolution allows
    small["refine"]["resolution"] = 1.0
    assert len(cost.refinement_worst_case(small)["grids"][0]["alpha"]["pairs"]) == 2 + 2
