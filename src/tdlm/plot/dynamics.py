"""Time-resolved figures from overlaps.nc: energy and accuracy, aging, layer-resolved correlations, tau_l.

Why separate from the profiles: these read the full (t_w, t) records of overlaps.nc, the
profiles only the t = t* values of phase.nc.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from tdlm.paper.select import Point, at_L_T, at_point
from tdlm.paper.tau import first_crossing
from tdlm.plot.common import (
    Drawn,
    alpha_label,
    colours,
    errorbar,
    layer_mean,
    log_or_symlog,
    mean_sem,
    new_axes,
    threshold_panel,
    time_curve,
)
from tdlm.sweep.classify import DEFAULT_OVERLAP, overlap_label, series_name


def _alphas_with_data(ds: xr.Dataset, variable: str = "energy") -> list[int]:
    """Indices along alpha whose cell holds data (gathered sweeps are NaN-padded)."""
    has = ds[variable].notnull().any([d for d in ds[variable].dims if d != "alpha"])
    return [int(i) for i in np.flatnonzero(has.values)]


def _only(n: int, what: str) -> str:
    return f" (only one {what} in this config)" if n == 1 else ""


def _note(point: Point) -> str:
    return f" [{point.note}]" if point.note else ""


def energy_accuracy(overlaps: xr.Dataset, point: Point, axes: Any = None) -> Drawn:
    """E(t)/E(0) and A(t) for each alpha at the reference (L, T): the single trajectory up to the
    largest t_w, then the branches of that t_w (mean over replicas, then samples)."""
    d = Drawn("energy_accuracy")
    ds = at_L_T(overlaps, point.L, point.T)
    t_w = int(ds.t_w.max())
    idx = _alphas_with_data(ds)
    fig, (ax_e, ax_a), created = new_axes(axes, 1, 2, (11, 4.2))
    for colour, i in zip(colours(len(idx)), idx):
        a = ds.isel(alpha=i)
        e0 = a.history_energy.isel(history_time=0)
        t = np.concatenate([a.history_time.values, t_w + a.t.values[1:]])
        energy = np.concatenate(
            [(a.history_energy / e0).mean("sample").values, (a.energy.sel(t_w=t_w) / e0).mean("sample").values[1:]]
        )
        acc = np.concatenate([a.history_accuracy.mean("sample").values, a.accuracy.sel(t_w=t_w).mean("sample").values[1:]])
        acc_tanh = np.concatenate(
            [a.history_accuracy_tanh.mean("sample").values, a.accuracy_tanh.sel(t_w=t_w).mean("sample").values[1:]]
        )
        label = alpha_label(int(a.M), int(a.N), float(a.ln_alpha))
        time_curve(ax_e, d, f"E_ratio[{label}]", t, energy, color=colour, label=label)
        time_curve(ax_a, d, f"A[{label}]", t, acc, color=colour, label=label)
        time_curve(ax_a, d, f"A_tanh[{label}]", t, acc_tanh, color=colour, ls=":", lw=1)
    for ax in (ax_e, ax_a):
        ax.set_xscale("log")
        ax.axvline(t_w, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(f"MD steps t since t = 0 (branches of t_w = {t_w:d} after the dashed line)")
        ax.grid(alpha=0.3)
    ax_e.set_yscale("log")
    ax_e.set_ylabel("E(t) / E(0)")
    ax_a.set_ylabel("test accuracy A(t) (solid: sign net, dotted: tanh net)")
    ax_e.legend(fontsize=7, ncol=2)
    title = f"Energy and test accuracy per alpha, L={point.L}, T={point.T:.3g}{_only(len(idx), 'alpha')}{_note(point)}"
    return d.finish(fig, title, created)


def star_vs_alpha(overlaps: xr.Dataset, point: Point, axes: Any = None) -> Drawn:
    """E* and A* at t = t* after the largest t_w against ln alpha (mean and SEM over samples)."""
    d = Drawn("star_vs_alpha")
    ds = at_L_T(overlaps, point.L, point.T)
    at = ds.sel(t_w=int(ds.t_w.max())).isel(t=-1)
    idx = _alphas_with_data(ds)
    x = ds.ln_alpha.values[idx]
    fig, (ax_e, ax_a), created = new_axes(axes, 1, 2, (10, 4))
    m, s = mean_sem(at.energy.isel(alpha=idx))
    # markers only: two alpha series can share ln alpha with different M, and E* grows with M
    errorbar(ax_e, d, "E_star", x, m.values, s.values, fmt="o")
    for name, style in (("accuracy", "o"), ("accuracy_tanh", "s")):
        m, s = mean_sem(at[name].isel(alpha=idx))
        errorbar(ax_a, d, f"{name}_star", x, m.values, s.values, fmt=style, label=name.replace("accuracy", "A"))
    ax_e.set_ylabel("E* = E(t*)")
    ax_a.set_ylabel("A* = A(t*)")
    ax_a.legend(fontsize=8)
    for ax in (ax_e, ax_a):
        ax.set_xlabel(r"$\ln \alpha$")
        ax.grid(alpha=0.3)
    title = (
        f"E* and A* at t*={int(ds.t[-1])} after t_w={int(ds.t_w.max())}, L={point.L}, T={point.T:.3g}"
        f"{_only(len(idx), 'alpha')}{_note(point)}"
    )
    return d.finish(fig, title, created)


def aging(overlaps: xr.Dataset, point: Point, overlap: str = DEFAULT_OVERLAP, axes: Any = None) -> Drawn:
    """Global c(t, t_w) and C(t, t_w) for every waiting time: slower decay at larger t_w is aging.

    `overlap` (the classification's choice) picks the normalised or the raw correlations.
    """
    d = Drawn("aging")
    a = at_point(overlaps, point)
    fig, grid, created = new_axes(axes, 1, 2, (10, 4))
    for ax, name in zip(grid, ("c", "C")):
        curves = layer_mean(a[series_name(name, overlap)]).mean("sample")
        for colour, t_w in zip(colours(a.sizes["t_w"], "plasma"), a.t_w.values):
            time_curve(ax, d, f"{name}[t_w={t_w}]", a.t.values, curves.sel(t_w=t_w).values, color=colour, label=f"t_w={t_w}")
        ax.set_xscale("log")
        threshold_panel(ax, f"{name}(t, t_w) (mean over layers and samples)", "t (MD steps since t_w)", fontsize=8)
    title = (
        f"Aging of the global auto-correlations ({overlap_label(overlap)}) at {point.label()}"
        f"{_only(a.sizes['t_w'], 't_w')}{_note(point)}"
    )
    return d.finish(fig, title, created)


def star_vs_tw(overlaps: xr.Dataset, point: Point, overlap: str = DEFAULT_OVERLAP, ax: Any = None) -> Drawn:
    """c*, C*, q*, Q* (layer averages at t = t*) against t_w, mean and SEM over samples (normalised or raw)."""
    d = Drawn("star_vs_tw")
    a = at_point(overlaps, point).isel(t=-1)
    fig, ax, created = new_axes(ax, 1, 1, (6.4, 4.4))
    t_w = a.t_w.values.astype(float)
    for name, marker in (("c", "o"), ("C", "s"), ("q", "^"), ("Q", "v")):
        m, s = mean_sem(layer_mean(a[series_name(name, overlap)]))
        errorbar(ax, d, f"{name}_star", t_w, m.values, s.values, fmt=f"{marker}-", label=f"{name}*")
    log_or_symlog(ax, t_w, "x")
    threshold_panel(ax, "value at t = t* (mean over layers)", "waiting time t_w (MD steps)", fontsize=8)
    title = f"c*, C*, q*, Q* ({overlap_label(overlap)}) against t_w at {point.label()}{_only(len(t_w), 't_w')}{_note(point)}"
    return d.finish(fig, title, created)


def layer_dynamics(overlaps: xr.Dataset, point: Point, overlap: str = DEFAULT_OVERLAP, axes: Any = None) -> Drawn:
    """c_l, C_l, q_l, Q_l over t for every layer after the largest t_w (spins: l = 1..L-1, weights: 1..L),
    normalised or raw as `overlap` says."""
    d = Drawn("layer_dynamics")
    a = at_point(overlaps, point)
    t_w = int(a.t_w.max())
    a = a.sel(t_w=t_w).mean("sample")
    fig, grid, created = new_axes(axes, 2, 2, (11, 8), sharex=True)
    for ax, name in zip(grid.flat, ("c", "C", "q", "Q")):
        layers = range(1, point.L) if name in ("c", "q") else range(1, point.L + 1)
        for colour, l in zip(colours(len(layers), "coolwarm"), layers):
            values = a[series_name(name, overlap)].sel(layer=l).values
            time_curve(ax, d, f"{name}_l[{l}]", a.t.values, values, color=colour, label=f"l={l}")
        ax.set_xscale("log")
        threshold_panel(ax, f"{name}_l(t, t_w={t_w})", fontsize=6, ncol=2)
    for ax in grid[1]:
        ax.set_xlabel("t (MD steps since t_w)")
    title = f"Layer-resolved correlations and overlaps ({overlap_label(overlap)}) at {point.label()}, t_w={t_w}{_note(point)}"
    return d.finish(fig, title, created)


def tau_vs_tw(overlaps: xr.Dataset, point: Point, axes: Any = None) -> Drawn:
    """tau_l (first crossing of the sample-mean c_l and C_l with 1/e) against t_w.

    Top row: the raw correlations of the spec. Their value at t = 0 is the self-overlap <x^2> < 1,
    so a layer of small neurons or weights starts below 1/e and gets tau = 0. Bottom row: the
    normalised correlations (1 at t = 0), whose tau measures decorrelation alone. A layer that
    never crosses within t* has no tau; it is drawn as an open marker at t* (a lower bound).
    """
    d = Drawn("tau")
    a = at_point(overlaps, point).mean("sample")
    t, t_star = a.t.values, float(a.t.values[-1])
    t_w = a.t_w.values.astype(float)
    fig, grid, created = new_axes(axes, 2, 2, (11, 8), sharex=True)
    undefined, at_zero = 0, 0
    for ax, name in zip(grid.flat, ("c", "C", "c_norm", "C_norm")):
        layers = range(1, point.L) if name.startswith("c") else range(1, point.L + 1)
        for colour, l in zip(colours(len(layers), "coolwarm"), layers):
            tau = np.array([first_crossing(t, a[name].sel(t_w=tw, layer=l).values) for tw in a.t_w.values])
            never = np.isnan(tau)
            undefined += int(never.sum())
            at_zero += int((tau == 0).sum())
            y = d.add(f"tau_{name}[{l}].y", np.where(never, t_star, tau))
            x = d.add(f"tau_{name}[{l}].t_w", t_w)
            d.add(f"tau_{name}[{l}].undefined", never.astype(float))
            ax.plot(x, y, "-", color=colour, lw=0.8)
            ax.plot(x[~never], y[~never], "o", color=colour, label=f"l={l}")
            ax.plot(x[never], y[never], "o", mfc="none", color=colour)
        log_or_symlog(ax, t_w, "x")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0, top=2 * t_star)
        ax.axhline(t_star, color="grey", ls="--", lw=0.8)
        what = name.replace("_norm", "") + "_l" + (" normalised" if name.endswith("_norm") else "")
        ax.set_ylabel(rf"$\tau_l$: {what} < 1/e (open: none up to t*)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    for ax in grid[1]:
        ax.set_xlabel("t_w (MD steps)")
    title = (
        f"Relaxation times tau_l against t_w at {point.label()}: raw (top), normalised (bottom); "
        f"{undefined} undefined (never below 1/e), {at_zero} zero (below at t=0)"
        f"{_only(len(t_w), 't_w')}{_note(point)}"
    )
    return d.finish(fig, title, created)


def temperature(overlaps: xr.Dataset, point: Point, axes: Any = None) -> Drawn:
    """E* and A* against T at the reference (M, N, L), for every temperature that holds data."""
    d = Drawn("temperature")
    i = int(np.flatnonzero((overlaps.M.values == point.M) & (overlaps.N.values == point.N))[0])
    ds = overlaps.isel(alpha=i).sel(L=point.L)
    at = ds.sel(t_w=int(ds.t_w.max())).isel(t=-1)
    has = at.energy.notnull().any("sample").values
    Ts = ds["T"].values[has].astype(float)
    fig, (ax_e, ax_a), created = new_axes(axes, 1, 2, (10, 4))
    m, s = mean_sem(at.energy.isel(T=np.flatnonzero(has)))
    errorbar(ax_e, d, "E_star", Ts, m.values, s.values, fmt="o-")
    for name, style in (("accuracy", "o-"), ("accuracy_tanh", "s:")):
        m, s = mean_sem(at[name].isel(T=np.flatnonzero(has)))
        errorbar(ax_a, d, f"{name}_star", Ts, m.values, s.values, fmt=style, label=name.replace("accuracy", "A"))
    for ax in (ax_e, ax_a):
        log_or_symlog(ax, Ts, "x")
        ax.set_xlabel("temperature T")
        ax.grid(alpha=0.3)
    ax_e.set_ylabel("E* = E(t*)")
    ax_a.set_ylabel("A* = A(t*)")
    ax_a.legend(fontsize=8)
    title = (
        f"Temperature dependence at M={point.M} N={point.N} L={point.L}, t_w={int(ds.t_w.max())}"
        f"{_only(len(Ts), 'T')}{_note(point)}"
    )
    return d.finish(fig, title, created)
