"""Layer profiles at t = t* from phase.nc: the q*_l heat map, train vs test profiles, the depth series.

Why from phase.nc: q*_l there is exactly what the classification used (same t_w, same t*),
so these figures cannot disagree with the liquid/solid labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D

from tdlm.paper.select import Point, alpha_index, at_L_T
from tdlm.plot.common import Drawn, alpha_label, colours, new_axes
from tdlm.plot.phase import PHASE_COLOURS, PHASE_NAMES, alphas_with_data, draw_heatmap, heatmap_rows, select_T, threshold_of
from tdlm.sweep.classify import overlap_label, overlap_of, phase_star


def _q(phase: xr.Dataset) -> str:
    """The q* variable the classification used (normalised or raw)."""
    return phase_star(phase, "q")


def phase_heatmap(phase: xr.Dataset, L: int, T: float, note: str = "", ax: Any = None) -> Drawn:
    """q*_l over (layer l, ln alpha) at depth L with the threshold contour: the paper's phase diagram.

    Alpha points with equal ln alpha share one row (figures.heatmap_rows); the title says how many
    rows were merged.
    """
    d = Drawn("phase_heatmap")
    ds = at_L_T(phase, L, T)
    layers = np.arange(1, L)
    ln_alpha, values, n_merged = heatmap_rows(ds, _q(phase), L)
    fig, ax, created = new_axes(ax, 1, 1, (6.6, 4.8))
    d.add("layer", layers)
    d.add("ln_alpha", ln_alpha)
    z = d.add("q_star", values)
    has_contour = draw_heatmap(
        fig,
        ax,
        layers,
        ln_alpha,
        z,
        threshold_of(phase),
        rf"$q^*_l$ ({overlap_label(overlap_of(phase))}; t = t*, mean over samples)",
    )
    extras = []
    if len(ln_alpha) == 1:
        extras.append("only one alpha in this config")
    if not has_contour:
        extras.append("no threshold crossing to contour")
    if n_merged:
        extras.append(f"{n_merged} {'row' if n_merged == 1 else 'rows'} merged with an equal ln alpha (averaged)")
    if note:
        extras.append(note)
    title = f"Phase diagram: q*_l at L={L}, T={T:.3g}" + (f" ({'; '.join(extras)})" if extras else "")
    return d.finish(fig, title, created)


def q_profiles_train_test(phase: xr.Dataset, L: int, T: float, note: str = "", ax: Any = None) -> Drawn:
    """q*_l on the training inputs (solid) and on test inputs through the sign network (dashed) and, where
    recorded, the tanh network (dotted, normalised), per alpha."""
    d = Drawn("q_profiles_train_test")
    ds = at_L_T(phase, L, T)
    layers = np.arange(1, L)
    order = alphas_with_data(ds, _q(phase), L)
    ln_alpha = ds.ln_alpha.values[order]
    fig, ax, created = new_axes(ax, 1, 1, (7, 4.6))
    styles = {"train": ("o-", "training inputs"), "test": ("s--", "test inputs, sign network")}
    for colour, la, i in zip(colours(len(order)), ln_alpha, order):
        a = ds.isel(alpha=i).sel(layer=layers)
        label = alpha_label(int(a.M), int(a.N), float(la))
        ax.plot(
            d.add(f"train[{label}].layer", layers),
            d.add(f"train[{label}].q_star", a[_q(phase)].values),
            styles["train"][0],
            color=colour,
            label=label,
        )
        tests = [("test", "q_test_star")]
        if "q_test_tanh_star" in a and a.q_test_tanh_star.notnull().any():  # recorded since the variable exists
            tests.append(("test_tanh", "q_test_tanh_star"))
            styles["test_tanh"] = ("^:", "test inputs, tanh network")
        for key, name in tests:
            layer_values = d.add(f"{key}[{label}].layer", layers)
            values = d.add(f"{key}[{label}].{name}", a[name].values)
            ax.plot(layer_values, values, styles[key][0], color=colour, mfc="none")
    ax.axhline(threshold_of(phase), color="grey", ls=":", lw=0.8)
    ax.set_xlabel("layer l")
    ax.set_ylabel(rf"$q^*_l$ ({overlap_label(overlap_of(phase))})")
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    # one entry per alpha (its colour) and one per input set (its line style, drawn in black)
    keys = [
        Line2D([], [], color="k", mfc="k" if key == "train" else "none", ls=st[1:], marker=st[0], label=text)
        for key, (st, text) in styles.items()
    ]
    ax.legend(handles=ax.get_legend_handles_labels()[0] + keys, fontsize=7, ncol=2)
    extras = "; ".join(x for x in ("only one alpha in this config" if len(order) == 1 else "", note) if x)
    title = f"q*_l profiles for training and test inputs, L={L}, T={T:.3g}" + (f" ({extras})" if extras else "")
    return d.finish(fig, title, created)


def depth_profiles(phase: xr.Dataset, point: Point, axes: Any = None) -> Drawn:
    """q*_l profiles at the reference (M, N, T) for every depth L that holds data (the depth series)."""
    d = Drawn("depth_profiles")
    a = phase.isel(alpha=alpha_index(phase, point.M, point.N)).sel(T=point.T, method="nearest")
    Ls = [int(L) for L in a.L.values if np.isfinite(a[_q(phase)].sel(L=L, layer=slice(1, int(L) - 1)).values).any()]
    fig, (ax, ax_rel), created = new_axes(axes, 1, 2, (11, 4.4))
    for colour, L in zip(colours(len(Ls), "plasma"), Ls):
        layers = np.arange(1, L)
        q = a[_q(phase)].sel(L=L, layer=layers).values
        ax.plot(d.add(f"L={L}.layer", layers), d.add(f"L={L}.q_star", q), "o-", color=colour, label=f"L={L}")
        ax_rel.plot(d.add(f"L={L}.l_over_L", layers / L), q, "o-", color=colour, label=f"L={L}")
    for axis, xlabel in ((ax, "layer l"), (ax_rel, "l / L")):
        axis.axhline(threshold_of(phase), color="grey", ls=":", lw=0.8)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(rf"$q^*_l$ ({overlap_label(overlap_of(phase))})")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    extra = " (only one L in this config)" if len(Ls) == 1 else ""
    title = f"q*_l profiles of the depth series at M={point.M} N={point.N} T={point.T:.3g}{extra}"
    if point.note:
        title += f" [{point.note}]"
    return d.finish(fig, title, created)


def q_profile(phase: xr.Dataset, M: int, N: int, L: int, T: float | None = None, ax: Any = None) -> Drawn:
    """q*_l of one point (l = 1..L-1) with its standard errors, the threshold and each layer's phase
    (solid: filled marker, liquid: open, uncertain: grey): the clearest view of one run's point."""
    d = Drawn("q_profile")
    point = select_T(phase, T).isel(alpha=alpha_index(phase, M, N)).sel(L=L)
    layers = np.arange(1, L)
    variable = _q(phase)
    q = d.add("q_star", point[variable].sel(layer=layers).values)
    sem = d.add("q_star_sem", point[f"{variable}_sem"].sel(layer=layers).values)
    fig, ax, created = new_axes(ax, 1, 1, (6, 4))
    ax.errorbar(layers, q, yerr=np.nan_to_num(sem), fmt="-", color="grey", lw=1, capsize=3, label="q*_l +- standard error")
    flags = point.phase.sel(layer=layers).values
    for flag, colour in PHASE_COLOURS.items():
        at = flags == flag
        if at.any():
            ax.plot(layers[at], q[at], "o", color=colour, ms=7, label=PHASE_NAMES[flag])
    ax.axhline(threshold_of(phase), color="black", ls="--", lw=0.9, label=f"threshold {threshold_of(phase):.3f}")
    ax.set_xlabel("layer l")
    ax.set_ylabel(rf"$q^*_l$ ({overlap_label(overlap_of(phase))})")
    ax.set_xticks(layers)
    ax.set_ylim(min(-0.05, float(np.nanmin(q - np.nan_to_num(sem))) - 0.05), 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    title = f"q*_l at M = {M}, N = {N}, L = {L}, T = {float(point['T']):.3g}: xi_s = {float(point.xi_solid):.2f}"
    ax.set_title(title, fontsize=9)
    d.add("xi_solid", float(point.xi_solid))
    d.title, d.figure = title, fig
    return d
