"""Both families on one depth axis: the binary family's s_l/ln 2 with its null band, and the thermal
machine's q*_l and Q*_l with its liquid threshold.

Why a figure of its own: the two families have different alphas and observables; relative depth l / L
is the one axis they share, so this is where their layer profiles can be compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tdlm.plot.common import Drawn, new_axes
from tdlm.plot.phase import select_T
from tdlm.sweep.classify import overlap_label, overlap_of, phase_star
from tdlm.sweep.settings import THRESHOLD


def compare_families(phase: xr.Dataset, measures: xr.Dataset, ensemble: str = "aligned", ax: Any = None) -> Drawn:
    """Both families' per-layer profiles on one depth axis (relative depth l / L): the binary family's
    s_l/ln 2 (its deepest point at the smallest alpha) with its null band shaded (null mean +- the larger of
    null_z spreads and null_tolerance: where a block cannot be told from shuffled weights), and on a second
    y axis (a twin of `ax`) the thermal machine's q*_l and Q*_l (deepest L, smallest alpha) with its liquid
    threshold. The table (`Drawn.data`, the CSV beside the figure): one row per drawn value (family,
    quantity, relative depth l / L, value)."""
    d = Drawn("families")
    overlap = overlap_of(phase)
    q_name, Q_name = phase_star(phase, "q"), phase_star(phase, "Q")
    thermal = select_T(phase, None).isel(L=-1)
    thermal = thermal.isel(alpha=int(np.nanargmin(np.where(thermal[q_name].notnull().any("layer"), thermal.ln_alpha, np.inf))))
    L_t = int(thermal.L)
    deepest = measures.sel(ensemble=ensemble).isel(L=-1)
    binary = deepest.isel(alpha=int(np.nanargmin(np.where(np.isfinite(deepest.P.values), deepest.alpha.values, np.inf))))
    L_b = int(binary.L)
    fig, ax, created = new_axes(ax, 1, 1, (7.5, 4.8))
    rel_b, layers_t = np.arange(1, L_b + 1) / L_b, np.arange(1, L_t + 1)
    s = binary.s_over_ln2.values[:L_b]
    curves = [("binary", "s_over_ln2", rel_b, s)]
    if "s_null_over_ln2" in binary:
        null, spread = binary.s_null_over_ln2.values[:L_b], binary.s_null_sd.values[:L_b]
        k, tol = float(measures.attrs.get("param_null_z", 3.0)), float(measures.attrs.get("param_null_tolerance", 0.02))
        half = np.maximum(k * spread, tol)  # at 10^5 networks k sd is ~1e-4: the rule's tolerance sets the width
        ax.fill_between(rel_b, null - half, null + half, color="grey", alpha=0.3, label=f"null band (+-max({k:g} sd, {tol:g}))")
        d.add("binary.null_band_half_width", half)
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
    ax_t.axhline(phase.attrs.get("classify_threshold", THRESHOLD), color="C0", ls=":", lw=0.8, label="thermal threshold")
    ax_t.set_ylabel(f"thermal: replica overlap at t* ({overlap_label(overlap)})")
    title = f"both families by depth (thermal L = {L_t}, ln alpha = {float(thermal.ln_alpha):.2f})"
    ax.set_title(title)
    handles = ax.get_legend_handles_labels()
    handles_t = ax_t.get_legend_handles_labels()
    ax.legend(handles[0] + handles_t[0], handles[1] + handles_t[1], fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    for family, name, xs, ys in curves:
        d.add(f"{family}.{name}.relative_depth", xs)
        d.add(f"{family}.{name}", ys)
    rows = [(family, name, x, y) for family, name, xs, ys in curves for x, y in zip(xs, ys)]
    d.data = pd.DataFrame(rows, columns=["family", "quantity", "relative_depth", "value"])
    if created:
        fig.tight_layout()  # the axes title says it all: no suptitle
    return d.finish(fig, title, created=False)
