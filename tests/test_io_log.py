"""tdlm.io_log: the read/wrote/seconds line every command logs (issue 27)."""

from __future__ import annotations

import argparse
import os
import time

from tdlm.io_log import io_summary


def test_io_summary_names_inputs_outputs_sizes_and_seconds(tmp_path):
    jobs = [tmp_path / f"job~{i}.nc" for i in range(5)]
    for path in jobs:
        path.write_bytes(b"x" * 1000)
    out = tmp_path / "point.nc"
    out.write_bytes(b"y" * 2500)
    args = argparse.Namespace(jobs=[str(p) for p in jobs], out=str(out), config=None)
    text = io_summary(args, ("out", "jobs", "config"), time.time(), 1.234)
    assert text.startswith("read 5 files (5.0 kB): ")
    assert f"{jobs[0]}, {jobs[1]}, ..., {jobs[4]}" in text and str(jobs[2]) not in text
    assert f"wrote 1 files (2.5 kB): {out}" in text and text.endswith("; 1.23 s")


def test_io_summary_lists_only_what_the_outdir_got_now(tmp_path):
    phase = tmp_path / "phase.nc"
    phase.write_bytes(b"p" * 300_000)
    outdir = tmp_path / "tables"
    outdir.mkdir()
    old = outdir / "old.csv"
    old.write_text("a\n")
    past = time.time() - 3600
    os.utime(old, (past, past))
    started = time.time()
    (outdir / "phase.csv").write_text("b\n")
    text = io_summary(argparse.Namespace(phase=str(phase), outdir=str(outdir)), ("phase", "outdir"), started, 0.5)
    assert "read 1 files (0.30 MB)" in text
    assert "wrote 1 files" in text and "phase.csv" in text and "old.csv" not in text


def test_io_summary_is_empty_without_files():
    assert io_summary(argparse.Namespace(out=None), ("out",), time.time(), 0.1) == ""
