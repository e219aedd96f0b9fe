"""Shared pieces of the figures: what a figure returns, sample statistics, axes.

Why every figure returns its arrays: a PNG can look fine while showing an empty or NaN
curve; the arrays (written by the CLI to plotted_data.json next to the figures, and per figure
to `<figure>.csv` beside its PNG) let tests and readers check what was actually drawn. The
returned `Drawn` also holds the Figure, for restyling or `plt.show()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from tdlm.sweep.settings import THRESHOLD as THRESHOLD  # the 1/e line that defines tau and the solid phase


def new_axes(axes: Any, nrows: int, ncols: int, figsize: tuple[float, float], **kwargs: Any) -> tuple[plt.Figure, Any, bool]:
    """(figure, axes, created): the given axes (one, or an array/sequence of nrows x ncols) and their
    figure, or a new figure with that grid of axes (created = True: the caller may title and lay it out)."""
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, **kwargs)
        return fig, axes, True
    first = np.asarray(axes, dtype=object).flat[0] if nrows * ncols > 1 else axes
    return first.figure, axes, False


@dataclass
class Drawn:
    """One drawn figure: its name, title, the files the CLI wrote, every array passed to a plot call,
    and optionally the tidy table of what was drawn (`data`, else `table()` is the arrays in long form)."""

    name: str
    title: str = ""
    files: list[Path] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figure: plt.Figure | None = None
    data: pd.DataFrame | None = None

    def add(self, key: str, values: Any) -> np.ndarray:
        """Record an array under a unique key and return it (float) for plotting."""
        arr = np.asarray(values, dtype=float)
        k, i = key, 1
        while k in self.arrays:
            i += 1
            k = f"{key}#{i}"
        self.arrays[k] = arr
        return arr

    def finish(self, fig: plt.Figure, title: str, created: bool = True) -> Drawn:
        """Record the figure and title; a figure made here gets the title and a tight layout (axes the
        caller gave are left as the caller laid them out)."""
        self.title = title
        self.figure = fig
        if created:
            fig.suptitle(title, fontsize=10)
            fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the suptitle
        return self

    def table(self) -> pd.DataFrame:
        """The drawn values as a tidy table: `data` when set, else the arrays in long form (array key,
        flat position, value)."""
        if self.data is not None:
            return self.data
        rows = [(key, i, v) for key, arr in self.arrays.items() for i, v in enumerate(np.atleast_1d(arr).ravel())]
        return pd.DataFrame(rows, columns=["array", "index", "value"])


def mean_sem(da: xr.DataArray, dim: str = "sample") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over samples and its standard error (NaN with fewer than two samples)."""
    n = da.count(dim)
    return da.mean(dim), da.std(dim, ddof=1) / np.sqrt(n.where(n > 1))


def layer_mean(da: xr.DataArray) -> xr.DataArray:
    """The paper's global observable: the average over the layers that exist (NaN layers skipped)."""
    return da.mean("layer", skipna=True)


def positive_time(t: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Drop t = 0 (and non-finite values) for log-time axes."""
    t = np.asarray(t, dtype=float)
    keep = t > 0
    for y in ys:
        keep &= np.isfinite(np.asarray(y, dtype=float))
    return (t[keep],) + tuple(np.asarray(y, dtype=float)[keep] for y in ys)


def time_curve(ax: plt.Axes, drawn: Drawn, key: str, t: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
    """One curve on a log-time axis (t = 0 and non-finite points dropped), recorded as key.t and key.y."""
    t, y = positive_time(t, y)
    ax.plot(drawn.add(f"{key}.t", t), drawn.add(f"{key}.y", y), **kwargs)


def threshold_panel(ax: plt.Axes, ylabel: str, xlabel: str | None = None, **legend: Any) -> None:
    """The frame of a correlation panel: the 1/e line that defines tau and the solid phase, labels, grid, legend."""
    ax.axhline(THRESHOLD, color="grey", ls="--", lw=0.8)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(**legend)


def log_or_symlog(ax: plt.Axes, values: np.ndarray, axis: str = "x") -> None:
    """Log scale, or symlog when a value is 0 (t_w = 0, T = 0, tau = 0)."""
    values = np.asarray(values, dtype=float)
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if values.size and np.nanmin(values) <= 0:
        positive = values[values > 0]
        setter("symlog", linthresh=float(positive.min()) if positive.size else 1.0)
    else:
        setter("log")


def alpha_label(M: int, N: int, ln_alpha: float) -> str:
    """Legend label of an alpha point: (M, N) as well, since series can share ln alpha."""
    return f"M={M} N={N} (ln a={ln_alpha:.2f})"


def colours(n: int, cmap: str = "viridis") -> list:
    return [plt.get_cmap(cmap)(x) for x in (np.linspace(0.05, 0.9, n) if n > 1 else [0.4])]


def errorbar(ax: plt.Axes, drawn: Drawn, key: str, x: np.ndarray, y: np.ndarray, err: np.ndarray, **kwargs: Any) -> None:
    """Points with error bars where the standard error is defined; records x, y (and err if drawn)."""
    x, y, err = (np.asarray(v, dtype=float) for v in (x, y, err))
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, err = x[keep], y[keep], err[keep]
    drawn.add(f"{key}.x", x)
    drawn.add(f"{key}.y", y)
    if np.isfinite(err).all() and err.size:
        ax.errorbar(x, y, yerr=drawn.add(f"{key}.sem", err), capsize=2, **kwargs)
    else:
        ax.plot(x, y, **kwargs)
