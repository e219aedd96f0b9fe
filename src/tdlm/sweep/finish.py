"""What a finished workflow run leaves and says (the Snakefile's `onsuccess:`): the run's empty checkpoint
folders removed, and where the phase diagram, tables and report are printed (issue 27: the console never
said where the results were)."""

from __future__ import annotations

import os
from pathlib import Path


def remove_empty_dirs(root: str | Path) -> list[Path]:
    """Remove the empty folders under `root` (deepest first, `root` included when it ends empty) and return
    them. Only folders: a folder that still holds a file (a checkpoint of a job that did not finish) stays,
    with every folder above it. Run once the whole run succeeded, so no job is about to write into one."""
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for folder, _, _ in sorted(os.walk(root), key=lambda entry: -len(Path(entry[0]).parts)):
        path = Path(folder)
        if not any(path.iterdir()):
            path.rmdir()
            removed.append(path)
    return removed


def run_summary(out: str, outputs: list[str]) -> str:
    """The lines printed at the end of a successful run: the run's phase diagram, its tables (the CSV
    files among `outputs`, the workflow's targets) and how to build the HTML report."""
    figures = [p for p in outputs if p.endswith(".png")]
    tables = [p for p in outputs if p.endswith(".csv")]
    lines = [f"tdlm: run finished, results in {out}/"]
    lines += [f"  phase diagram: {p}" for p in figures if Path(p).stem == "phase_diagram"]
    lines += [f"  figures: {len(figures)} PNG (with PDF and CSV beside them) in {out}/figures/"] if figures else []
    lines += [f"  tables: {', '.join(tables)}"] if tables else []
    lines.append(f"  report: snakemake --report {out}/report.html (then open it in a browser)")
    return "\n".join(lines)
