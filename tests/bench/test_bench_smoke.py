"""The benchmark script runs and writes a consistent table (no timing is asserted: speed targets live in benchmarks/)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_md.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_md", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_quick_run_writes_every_method_and_consistent_ratios(bench, tmp_path):
    threads = torch.get_num_threads()
    out = tmp_path / "bench.json"
    try:
        rc = bench.main(
            [
                "--quick",
                "--N",
                "10",
                "--R",
                "2",
                "--methods",
                "engine",
                "autograd",
                "products",
                "floor",
                "--no-memory",
                "--budget",
                "0",
                "--out",
                str(out),
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["meta"]["M"] == 2000 and result["meta"]["N_0"] == 784 and result["meta"]["L"] == 10
    (row,) = result["rows"]
    assert (row["N"], row["R"]) == (10, 2) and not row["skipped"]
    times = {name: m["ms_per_replica_step"] for name, m in row["methods"].items()}
    assert set(times) == {"engine", "autograd", "products", "floor"}
    assert all(math.isfinite(t) and t > 0 for t in times.values())
    for label, a, b in (
        ("engine/products", "engine", "products"),
        ("floor/products", "floor", "products"),
        ("autograd/engine", "autograd", "engine"),
    ):
        assert row["ratios"][label] == pytest.approx(times[a] / times[b])
