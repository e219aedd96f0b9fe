"""Phase-diagram figures from phase.nc: the alpha-L diagram and q*_l heat maps with the threshold contour."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from tdlm.classify import LIQUID, SOLID, UNCERTAIN  # noqa: E402

PHASE_COLOURS = {SOLID: "#3b6fb6", LIQUID: "#e07b39", UNCERTAIN: "#b0b0b0"}
PHASE_NAMES = {SOLID: "solid", LIQUID: "liquid", UNCERTAIN: "uncertain"}


def save(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """PNG and PDF side by side."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def select_T(phase: xr.Dataset, T: float | None) -> xr.Dataset:
    """The temperature slice to draw (default: the lowest temperature of the sweep)."""
    T = float(phase["T"].min()) if T is None else T
    return phase.sel(T=T, method="nearest")


def phase_diagram(phase: xr.Dataset, stem: str | Path, T: float | None = None) -> list[Path]:
    """Left: every layer of every (ln alpha, L) point coloured by phase. Right: solid depth xi_s against ln alpha."""
    ds = select_T(phase, T)
    ln_alpha = ds.ln_alpha.values
    fig, (ax, ax_xi) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    cmap = ListedColormap([PHASE_COLOURS[k] for k in (SOLID, LIQUID, UNCERTAIN)])
    width = 0.8 * (np.min(np.diff(np.unique(ln_alpha))) if len(np.unique(ln_alpha)) > 1 else 1.0)
    for i, la in enumerate(ln_alpha):
        for j, L in enumerate(ds.L.values):
            flags = ds.phase.isel(alpha=i, L=j).values[: int(L) - 1]
            if (flags < 0).all():
                continue
            # L-1 hidden layers stacked inside the cell of depth L, layer 1 at the bottom
            edges = L - 0.4 + 0.8 * np.arange(len(flags) + 1) / len(flags)
            for k, flag in enumerate(flags):
                if flag >= 0:
                    ax.fill_between([la - width / 2, la + width / 2], edges[k], edges[k + 1], color=cmap(int(flag)), lw=0)
    ax.set_xlabel(r"$\ln \alpha = \ln(M/N)$")
    ax.set_ylabel("depth L (layers 1..L-1 stacked bottom to top)")
    ax.set_yticks(ds.L.values)
    ax.set_title(f"phase of each hidden layer (T = {float(ds['T']):.3g}, threshold {phase.attrs.get('classify_threshold', np.exp(-1)):.3f})")
    ax.legend(handles=[Patch(color=PHASE_COLOURS[k], label=PHASE_NAMES[k]) for k in PHASE_COLOURS], loc="upper left", fontsize=8)
    for j, L in enumerate(ds.L.values):
        xi = ds.xi_solid.isel(L=j)
        ax_xi.plot(ln_alpha, xi.values, "o-", label=f"L = {int(L)}")
    ax_xi.set_xlabel(r"$\ln \alpha$")
    ax_xi.set_ylabel(r"solid depth $\xi_s = L - \xi_l$")
    ax_xi.set_title("solid depth (theory: grows like ln alpha)")
    ax_xi.legend(fontsize=8)
    ax_xi.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, stem)


def q_star_heatmap(phase: xr.Dataset, L: int, stem: str | Path, T: float | None = None, variable: str = "q_star") -> list[Path]:
    """q*_l over (layer, ln alpha) at depth L with the threshold contour (the paper's Fig. 1)."""
    ds = select_T(phase, T).sel(L=L)
    layers = np.arange(1, L)
    values = ds[variable].sel(layer=layers).transpose("alpha", "layer").values
    keep = np.isfinite(values).any(axis=1)
    if not keep.any():
        raise ValueError(f"no data for L = {L} at T = {float(ds['T'])}")
    values, ln_alpha = values[keep], ds.ln_alpha.values[keep]
    order = np.argsort(ln_alpha)
    values, ln_alpha = values[order], ln_alpha[order]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    mesh = ax.pcolormesh(layers, ln_alpha, values, cmap="viridis", shading="nearest", vmin=0, vmax=max(1e-9, np.nanmax(values)))
    fig.colorbar(mesh, ax=ax, label=rf"${variable.replace('_star', '')}^*_l$ (t = t*, mean over samples)")
    threshold = phase.attrs.get("classify_threshold", np.exp(-1))
    if len(ln_alpha) > 1 and len(layers) > 1 and np.nanmin(values) < threshold < np.nanmax(values):
        ax.contour(layers, ln_alpha, values, levels=[threshold], colors="white", linewidths=2)
    ax.plot([], [], color="white", lw=2, label=f"q* = {threshold:.3f} (1/e)")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\ln \alpha$")
    ax.set_xticks(layers)
    ax.set_title(f"{variable} over layers, L = {L}, T = {float(ds['T']):.3g}")
    ax.legend(loc="upper right", fontsize=8, facecolor="grey")
    fig.tight_layout()
    return save(fig, stem)
