"""The report of benchmarks/gpu_smoke.sh: device, test outcome, step rates and whether the CUDA graph was
active, from the files the script left in its folder; writes report.json and report.md there, prints
the latter, and exits 0 only if every CUDA test ran and passed and the benchmark timed a captured graph.

    python benchmarks/gpu_smoke_report.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def tests_outcome(xml: Path) -> dict[str, Any]:
    """Counts and the names of failed, errored and skipped tests of a pytest JUnit XML file."""
    if not xml.exists():
        return {"ran": False, "passed": 0, "failed": [], "skipped": []}
    failed, skipped, total = [], [], 0
    for case in ET.parse(xml).getroot().iter("testcase"):
        total += 1
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped.append(name)
    return {"ran": True, "passed": total - len(failed) - len(skipped), "failed": failed, "skipped": skipped}


def bench_outcome(path: Path) -> dict[str, Any]:
    """Per configuration: ms per replica-step of every method, and whether engine+graph was timed
    (bench_md times it only while its steps replay a captured graph) or skipped, and why."""
    if not path.exists():
        return {"ran": False, "rows": [], "graph_active": False}
    rows = []
    for row in json.loads(path.read_text())["rows"]:
        rates = {name: m["ms_per_replica_step"] for name, m in row["methods"].items()}
        rows.append({"N": row["N"], "R": row["R"], "ms_per_replica_step": rates, "skipped": row["skipped"]})
    active = bool(rows) and all("engine+graph" in r["ms_per_replica_step"] for r in rows)
    return {"ran": True, "rows": rows, "graph_active": active}


def report(folder: Path) -> tuple[dict[str, Any], str]:
    device = json.loads((folder / "device.json").read_text())
    tests = tests_outcome(folder / "tests.xml")
    bench = bench_outcome(folder / "bench_cuda.json")
    cuda_tests_skipped = [name for name in tests["skipped"] if "test_engine_cuda" in name]
    ok = tests["ran"] and not tests["failed"] and not cuda_tests_skipped and tests["passed"] > 0 and bench["graph_active"]
    summary = {"pass": ok, "device": device, "tests": tests, "benchmark": bench}
    lines = [
        f"# GPU smoke test: {'PASS' if ok else 'FAIL'}",
        "",
        f"- device: {device['device_name']} (compute capability {device['device_capability']}, "
        f"{device['memory_gib']:.0f} GiB, {device['devices_visible']} visible); torch {device['torch_version']}, "
        f"CUDA {device['cuda_version']}, cuDNN {device['cudnn_version']}",
        f"- tests: {tests['passed']} passed, {len(tests['failed'])} failed, {len(tests['skipped'])} skipped"
        + (" (did not run: see tests.log)" if not tests["ran"] else ""),
        *(f"  - FAILED {name}" for name in tests["failed"]),
        *(f"  - skipped {name}" for name in cuda_tests_skipped),
        f"- CUDA graph active in the benchmark: {'yes' if bench['graph_active'] else 'no'}"
        + (" (did not run: see bench.log)" if not bench["ran"] else ""),
        "",
        "| N | R | method | ms per replica-step |",
        "|---|---|--------|---------------------|",
    ]
    for row in bench["rows"]:
        lines += [f"| {row['N']} | {row['R']} | {name} | {ms:.4f} |" for name, ms in row["ms_per_replica_step"].items()]
        lines += [f"| {row['N']} | {row['R']} | {name} | skipped: {why} |" for name, why in row["skipped"].items()]
    return summary, "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[0])
    summary, text = report(folder)
    (folder / "report.json").write_text(json.dumps(summary, indent=2))
    (folder / "report.md").write_text(text)
    print(text, end="")
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
