"""benchmarks/gpu_smoke.sh parses, refuses a machine without CUDA with a message (no traceback, nothing
run), and its report tells a failed or incomplete GPU check from a passing one."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tdlm.device import describe, software

from helpers.workflow import subprocess_env

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(BENCH / "gpu_smoke.sh")], capture_output=True).returncode == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is unavailable")
def test_without_cuda_it_says_why_and_runs_nothing(tmp_path):
    proc = subprocess.run(
        ["bash", str(BENCH / "gpu_smoke.sh"), str(tmp_path / "out")], capture_output=True, text=True, env=subprocess_env()
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("gpu_smoke: no usable CUDA device here: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("gpu_smoke_report", BENCH / "gpu_smoke_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pieces(tmp_path_factory) -> Path:
    """A smoke folder from real pieces: the CUDA tests' JUnit file as this machine writes it (skipped
    without CUDA) and a CPU benchmark's JSON."""
    tmp_path = tmp_path_factory.mktemp("smoke")
    device = {**describe(torch.device("cpu")), **software(), "devices_visible": 0, "memory_gib": 0.0}
    (tmp_path / "device.json").write_text(json.dumps(device))
    test = Path(__file__).resolve().parents[1] / "engine" / "test_engine_cuda.py"
    xml = tmp_path / "tests.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:randomly", "-p", "no:xdist", f"--junitxml={xml}"],
        capture_output=True,
        env=subprocess_env(),
    )
    bench = tmp_path / "bench_cuda.json"
    cmd = [sys.executable, str(BENCH / "bench_md.py"), "--quick", "--N", "10", "--R", "1", "--methods", "engine"]
    subprocess.run([*cmd, "--budget", "0", "--no-memory", "--out", str(bench)], capture_output=True, env=subprocess_env())
    return tmp_path


def _folder(pieces: Path, tmp_path: Path, graph_timed: bool) -> Path:
    """A copy of the pieces, the benchmark's engine+graph timed (as on a GPU) or not."""
    for name in ("device.json", "tests.xml"):
        shutil.copy(pieces / name, tmp_path / name)
    data = json.loads((pieces / "bench_cuda.json").read_text())
    for row in data["rows"] if graph_timed else []:
        row["methods"]["engine+graph"] = row["methods"]["engine"]
    (tmp_path / "bench_cuda.json").write_text(json.dumps(data))
    return tmp_path


def test_report_fails_when_the_cuda_tests_did_not_run_or_no_graph_was_timed(report, pieces, tmp_path, capsys):
    folder = _folder(pieces, tmp_path, graph_timed=False)
    assert report.main([str(folder)]) == 1
    summary = json.loads((folder / "report.json").read_text())
    assert not summary["pass"] and not summary["benchmark"]["graph_active"]
    assert summary["tests"]["skipped"] and summary["tests"]["passed"] == 0
    text = capsys.readouterr().out
    assert text.startswith("# GPU smoke test: FAIL") and "| 10 | 1 | engine |" in text
    assert text == (folder / "report.md").read_text()


def test_report_passes_only_when_everything_ran(report, pieces, tmp_path):
    folder = _folder(pieces, tmp_path, graph_timed=True)
    xml = (folder / "tests.xml").read_text()
    summary, _ = report.report(folder)
    assert summary["benchmark"]["graph_active"] and not summary["pass"], "CUDA tests skipped: not a pass"
    (folder / "tests.xml").write_text(xml.replace("<skipped", "<properties").replace("</skipped>", "</properties>"))
    summary, text = report.report(folder)
    assert summary["pass"] and summary["tests"]["passed"] > 0 and text.startswith("# GPU smoke test: PASS")
