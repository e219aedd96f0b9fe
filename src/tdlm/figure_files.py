"""Writing figures: PNG and PDF side by side, the drawn values as CSV beside them, plotted_data.json
(each atomically, `tdlm.io`).

Why apart from tdlm.plot: drawing must work in a notebook without touching files or the backend; only
the CLI commands (which choose the Agg backend first) call these.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tdlm.io import write_csv, write_figure, write_json


def save(fig: Any, stem: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """PNG and PDF side by side, and the drawn values as `<stem>.csv` when given (the figure is closed
    for pyplot, not destroyed: the caller may still restyle and save it)."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        write_figure(fig, path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    if data is not None:
        paths.append(stem.with_suffix(".csv"))
        write_csv(data, paths[-1])
    return paths


def write_plotted(drawn: list, path: str | Path) -> None:
    """plotted_data.json: {figure: {title, files, arrays: {key: nested list}}} of tdlm.plot's `Drawn`s;
    NaN/inf written as null."""

    def clean(a: np.ndarray) -> Any:
        return np.where(np.isfinite(a), a, np.nan).astype(object).tolist() if a.ndim else (float(a) if np.isfinite(a) else None)

    def nan_to_none(x: Any) -> Any:
        if isinstance(x, list):
            return [nan_to_none(v) for v in x]
        return None if isinstance(x, float) and not math.isfinite(x) else x

    out = {
        d.name: {
            "title": d.title,
            "files": [str(f) for f in d.files],
            "arrays": {k: nan_to_none(clean(v)) for k, v in d.arrays.items()},
        }
        for d in drawn
    }
    write_json(out, path)
