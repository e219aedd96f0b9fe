"""benchmarks/bench_binary.py runs and writes a consistent table (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_binary.py"


def test_quick_run_writes_consistent_ratios(tmp_path: Path) -> None:
    out = tmp_path / "binary.json"
    subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)], check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    for kind in ("wall", "cpu"):
        step, products = result[f"train_step_{kind}_s"], result[f"products_step_{kind}_s"]
        assert step > 0 and products > 0
        assert abs(result[f"ratio_{kind}"] - step / products) < 1e-9 * result[f"ratio_{kind}"]
        assert abs(result[f"networks_per_s_{kind}"] * step * 750 - result["runs"]) < 1e-6 * result["runs"]
    assert result["fit_samples"] == 2000 and result["fit_wall_s"] > 0
