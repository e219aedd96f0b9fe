"""examples/phase_diagram.ipynb draws with tdlm.plot on a small classified run (the end-to-end test runs it
on a real one): two figures, no error, and xi_s printed."""

from __future__ import annotations

import math

from tdlm.storage import write_atomic
from tdlm.sweep.classify import classify
from tdlm.sweep.tables import write_tables

from helpers.synthetic import REFINE_POINTS, synthetic_grid_overlaps
from helpers.workflow import REPO


def test_notebook_draws_with_the_library(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    write_atomic(classify(synthetic_grid_overlaps(REFINE_POINTS), threshold=math.exp(-1)), tmp_path / "phase.nc")
    write_tables(tmp_path / "phase.nc", tmp_path)
    monkeypatch.setenv("TDLM_RUN", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(REPO / "examples" / "phase_diagram.ipynb", as_version=4)
    code = "".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "from tdlm.plot" in code and "ax.bar" not in code  # the library draws, not the notebook
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 2  # the inline backend showed both
    assert "xi_s =" in "".join(o.get("text", "") for o in outputs)
