"""Phase-diagram figures from phase.nc: the alpha-L diagram and q*_l heat maps with the threshold contour.

Each function draws into the axes it is given (or a new figure) and returns the Figure, so a user can
restyle it; given a `stem`, it saves PNG and PDF and, beside them, the values it drew as CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from tdlm.sweep.classify import LIQUID, SOLID, UNCERTAIN, overlap_label, overlap_of, phase_star  # noqa: E402
from tdlm.sweep.tables import POINT, phase_table, xi_table  # noqa: E402

PHASE_COLOURS = {SOLID: "#3b6fb6", LIQUID: "#e07b39", UNCERTAIN: "#b0b0b0"}
PHASE_NAMES = {SOLID: "solid", LIQUID: "liquid", UNCERTAIN: "uncertain"}


def save(fig: plt.Figure, stem: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """PNG and PDF side by side, and the drawn values as `<stem>.csv` when given (the figure is closed
    for pyplot, not destroyed: the caller may still restyle and save it)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    if data is not None:
        csv = stem.with_suffix(".csv")
        tmp = csv.with_name(f".{csv.name}.tmp")
        data.to_csv(tmp, index=False)
        tmp.replace(csv)
        paths.append(csv)
    return paths


def _axes(axes: Any, n: int, figsize: tuple[float, float], **kwargs: Any) -> tuple[plt.Figure, Any]:
    """The given axes (one, or a sequence of n) and their figure, or a new figure with n axes."""
    if axes is None:
        return plt.subplots(1, n, figsize=figsize, **kwargs)
    first = axes if n == 1 else axes[0]
    return first.figure, axes


def select_T(phase: xr.Dataset, T: float | None) -> xr.Dataset:
    """The temperature slice to draw (default: the lowest temperature of the sweep)."""
    T = float(phase["T"].min()) if T is None else T
    return phase.sel(T=T, method="nearest")


def layer_stack(ax: plt.Axes, x: np.ndarray, depths: np.ndarray, flags: np.ndarray, colours: dict[int, str]) -> None:
    """Draw each point's layers as a column of cells at (x, L), layer 1 at the bottom; flags (x, L, layer), < 0 skipped."""
    width = 0.8 * (np.min(np.diff(np.unique(x))) if len(np.unique(x)) > 1 else 1.0)
    for i, xi in enumerate(x):
        for j, L in enumerate(depths):
            column = flags[i, j]
            column = column[: np.max(np.nonzero(column >= 0)[0]) + 1] if (column >= 0).any() else column[:0]
            edges = L - 0.4 + 0.8 * np.arange(len(column) + 1) / max(len(column), 1)
            for k, flag in enumerate(column):
                if flag >= 0:
                    ax.fill_between([xi - width / 2, xi + width / 2], edges[k], edges[k + 1], color=colours[int(flag)], lw=0)
    ax.set_yticks(depths)


def phase_diagram(
    phase: xr.Dataset,
    stem: str | Path | None = None,
    T: float | None = None,
    axes: Any = None,
    boundaries: pd.DataFrame | None = None,
) -> plt.Figure:
    """Left: every layer of every (ln alpha, L) point coloured by phase, with the refinement's `boundaries`
    (boundary.csv) as brackets and estimates. Right: solid depth xi_s against ln alpha. `axes`: two Axes to
    draw into. The CSV: one row per point and hidden layer (phase.csv's columns and xi_s)."""
    ds = select_T(phase, T)
    ln_alpha = ds.ln_alpha.values
    fig, (ax, ax_xi) = _axes(axes, 2, (11, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    layer_stack(ax, ln_alpha, ds.L.values, ds.phase.transpose("alpha", "L", "layer").values, PHASE_COLOURS)
    ax.set_xlabel(r"$\ln \alpha = \ln(M/N)$")
    ax.set_ylabel("depth L (layers 1..L-1 stacked bottom to top)")
    ax.set_title(
        f"phase of each hidden layer (T = {float(ds['T']):.3g}, {overlap_label(overlap_of(phase))}, "
        f"threshold {phase.attrs.get('classify_threshold', np.exp(-1)):.3f})"
    )
    handles = [Patch(color=PHASE_COLOURS[k], label=PHASE_NAMES[k]) for k in PHASE_COLOURS]
    if boundaries is not None and len(boundaries):
        handles += draw_boundaries(ax, boundaries[np.isclose(boundaries["T"], float(ds["T"]))])
    # below the axes: inside, it would cover the columns of the smallest ln alpha
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=len(handles), fontsize=8)
    for j, L in enumerate(ds.L.values):
        ax_xi.plot(ln_alpha, ds.xi_solid.isel(L=j).values, "o-", label=f"L = {int(L)}")
    ax_xi.set_xlabel(r"$\ln \alpha$")
    ax_xi.set_ylabel(r"solid depth $\xi_s = L - \xi_l$")
    ax_xi.set_title("solid depth (theory: grows like ln alpha)")
    ax_xi.legend(fontsize=8)
    ax_xi.grid(alpha=0.3)
    fig.tight_layout()
    if stem is not None:
        one_T = phase.sel(T=[float(ds["T"])])
        save(fig, stem, phase_table(one_T).merge(xi_table(one_T)[[*POINT, "xi_solid"]], on=POINT))
    return fig


def draw_boundaries(ax: plt.Axes, boundaries: pd.DataFrame) -> list:
    """Each bracket as a black bar between its ends with its estimate marked: per-layer ones at the layer's
    height, onset ones along ln alpha at height L and along L at the point's ln alpha. Returns legend handles."""
    drawn = []
    for b in boundaries.itertuples(index=False):
        if b.along == "L":
            x, y = np.log(b.M / b.N), b.estimate
            lo, hi = b.estimate - b.low, b.high - b.estimate
            drawn.append(ax.errorbar(x, y, yerr=[[lo], [hi]], fmt="D", color="black", ms=4, capsize=3, lw=1))
            continue
        y = b.L if b.kind == "onset" else b.L - 0.4 + 0.8 * (b.layer - 0.5) / (b.L - 1)
        fmt = "o" if b.kind == "onset" else "|"
        xerr = [[b.estimate - b.low], [b.high - b.estimate]]
        drawn.append(ax.errorbar(b.estimate, y, xerr=xerr, fmt=fmt, color="black", ms=5, capsize=3, lw=1))
    if not drawn:
        return []
    return [plt.Line2D([], [], color="black", marker="|", label="boundary: bracket and estimate")]


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
    """Cells over (layer, ln alpha) with the threshold contour; True when there was a crossing to contour."""
    mesh = ax.pcolormesh(
        _edges(layers), _edges(ln_alpha), values, cmap="viridis", shading="flat", vmin=0, vmax=max(1e-9, float(np.nanmax(values)))
    )
    fig.colorbar(mesh, ax=ax, label=label)
    has_contour = len(ln_alpha) > 1 and len(layers) > 1 and np.nanmin(values) < threshold < np.nanmax(values)
    if has_contour:
        ax.contour(layers, ln_alpha, values, levels=[threshold], colors="white", linewidths=2)
    name = " (1/e)" if np.isclose(threshold, np.exp(-1)) else ""
    ax.plot([], [], color="white", lw=2, label=f"q* = {threshold:.3f}{name}")
    ax.legend(loc="upper right", fontsize=8, facecolor="grey")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\ln \alpha$")
    ax.set_xticks(layers)
    return bool(has_contour)


def q_star_heatmap(
    phase: xr.Dataset,
    L: int,
    stem: str | Path | None = None,
    T: float | None = None,
    variable: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """q*_l over (layer, ln alpha) at depth L with the threshold contour (the paper's Fig. 1).

    Default variable: the q* the classification used (normalised or raw, phase.nc records it).
    The CSV: one row per cell (ln alpha, layer, value).
    """
    variable = variable or phase_star(phase, "q")
    ds = select_T(phase, T).sel(L=L)
    ln_alpha, values, merged = heatmap_rows(ds, variable, L)
    if not len(ln_alpha):
        raise ValueError(f"no data for L = {L} at T = {float(ds['T'])}")
    fig, ax = _axes(ax, 1, (6.4, 4.6))
    symbol = variable.replace("_raw_star", "").replace("_star", "")
    kind = "raw" if variable.endswith("_raw_star") else "normalised"
    draw_heatmap(
        fig,
        ax,
        np.arange(1, L),
        ln_alpha,
        values,
        phase.attrs.get("classify_threshold", np.exp(-1)),
        rf"${symbol}^*_l$ ({kind}; t = t*, mean over samples)",
    )
    ax.set_title(
        f"{variable} over layers, L = {L}, T = {float(ds['T']):.3g}"
        + (f" ({merged} equal-ln-alpha rows averaged)" if merged else "")
    )
    fig.tight_layout()
    if stem is not None:
        rows, layers = np.meshgrid(np.arange(len(ln_alpha)), np.arange(1, L), indexing="ij")
        cells = {"L": L, "T": float(ds["T"]), "ln_alpha": ln_alpha[rows.ravel()], "layer": layers.ravel()}
        save(fig, stem, pd.DataFrame({**cells, variable: values.ravel()}))
    return fig


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
    s_l/ln 2 (its deepest point at the smallest alpha) with its null band shaded (null mean +- null_z spreads,
    where a block is indistinguishable from independent weights), and on a second y axis the thermal
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
        k = float(measures.attrs.get("param_null_z", 3.0))
        ax.fill_between(rel_b, null - k * spread, null + k * spread, color="grey", alpha=0.3, label=f"null band (+-{k:g} sd)")
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
    ax.legend(handles[0] + handles_t[0], handles[1] + handles_t[1], fontsize=7, loc="lower center")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if stem is not None:
        rows = [(family, name, x, y) for family, name, xs, ys in curves for x, y in zip(xs, ys)]
        save(fig, stem, pd.DataFrame(rows, columns=["family", "quantity", "relative_depth", "value"]))
    return fig
