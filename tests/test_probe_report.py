"""docs/validation/probe_accuracy.py --report: the tables of docs/validation.md section 3 from probe files."""

from __future__ import annotations

import json

import pytest

from helpers.scripts import load_script


@pytest.fixture(scope="module")
def probe():
    return load_script("probe_accuracy")


def _row(t: int, E: float, sign: float, tanh: float) -> dict:
    return {"t": t, "E": E, "A_sign_test": sign, "A_tanh_test": tanh, "mean_abs_S": [0.9, 0.1, 0.3, 0.8]}


def test_summary_reads_time_scales_depth_and_plateau(probe):
    rows = [_row(0, 1000.0, 0.5, 0.5), _row(1000, 600.0, 0.5, 0.6), _row(3000, 400.0, 0.6, 0.7)]
    rows += [_row(10000, 5.0, 0.8, 0.9), _row(50000, 1.0, 0.6, 0.7)]
    cells = [c.strip() for c in probe.summary("v", rows).strip("|").split("|")]
    # name, t(E/E0 < 0.5), t(E/E0 < 0.01), log10 E/E0 at the end, sign mean (range) over t >= 1e4, tanh, central |S|
    assert cells == ["v", "3000", "10000", "-3.00", "0.700 (0.60-0.80)", "0.800", "0.200"]


def test_report_of_both_protocols(probe, tmp_path):
    history = {"args": {"protocol": "history"}, "results": {"a": [_row(0, 10.0, 0.5, 0.5), _row(50000, 9.0, 0.5, 0.5)]}}
    qstar = {
        "args": {"protocol": "qstar"},
        "results": {
            "a": {
                "q_star_norm": [1.0, 0.25],
                "q_star_raw": [0.9, 0.0],
                "q_star_test": [0.8, 0.1],
                "mean_abs_S": [0.95, 0.01],
                "E_star": 1.0,
                "A_sign_star": 0.5,
                "A_tanh_star": 0.75,
                "history": {"E": [100.0, 10.0]},
            }
        },
    }
    paths = [tmp_path / "h.json", tmp_path / "q.json"]
    for path, doc in zip(paths, (history, qstar)):
        path.write_text(json.dumps(doc))
    text = probe.report([str(p) for p in paths])
    assert "| a | - | - | -0.05 |" in text  # never below half: no time scale
    assert "| a | 1.00 0.25 | 0.90 0.00 | 0.80 0.10 | 0.950 0.010 | -2.00 | 0.500 | 0.750 |" in text
