"""bench_md reports engine+graph timings only when its steps replay a captured graph: where no graph is
captured (here, the CPU) the method is skipped with the reason, never timed as eager steps."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_md.py"


def test_graph_timings_need_a_captured_graph():
    spec = importlib.util.spec_from_file_location("bench_md_graph", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
        x, y = bench.make_data(torch.device("cpu"), torch.float32)
        row = bench.bench_config(10, 1, ["engine", "engine+graph"], x, y, 0.0, 1, 1, 0.01, memory=False)
    finally:
        sys.modules.pop(spec.name, None)
    assert "not replayed from a captured graph" in row["skipped"]["engine+graph"]
    assert set(row["methods"]) == {"engine"}
