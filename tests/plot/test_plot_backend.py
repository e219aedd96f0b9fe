"""Importing tdlm and every plotting module leaves the user's matplotlib backend alone (in Jupyter an
import that chose Agg replaced the inline backend and `plt.show()` showed nothing)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import importlib, pkgutil
import matplotlib
matplotlib.use("{backend}")
import tdlm, tdlm.plot
modules = ["tdlm.plot." + m.name for m in pkgutil.iter_modules(tdlm.plot.__path__)]
modules += ["tdlm.paper.render", "tdlm.figure_files", "tdlm.sweep.cli", "tdlm.paper.cli", "tdlm.binarynet.cli"]
assert {{"tdlm.plot.binary", "tdlm.plot.families"}} <= set(modules), modules
for name in modules:
    importlib.import_module(name)
import matplotlib.pyplot as plt
print(len(modules), matplotlib.get_backend())
"""


def test_imports_keep_a_non_agg_backend():
    env = {**os.environ, "MPLBACKEND": "svg", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(backend="pdf")], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    n, backend = proc.stdout.split()
    assert int(n) >= 12  # binary, common, design, dynamics, families, phase, profiles and the five callers
    assert backend.lower() == "pdf", proc.stdout
