"""The binary family's alpha-L diagram: each weight layer of each (alpha, L) point by the noise-floor
phase rule, and the s_l/ln 2 profiles with their shuffled nulls.

Why apart from `phase`: the binary family's alpha is weights / P and its phase is read against a null,
not a threshold; only the column drawing (`layer_stack`) is shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.patches import Patch

from tdlm.plot.common import Drawn, new_axes
from tdlm.plot.phase import PHASE_COLOURS, layer_stack
from tdlm.sweep.classify import LIQUID, SOLID, UNCERTAIN

BINARY_COLOURS = {0: PHASE_COLOURS[SOLID], 1: PHASE_COLOURS[LIQUID], 2: PHASE_COLOURS[UNCERTAIN]}
BINARY_PHASES = {0: "structured", 1: "liquid-like", 2: "undetermined (null floor too low)"}


def _binary_points(ds: xr.Dataset) -> list[tuple[int, int]]:
    """(alpha index, L index) of the cells that hold a point (P is NaN elsewhere)."""
    P = ds.P.transpose("alpha", "L").values
    return [(i, j) for i in range(P.shape[0]) for j in range(P.shape[1]) if np.isfinite(P[i, j])]


def binary_phase_diagram(measures: xr.Dataset, ensemble: str = "aligned", axes: Any = None) -> Drawn:
    """Binary family, two panels: (axes[0]) each weight layer of each (alpha, L) point, by the noise-floor
    phase rule; (axes[1]) the s_l/ln 2 profiles with their nulls (dotted). The table (`Drawn.data`, the CSV
    beside the figure): one row per point and weight layer (alpha, P, L, layer, s/ln 2, phase)."""
    d = Drawn("binary_phase_diagram")
    ds = measures.sel(ensemble=ensemble)
    flags = np.nan_to_num(ds.phase.transpose("alpha", "L", "layer").values, nan=-1).astype(int)
    fig, (ax, ax_s), created = new_axes(axes, 1, 2, (11, 4.6), gridspec_kw={"width_ratios": [1.2, 1]})
    layer_stack(ax, d.add("ln_alpha", ds.ln_alpha.values), d.add("L", ds.L.values), flags, BINARY_COLOURS)
    d.add("phase", np.where(flags >= 0, flags, np.nan))
    ax.set_xlabel("ln alpha (alpha = weights / P)")
    ax.set_ylabel("depth L (weight layers 1..L stacked bottom to top)")
    ax.set_title(f"binary networks, {ensemble} ensemble (phase read against the shuffled null)")
    ax.legend(handles=[Patch(color=BINARY_COLOURS[k], label=v) for k, v in BINARY_PHASES.items()], fontsize=8, loc="upper left")
    for i, j in _binary_points(ds):
        point = ds.isel(alpha=i, L=j)
        L, key = int(point.L), f"P{int(point.P)}_L{int(point.L)}"
        layers = d.add(f"{key}.layer", np.arange(1, L + 1))
        line = ax_s.plot(
            layers, d.add(f"{key}.s_over_ln2", point.s_over_ln2.values[:L]), "o-", label=f"P = {int(point.P)}, L = {L}"
        )[0]
        if "s_null_over_ln2" in point:
            ax_s.plot(layers, d.add(f"{key}.s_null_over_ln2", point.s_null_over_ln2.values[:L]), ":", color=line.get_color())
    ax_s.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax_s.set_xlabel("weight layer l")
    ax_s.set_ylabel(r"entropy density $s_l / \ln 2$ (dotted: null)")
    ax_s.set_title("effective-model entropy per layer")
    ax_s.legend(fontsize=7)
    table = ds[["s_over_ln2", "phase"]].reset_coords(drop=True).assign_coords(P=ds.P).to_dataframe().reset_index()
    d.data = table[(table["layer"] <= table["L"]) & table["P"].notna()]
    if created:
        fig.tight_layout()  # the axes titles say it all: no suptitle
    return d.finish(fig, f"binary family: alpha-L diagram ({ensemble} ensemble)", created=False)
