"""The alpha-L phase diagram of a classified sweep (phase.nc) and the q*_l heat map at one depth.

Why this layout (the paper's): ln alpha on x, depth L on y, and every simulated point a column of
one cell per hidden layer (layer 1 at the bottom) at its own ln alpha, no wider than the spacing to
its neighbours, so that a reader can count the layers and sees where nothing was simulated. The
q*_l profiles behind the colours are drawn in a second panel, with their error bars and the
threshold, so that a cell's colour can be checked against its number.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from tdlm.plot.common import THRESHOLD, Drawn, new_axes
from tdlm.sweep.classify import LIQUID, SOLID, UNCERTAIN, liquid_crossings, overlap_label, overlap_of, phase_star
from tdlm.sweep.tables import POINT, phase_table, xi_table

PHASE_COLOURS = {SOLID: "#3b6fb6", LIQUID: "#e07b39", UNCERTAIN: "#b0b0b0"}
PHASE_NAMES = {SOLID: "solid", LIQUID: "liquid", UNCERTAIN: "uncertain"}
COLUMN_HEIGHT = 0.84  # of the unit of L a column fills: the rest separates adjacent depths
WIDTH_FRACTION = 0.8  # of the spacing to the nearest neighbour a column fills
MAX_WIDTH = 0.12  # of the ln alpha range of the diagram, the widest column


def select_T(phase: xr.Dataset, T: float | None) -> xr.Dataset:
    """The temperature slice to draw (default: the lowest temperature of the sweep)."""
    T = float(phase["T"].min()) if T is None else T
    return phase.sel(T=T, method="nearest")


def threshold_of(phase: xr.Dataset) -> float:
    """The threshold the classification used (phase.nc records it), 1/e for files without it."""
    return float(phase.attrs.get("classify_threshold", THRESHOLD))


def layer_y(L: float, n_layers: int, position: float | np.ndarray) -> float | np.ndarray:
    """Height on the diagram of layer `position` (1..n_layers; fractional between cell centres) in the
    column of a depth-L point: the column spans L +- COLUMN_HEIGHT / 2, layer 1 at the bottom."""
    cell = COLUMN_HEIGHT / n_layers
    return L - COLUMN_HEIGHT / 2 + (np.asarray(position, dtype=float) - 0.5) * cell


def column_widths(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Width of each (point, depth) column: WIDTH_FRACTION of the spacing to the nearest other ln alpha
    simulated at that depth; a point alone at its depth takes the smallest spacing of the diagram
    (1 when there is none), and no column is wider than MAX_WIDTH of the diagram's ln alpha range (two
    far-apart points are two narrow columns, not two bars across the unsimulated gap). `present` (x,
    depth): whether the column is drawn."""
    distinct = np.unique(np.round(x[present.any(axis=1)], 9))
    smallest = np.diff(distinct).min() if len(distinct) > 1 else 1.0
    widest = MAX_WIDTH * (distinct[-1] - distinct[0]) / WIDTH_FRACTION if len(distinct) > 1 else smallest
    widths = np.full(present.shape, np.nan)
    for j in range(present.shape[1]):
        rows = np.flatnonzero(present[:, j])
        for i in rows:
            others = np.abs(x[rows] - x[i])
            others = others[others > 1e-9]
            widths[i, j] = WIDTH_FRACTION * min(others.min() if len(others) else smallest, widest)
    return widths


def layer_stack(
    ax: plt.Axes,
    x: np.ndarray,
    depths: np.ndarray,
    flags: np.ndarray,
    colours: dict[int, str],
    names: dict[int, str] | None = None,
) -> dict[int, Any]:
    """Draw each point's layers as a column of separated cells at (x, L), layer 1 at the bottom.

    flags (x, L, layer): a colour key per layer, < 0 for none (a column ends at its last layer >= 0).
    Returns the drawn bars by key, labelled with `names` (for a legend of drawn artists only).
    """
    present = (flags >= 0).any(axis=2)
    widths = column_widths(np.asarray(x, dtype=float), present)
    cells: dict[int, list[tuple[float, float, float, float]]] = {}
    for i, j in zip(*np.nonzero(present)):
        column = flags[i, j, : np.max(np.nonzero(flags[i, j] >= 0)[0]) + 1]
        for k, flag in enumerate(column):
            if flag >= 0:
                bottom = layer_y(depths[j], len(column), k + 0.5)
                cells.setdefault(int(flag), []).append((x[i], bottom, COLUMN_HEIGHT / len(column), widths[i, j]))
    drawn = {}
    for flag in sorted(cells):
        xs, bottoms, heights, w = np.array(cells[flag]).T
        label = names.get(flag) if names else None
        drawn[flag] = ax.bar(
            xs, heights, width=w, bottom=bottoms, color=colours[flag], edgecolor="white", linewidth=0.8, label=label
        )
    ax.set_yticks(np.arange(int(np.min(depths)), int(np.max(depths)) + 1))
    ax.set_ylim(np.min(depths) - 0.6, np.max(depths) + 0.6)
    return drawn


def liquid_spans(ax: plt.Axes, ds: xr.Dataset, variable: str, threshold: float, widths: np.ndarray) -> list[tuple]:
    """A black bar along each column with a liquid layer, between the interpolated crossings of q*_l with
    the threshold (layer 0 and L count as q* = 1, classify.liquid_crossings). Returns (ln alpha, L, low,
    high) per span, low and high in layer units."""
    spans = []
    for i, j in np.argwhere(np.isfinite(widths)):
        L = int(ds.L.values[j])
        q = ds[variable].isel(alpha=i, L=j).values[: L - 1]
        crossings = liquid_crossings(q, threshold) if np.isfinite(q).all() else None  # a missing layer: no span
        if crossings is not None:
            spans.append((float(ds.ln_alpha.values[i]), L, *crossings, widths[i, j]))
    if spans:
        x, L, low, high, w = (np.array(v, dtype=float) for v in zip(*spans))
        bottom, top = layer_y(L, L - 1, low), layer_y(L, L - 1, high)
        # a crossing below layer 1's centre (or above L-1's) stays inside the column
        bottom = np.maximum(bottom, L - COLUMN_HEIGHT / 2)
        top = np.minimum(top, L + COLUMN_HEIGHT / 2)
        ax.vlines(x, bottom, top, color="black", lw=1.2, label="liquid span (between the crossings of q* and threshold)")
        for y in (bottom, top):
            ax.hlines(y, x - w / 6, x + w / 6, color="black", lw=1.2)
    return [s[:4] for s in spans]


def draw_boundaries(ax: plt.Axes, boundaries: pd.DataFrame) -> int:
    """boundary.csv's brackets: each a black bar between its ends with its estimate marked; per-layer
    ones at the layer's height in the column, onset ones along ln alpha at height L and along L at the
    point's ln alpha. Returns how many were drawn (each kind labelled once for the legend)."""
    labelled = set()

    def label(kind: str) -> str | None:
        if kind in labelled:
            return None
        labelled.add(kind)
        return kind

    for b in boundaries.itertuples(index=False):
        if b.along == "L":
            lo, hi = b.estimate - b.low, b.high - b.estimate
            ax.errorbar(
                np.log(b.M / b.N), b.estimate, yerr=[[lo], [hi]], fmt="D", color="black", ms=4, capsize=3, lw=1,
                label=label("liquid onset along L: bracket, estimate"),
            )  # fmt: skip
            continue
        y = b.L if b.kind == "onset" else layer_y(b.L, b.L - 1, b.layer)
        name = "liquid onset along ln alpha" if b.kind == "onset" else "layer boundary"
        xerr = [[b.estimate - b.low], [b.high - b.estimate]]
        ax.errorbar(
            b.estimate, y, xerr=xerr, fmt="o" if b.kind == "onset" else "|", color="black", ms=5, capsize=3, lw=1,
            label=label(f"{name}: bracket, estimate"),
        )  # fmt: skip
    return len(boundaries)


def profile_strip(ax: plt.Axes, ds: xr.Dataset, variable: str, threshold: float) -> pd.DataFrame:
    """q*_l against layer l for every point, one section per depth (left to right), each curve coloured
    by its ln alpha, with standard errors and the threshold. Returns the drawn values (L, ln alpha,
    layer, q*, sem)."""
    norm = Normalize(float(np.nanmin(ds.ln_alpha)), float(np.nanmax(ds.ln_alpha)) + 1e-12)
    cmap = plt.get_cmap("viridis")
    rows, ticks, tick_labels, offset = [], [], [], 0.0
    first = True
    for j, L in enumerate(ds.L.values.astype(int)):
        layers = np.arange(1, L)
        q_all = ds[variable].isel(L=j).sel(layer=layers).transpose("alpha", "layer").values
        sem_all = ds[f"{variable}_sem"].isel(L=j).sel(layer=layers).transpose("alpha", "layer").values
        with_data = np.flatnonzero(np.isfinite(q_all).any(axis=1))
        if not len(with_data):
            continue
        x = offset + layers
        # each curve shifted a little along l by its rank in ln alpha: equal values stay visible side by side
        dodge = np.linspace(-0.2, 0.2, len(with_data)) if len(with_data) > 1 else [0.0]
        for shift, i in zip(dodge, with_data[np.argsort(ds.ln_alpha.values[with_data])]):
            la = float(ds.ln_alpha.values[i])
            ax.errorbar(
                x + shift, q_all[i], yerr=np.nan_to_num(sem_all[i]), fmt="o-", ms=3, lw=1, capsize=2, color=cmap(norm(la)),
                label="q*_l +- standard error (colour: ln alpha)" if first else None,
            )  # fmt: skip
            first = False
            rows += [(int(L), la, int(l), q, s) for l, q, s in zip(layers, q_all[i], sem_all[i])]
        ax.text(offset + L / 2, 1.02, f"L = {L}", ha="center", va="bottom", fontsize=8, transform=ax.get_xaxis_transform())
        step = max(1, int(np.ceil((L - 1) / 6)))
        ticks += list(x[::step])
        tick_labels += [str(l) for l in layers[::step]]
        offset += L + 0.5
        ax.axvline(offset - 0.75, color="grey", lw=0.6)
    ax.axhline(threshold, color="black", ls="--", lw=0.9, label=f"threshold {threshold:.3f}")
    ax.set_xticks(ticks, tick_labels, fontsize=7)
    ax.set_xlim(0, max(offset - 0.5, 1))
    lowest = min((r[3] - (r[4] if np.isfinite(r[4]) else 0) for r in rows if np.isfinite(r[3])), default=0.0)
    ax.set_ylim(min(-0.05, lowest - 0.05), 1.05)  # the whole range of an overlap, so that panels compare
    ax.set_xlabel("layer l, one section per depth L")
    ax.set_ylabel(rf"$q^*_l$ behind the colours ({variable})")
    ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=r"$\ln \alpha$", pad=0.01)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="lower left")
    return pd.DataFrame(rows, columns=["L", "ln_alpha", "layer", variable, f"{variable}_sem"])


def xi_panel(ax: plt.Axes, ds: xr.Dataset) -> None:
    """Solid depth xi_s against ln alpha, one line per depth."""
    depths = ds.L.values.astype(int)
    colours = plt.get_cmap("plasma")(np.linspace(0.05, 0.85, len(depths)))
    order = np.argsort(ds.ln_alpha.values)
    for j, L in enumerate(depths):
        xi = ds.xi_solid.isel(L=j).values[order]
        keep = np.isfinite(xi)
        if keep.any():
            ax.plot(ds.ln_alpha.values[order][keep], xi[keep], "o-", ms=4, color=colours[j], label=f"L = {L}")
    ax.set_xlabel(r"$\ln \alpha$")
    ax.set_ylabel(r"solid depth $\xi_s = L - \xi_l$")
    ax.set_title("solid depth (theory: grows like ln alpha)", fontsize=9)
    ax.legend(fontsize=7, ncol=2 if len(depths) > 5 else 1)
    ax.grid(alpha=0.3)


def phase_diagram(phase: xr.Dataset, T: float | None = None, axes: Any = None, boundaries: pd.DataFrame | None = None) -> Drawn:
    """The alpha-L phase diagram at one temperature (default: the lowest), three panels.

    Cells (axes[0]): every hidden layer of every simulated point coloured solid / liquid / uncertain,
    the liquid span of each point, and the refinement's `boundaries` (boundary.csv) when given.
    Profiles (axes[1]): q*_l with standard errors and the threshold, per depth and ln alpha.
    Solid depth (axes[2]): xi_s against ln alpha per depth. The table (`Drawn.data`, the CSV beside the
    figure): one row per point and hidden layer (phase.csv's columns and xi_s).
    """
    d = Drawn("phase_diagram")
    ds = select_T(phase, T)
    T_value = float(ds["T"])
    variable, threshold = phase_star(phase, "q"), threshold_of(phase)
    created = axes is None
    if created:
        fig = plt.figure(figsize=(13, 9.5))
        grid = fig.add_gridspec(2, 2, width_ratios=[1.5, 1], height_ratios=[1.2, 1])
        axes = (fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, :]), fig.add_subplot(grid[0, 1]))
    ax, ax_q, ax_xi = axes
    fig = ax.figure
    flags = ds.phase.transpose("alpha", "L", "layer").values.astype(int)
    ln_alpha, depths = ds.ln_alpha.values, ds.L.values
    layer_stack(ax, ln_alpha, depths, flags, PHASE_COLOURS, PHASE_NAMES)
    widths = column_widths(ln_alpha, (flags >= 0).any(axis=2))
    d.data = phase_table(phase.sel(T=[T_value])).merge(xi_table(phase.sel(T=[T_value]))[[*POINT, "xi_solid"]], on=POINT)
    d.add("liquid_span", liquid_spans(ax, ds, variable, threshold, widths))  # (ln alpha, L, low, high) rows
    if boundaries is not None and len(boundaries):
        draw_boundaries(ax, boundaries[np.isclose(boundaries["T"], T_value)])
    ax.set_xlabel(r"$\ln \alpha = \ln(M/N)$")
    ax.set_ylabel("depth L (one cell per hidden layer, layer 1 at the bottom)")
    ax.set_title(f"phase of each hidden layer ({overlap_label(overlap_of(phase))}, threshold {threshold:.3f})", fontsize=9)
    ax.grid(alpha=0.25, axis="x")
    handles, labels = ax.get_legend_handles_labels()
    names = list(PHASE_NAMES.values())  # the phases first, then spans and brackets
    order = sorted(
        range(len(labels)), key=lambda k: (labels[k] not in names, names.index(labels[k]) if labels[k] in names else k)
    )
    handles, labels = [handles[k] for k in order], [labels[k] for k in order]
    # below the axes: inside, it would cover the columns
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=7)
    d.add("ln_alpha", ln_alpha)
    profiles = profile_strip(ax_q, ds, variable, threshold)
    d.add("q_star", profiles[variable].to_numpy())
    xi_panel(ax_xi, ds)
    title = f"alpha-L phase diagram at T = {T_value:.3g} ({int((flags >= 0).any(axis=2).sum())} points)"
    return d.finish(fig, title, created)


def alphas_with_data(ds: xr.Dataset, variable: str, L: int) -> np.ndarray:
    """Indices of the alpha points whose `variable` has data in some hidden layer 1..L-1, sorted by ln alpha."""
    values = ds[variable].sel(layer=np.arange(1, L)).transpose("alpha", "layer").values
    keep = np.flatnonzero(np.isfinite(values).any(axis=1))
    return keep[np.argsort(ds.ln_alpha.values[keep], kind="stable")]


def heatmap_rows(ds: xr.Dataset, variable: str, L: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(ln alpha, values (row, layer 1..L-1), rows merged): the rows of a heat map over (layer, ln alpha).

    Alpha points with equal ln alpha (e.g. M=2000, N=5 and M=4000, N=10) share one row, their
    values averaged; the third item says how many rows were merged away.
    """
    order = alphas_with_data(ds, variable, L)
    ln_alpha = ds.ln_alpha.values[order]
    values = ds[variable].sel(layer=np.arange(1, L)).transpose("alpha", "layer").values[order]
    keys = np.round(ln_alpha, 9)
    unique = np.unique(keys)
    rows = np.array([np.nanmean(values[keys == k], axis=0) for k in unique]).reshape(len(unique), L - 1)
    return np.array([ln_alpha[keys == k][0] for k in unique]), rows, len(keys) - len(unique)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (unit width around a single centre)."""
    c = np.asarray(centres, dtype=float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def draw_heatmap(
    fig: plt.Figure, ax: plt.Axes, layers: np.ndarray, ln_alpha: np.ndarray, values: np.ndarray, threshold: float, label: str
) -> bool:
    """Cells over (layer, ln alpha) with the threshold contour; True when there was a crossing to contour.

    The legend names the contour only when it is drawn (a legend entry without its line misleads)."""
    mesh = ax.pcolormesh(
        _edges(layers), _edges(ln_alpha), values, cmap="viridis", shading="flat", vmin=0, vmax=max(1e-9, float(np.nanmax(values)))
    )
    fig.colorbar(mesh, ax=ax, label=label)
    has_contour = len(ln_alpha) > 1 and len(layers) > 1 and np.nanmin(values) < threshold < np.nanmax(values)
    if has_contour:
        name = f"q* = {threshold:.3f}" + (" (1/e)" if np.isclose(threshold, THRESHOLD) else "")
        contour = ax.contour(layers, ln_alpha, values, levels=[threshold], colors="white", linewidths=2)
        contour.set_label(name)
        ax.legend([Line2D([], [], color="white", lw=2)], [name], loc="upper right", fontsize=8, facecolor="grey")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\ln \alpha$")
    ax.set_xticks(layers)
    return bool(has_contour)


def q_star_heatmap(
    phase: xr.Dataset, L: int, T: float | None = None, variable: str | None = None, ax: plt.Axes | None = None
) -> Drawn:
    """q*_l over (layer, ln alpha) at depth L with the threshold contour (the paper's Fig. 1).

    Default variable: the q* the classification used (normalised or raw, phase.nc records it).
    The table: one row per cell (L, T, ln alpha, layer, value).
    """
    d = Drawn(f"q_star_L{L}")
    variable = variable or phase_star(phase, "q")
    ds = select_T(phase, T).sel(L=L)
    ln_alpha, values, merged = heatmap_rows(ds, variable, L)
    if not len(ln_alpha):
        raise ValueError(f"no data for L = {L} at T = {float(ds['T'])}")
    fig, ax, created = new_axes(ax, 1, 1, (6.4, 4.6))
    symbol = variable.replace("_raw_star", "").replace("_star", "")
    kind = "raw" if variable.endswith("_raw_star") else "normalised"
    label = rf"${symbol}^*_l$ ({kind}; t = t*, mean over samples)"
    has_contour = draw_heatmap(fig, ax, np.arange(1, L), ln_alpha, d.add(variable, values), threshold_of(phase), label)
    notes = ([] if has_contour else ["no threshold crossing to contour"]) + (
        [f"{merged} equal-ln-alpha rows averaged"] if merged else []
    )
    title = f"{variable} over layers, L = {L}, T = {float(ds['T']):.3g}" + (f" ({'; '.join(notes)})" if notes else "")
    ax.set_title(title, fontsize=9)
    rows, layers = np.meshgrid(np.arange(len(ln_alpha)), np.arange(1, L), indexing="ij")
    cells = {"L": L, "T": float(ds["T"]), "ln_alpha": ln_alpha[rows.ravel()], "layer": layers.ravel()}
    d.data = pd.DataFrame({**cells, variable: values.ravel()})
    if created:
        fig.tight_layout()
    d.title = title
    d.figure = fig
    return d
