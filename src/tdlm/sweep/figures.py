"""The binary family's figures and the two-family comparison (issue 23 is changing them; they move to
tdlm.plot afterwards). The thermal phase diagram and the q* heat maps are in tdlm.plot.phase.

Each function draws into the axes it is given (or a new figure) and returns the Figure; given a
`stem`, it saves PNG and PDF and, beside them, the values it drew as CSV. No backend is chosen here:
the CLI commands choose Agg.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.patches import Patch

from tdlm.figure_files import save
from tdlm.plot.common import new_axes
from tdlm.plot.phase import PHASE_COLOURS, layer_stack, select_T
from tdlm.sweep.classify import LIQUID, SOLID, UNCERTAIN, overlap_label, overlap_of, phase_star


def _axes(axes: Any, n: int, figsize: tuple[float, float], **kwargs: Any) -> tuple[plt.Figure, Any]:
    """The given axes (one, or a sequence of n) and their figure, or a new figure with n axes."""
    fig, axes, _ = new_axes(axes, 1, n, figsize, **kwargs)
    return fig, axes


BINARY_COLOURS = {0: PHASE_COLOURS[SOLID], 1: PHASE_COLOURS[LIQUID], 2: PHASE_COLOURS[UNCERTAIN]}
BINARY_PHASES = {0: "structured", 1: "liquid-like", 2: "undetermined (null floor too low)"}


def _binary_points(ds: xr.Dataset) -> list[tuple[int, int]]:
    """(alpha index, L index) of the cells that hold a point (P is NaN elsewhere)."""
    P = ds.P.transpose("alpha", "L").values
    return [(i, j) for i in range(P.shape[0]) for j in range(P.shape[1]) if np.isfinite(P[i, j])]


def binary_phase_diagram(
    measures: xr.Dataset, stem: str | Path | None = None, ensemble: str = "aligned", axes: Any = None
) -> plt.Figure:
    """Binary family: each weight layer of each (alpha, L) point, by the noise-floor phase rule; s_l/ln 2
    profiles with their nulls. The CSV: one row per point and weight layer (alpha, P, L, layer, s/ln 2, phase)."""
    ds = measures.sel(ensemble=ensemble)
    flags = np.nan_to_num(ds.phase.transpose("alpha", "L", "layer").values, nan=-1).astype(int)
    fig, (ax, ax_s) = _axes(axes, 2, (11, 4.6), gridspec_kw={"width_ratios": [1.2, 1]})
    layer_stack(ax, ds.ln_alpha.values, ds.L.values, flags, BINARY_COLOURS)
    ax.set_xlabel("ln alpha (alpha = weights / P)")
    ax.set_ylabel("depth L (weight layers 1..L stacked bottom to top)")
    ax.set_title(f"binary networks, {ensemble} ensemble (phase read against the shuffled null)")
    ax.legend(handles=[Patch(color=BINARY_COLOURS[k], label=v) for k, v in BINARY_PHASES.items()], fontsize=8, loc="upper left")
    for i, j in _binary_points(ds):
        point = ds.isel(alpha=i, L=j)
        L = int(point.L)
        line = ax_s.plot(np.arange(1, L + 1), point.s_over_ln2.values[:L], "o-", label=f"P = {int(point.P)}, L = {L}")[0]
        if "s_null_over_ln2" in point:
            ax_s.plot(np.arange(1, L + 1), point.s_null_over_ln2.values[:L], ":", color=line.get_color())
    ax_s.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax_s.set_xlabel("weight layer l")
    ax_s.set_ylabel(r"entropy density $s_l / \ln 2$ (dotted: null)")
    ax_s.set_title("effective-model entropy per layer")
    ax_s.legend(fontsize=7)
    fig.tight_layout()
    if stem is not None:
        table = ds[["s_over_ln2", "phase"]].reset_coords(drop=True).assign_coords(P=ds.P).to_dataframe().reset_index()
        save(fig, stem, table[(table["layer"] <= table["L"]) & table["P"].notna()])
    return fig


def compare_families(
    phase: xr.Dataset, measures: xr.Dataset, stem: str | Path | None = None, ensemble: str = "aligned", axes: Any = None
) -> plt.Figure:
    """Both families' per-layer profiles on one depth axis (relative depth l / L): the binary family's
    s_l/ln 2 (its deepest point at the smallest alpha) with its null band shaded (null mean +- the larger of
    null_z spreads and null_tolerance: where a block cannot be told from shuffled weights), and on a second y axis the thermal
    machine's q*_l and Q*_l (deepest L, smallest alpha) with its liquid threshold. The CSV: one row per
    drawn value (family, quantity, relative depth l / L, value)."""
    overlap = overlap_of(phase)
    q_name, Q_name = phase_star(phase, "q"), phase_star(phase, "Q")
    thermal = select_T(phase, None).isel(L=-1)
    thermal = thermal.isel(alpha=int(np.nanargmin(np.where(thermal[q_name].notnull().any("layer"), thermal.ln_alpha, np.inf))))
    L_t = int(thermal.L)
    deepest = measures.sel(ensemble=ensemble).isel(L=-1)
    binary = deepest.isel(alpha=int(np.nanargmin(np.where(np.isfinite(deepest.P.values), deepest.alpha.values, np.inf))))
    L_b = int(binary.L)
    fig, ax = _axes(axes, 1, (7.5, 4.8))
    rel_b, layers_t = np.arange(1, L_b + 1) / L_b, np.arange(1, L_t + 1)
    s = binary.s_over_ln2.values[:L_b]
    curves = [("binary", "s_over_ln2", rel_b, s)]
    if "s_null_over_ln2" in binary:
        null, spread = binary.s_null_over_ln2.values[:L_b], binary.s_null_sd.values[:L_b]
        k, tol = float(measures.attrs.get("param_null_z", 3.0)), float(measures.attrs.get("param_null_tolerance", 0.02))
        half = np.maximum(k * spread, tol)  # at 10^5 networks k sd is ~1e-4: the rule's tolerance sets the width
        ax.fill_between(rel_b, null - half, null + half, color="grey", alpha=0.3, label=f"null band (+-max({k:g} sd, {tol:g}))")
        ax.plot(rel_b, null, color="grey", lw=0.8)
        curves += [("binary", "s_null_over_ln2", rel_b, null), ("binary", "s_null_sd", rel_b, spread)]
    ax.plot(rel_b, s, "o-", color="C3", label=rf"binary $s_l/\ln 2$ (L = {L_b}, P = {int(binary.P)}, {ensemble})")
    ax.axhline(1.0, color="C3", lw=0.8, ls=":")
    ax.set_xlabel("relative depth l / L")
    ax.set_ylabel(r"binary: entropy density $s_l / \ln 2$")
    ax_t = ax.twinx()
    curves += [
        ("thermal", q_name, layers_t[:-1] / L_t, thermal[q_name].values[: L_t - 1]),
        ("thermal", Q_name, layers_t / L_t, thermal[Q_name].values[:L_t]),
    ]
    ax_t.plot(*curves[-2][2:], "^--", color="C0", label=r"thermal $q^*_l$ (neurons)")
    ax_t.plot(*curves[-1][2:], "s--", color="C2", label=r"thermal $Q^*_l$ (weights)")
    ax_t.axhline(phase.attrs.get("classify_threshold", np.exp(-1)), color="C0", ls=":", lw=0.8, label="thermal threshold")
    ax_t.set_ylabel(f"thermal: replica overlap at t* ({overlap_label(overlap)})")
    ax.set_title(f"both families by depth (thermal L = {L_t}, ln alpha = {float(thermal.ln_alpha):.2f})")
    handles = ax.get_legend_handles_labels()
    handles_t = ax_t.get_legend_handles_labels()
    ax.legend(handles[0] + handles_t[0], handles[1] + handles_t[1], fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if stem is not None:
        rows = [(family, name, x, y) for family, name, xs, ys in curves for x, y in zip(xs, ys)]
        save(fig, stem, pd.DataFrame(rows, columns=["family", "quantity", "relative_depth", "value"]))
    return fig
