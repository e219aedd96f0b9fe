"""The design-space figure: dendrogram over the reordered overlap matrix, and P(Q), per layer.

Why the reordering: with configurations sorted by the dendrogram's leaves, clusters become
blocks on the diagonal, so a solid layer's per-sample clusters and a liquid layer's lack of
structure can be seen at a glance.
"""

from __future__ import annotations

import json
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy.cluster.hierarchy import dendrogram

from tdlm.plot.common import Drawn

KIND_NAMES = {"Q": "weights Q_l", "q": "spins q_l"}


def design_rows(design: xr.Dataset) -> list[tuple[int, str]]:
    """(panel, kind) of every row the figure draws: the overlap kinds with data in each panel."""
    return [
        (int(p), kind)
        for p in design.panel.values
        for kind in ("Q", "q")
        if f"{kind}_matrix" in design and np.isfinite(design[f"{kind}_matrix"].sel(panel=p).values).any()
    ]


def _row_axes(fig: plt.Figure, cell: Any) -> tuple[plt.Axes, plt.Axes, plt.Axes]:
    """A row's dendrogram (above), matrix (below) and P(Q) (beside both) in one grid cell."""
    sub = cell.subgridspec(2, 2, height_ratios=[1, 3], width_ratios=[3, 2], hspace=0.02, wspace=0.35)
    return fig.add_subplot(sub[0, 0]), fig.add_subplot(sub[1, 0]), fig.add_subplot(sub[:, 1])


def design_space_figure(design: xr.Dataset, axes: Any = None) -> Drawn:
    """One row per (layer, kind) with data: dendrogram above the matrix, P(Q) split into intra/inter-sample pairs.

    `axes`: one (dendrogram, matrix, P(Q)) triple of Axes per row (`design_rows(design)` says how many);
    None: a new figure laid out for them."""
    d = Drawn("design_space")
    notes = json.loads(design["role"].attrs.get("note", "[]")) or [""] * design.sizes["panel"]
    rows = design_rows(design)
    created = axes is None
    if created:
        fig = plt.figure(figsize=(11, 4.6 * max(1, len(rows))))
        axes = [_row_axes(fig, cell) for cell in fig.add_gridspec(max(1, len(rows)), 1)][: len(rows)]
    elif len(axes) != len(rows):
        raise ValueError(f"axes: got {len(axes)} rows of Axes; this design_space.nc has {len(rows)} rows with data")
    else:
        fig = axes[0][0].figure
    n_samples = len(np.unique(design.config_sample.values))
    for (p, kind), (ax_tree, ax_mat, ax_p) in zip(rows, axes):
        layer, role = int(design.layer.sel(panel=p)), str(design.role.sel(panel=p).values)
        key = f"{kind}[l={layer},{role}]"
        z = design[f"{kind}_linkage"].sel(panel=p).values
        order = design[f"{kind}_order"].sel(panel=p).values
        tree = dendrogram(z, ax=ax_tree, no_labels=True, color_threshold=0, above_threshold_color="k")
        d.add(f"{key}.merge_distance", z[:, 2])
        if list(tree["leaves"]) != order.tolist():  # scipy's plotted order must be the stored one
            raise RuntimeError("dendrogram leaves differ from the stored leaf order")
        ax_tree.set_axis_off()
        ax_tree.set_title(f"layer {layer} ({role}; {notes[p] if p < len(notes) else ''}): {KIND_NAMES[kind]}", fontsize=9)
        mat = d.add(f"{key}.matrix_reordered", design[f"{kind}_matrix"].sel(panel=p).values[np.ix_(order, order)])
        im = ax_mat.imshow(
            mat, cmap="RdBu_r", vmin=-np.nanmax(np.abs(mat)), vmax=np.nanmax(np.abs(mat)), interpolation="nearest", aspect="auto"
        )
        fig.colorbar(im, ax=ax_mat, fraction=0.04, pad=0.01, label=f"{kind}^(ab)")
        ax_mat.set_xlabel(
            f"configuration (dendrogram order; {n_samples} samples x {len(np.unique(design.config_replica.values))} replicas)"
        )
        ax_mat.set_ylabel("configuration")
        edges = design[f"{kind}_edges"].sel(panel=p).values
        centres = d.add(f"{key}.bin_centre", 0.5 * (edges[1:] + edges[:-1]))
        width = np.diff(edges)
        for name, colour, label in (("P_intra", "#e07b39", "same sample"), ("P_inter", "#3b6fb6", "different samples")):
            ax_p.bar(
                centres,
                d.add(f"{key}.{name}", design[f"{kind}_{name}"].sel(panel=p).values),
                width=width,
                color=colour,
                alpha=0.6,
                label=label,
            )
        ax_p.step(
            centres, d.add(f"{key}.P", design[f"{kind}_P"].sel(panel=p).values), where="mid", color="k", lw=1, label="all pairs"
        )
        ax_p.set_xlabel(f"{kind}^(ab) (a < b)")
        ax_p.set_ylabel(f"P({kind})")
        ax_p.legend(fontsize=8)
        ax_p.grid(alpha=0.3)
    spins = design.attrs.get("design_spins", "")
    title = (
        f"Design space at M={design.attrs.get('param_M')} N={design.attrs.get('param_N')} "
        f"L={design.attrs.get('param_L')} T={float(design.attrs.get('param_T', np.nan)):.3g}, "
        f"t = t* after t_w={design.attrs.get('design_t_w')} (spins {spins.split(' ')[0] if spins else '?'})"
    )
    if not rows:
        title += " (no overlap data)"
    return d.finish(fig, title, created)
