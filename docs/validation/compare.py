"""Tables of docs/validation.md from a finished run of config/validation.yaml.

Prints, per point (N = 5: ln alpha = 6.0; N = 10: ln alpha = 5.3; N = 20: ln alpha = 4.6, whose paper row
is not in the spec: measured only), the measured q*_l (normalised and raw, mean and standard error over
samples) beside the paper's published row with the difference, the energy and test accuracies on the
log-time grid (single trajectory to t_w, then the branches), the final energy and accuracies beside the
paper's Fig. 2(c, f), the time scales of E(t) and A(t) beside its Fig. 2(c), the test-input q*_l beside its
Fig. 3(d), and for a run of several t_w (config/validation-aging.yaml) the aging of Fig. 2(g, h). Points that have not run yet are left out.

    python docs/validation/compare.py results/validation --figure docs/validation/validation.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from tdlm.sweep.classify import series_name

# the paper's q*_l (l = 1..9) at M = 2000, L = 10, T = 1e-5, t_w = 5e4, t* = 5e5 (arXiv:2506.06789, Fig. 1)
PAPER = {
    5: [1.00, 0.64, 0.09, 0.13, 0.47, 0.78, 0.87, 0.94, 1.00],
    10: [1.00, 0.50, 0.08, 0.06, 0.10, 0.33, 0.69, 0.86, 0.97],
}
TOLERANCE = 0.1
# the paper's Fig. 2(c) log10 E*/E(0) and Fig. 2(f) test accuracy A* at M = 2000, t* = 5e5, per hidden width
PAPER_GLOBAL = {40: (-1.55, 0.985), 20: (-1.72, 0.95), 10: (-1.83, 0.895), 5: (-1.9, 0.82)}
# the paper's Fig. 3(d): q*_l of the test-time representations at ln alpha = 5.3 (N = 10)
PAPER_TEST = {10: [0.99, 0.41, 0.04, 0.03, 0.05, 0.29, 0.63, 0.79, 0.81]}
WIDTHS = (5, 10, 20)
PAPER_M = 2000  # the paper's numbers above are of this M; other runs are printed without them


def _paper(table: dict, N: int, M: int):
    """The paper's entry for width N, or None where the run's M is not the paper's."""
    return table.get(N) if M == PAPER_M else None


def _point(ds: xr.Dataset, N: int) -> xr.Dataset:
    """The L = 10, lowest-T cell of the point with hidden width N."""
    return ds.isel(alpha=int(np.flatnonzero(ds.N.values == N)[0])).sel(L=10).isel(T=0)


def _row(values: np.ndarray, sign: str = "") -> str:
    return " | ".join("—" if not np.isfinite(v) else f"{v:{sign}.2f}" for v in values)


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean over the first axis (NaN for one value)."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def profile_table(phase: xr.Dataset, N: int) -> str:
    cell = _point(phase, N)
    layers = np.arange(1, 10)
    q = cell.q_star.sel(layer=layers).values
    sem = cell.q_star_sem.sel(layer=layers).values
    raw = cell.q_raw_star.sel(layer=layers).values
    flags = cell.phase.sel(layer=layers).values
    names = {0: "S", 1: "L", 2: "?", -1: "-"}
    lines = [
        f"ln alpha = {float(cell.ln_alpha):.2f} (M = {int(cell.M)}, N = {N}), t* = {phase.attrs['classify_t_star']}, "
        f"t_w = {phase.attrs['classify_t_w']}",
        "",
        "| layer | " + " | ".join(str(l) for l in layers) + " |",
        "| --- |" + " --- |" * len(layers),
    ]
    known = _paper(PAPER, N, int(cell.M)) is not None
    if known:
        paper = np.array(PAPER[N])
        diff = q - paper
        lines.append("| paper q*_l | " + _row(paper) + " |")
    lines += ["| measured q*_l (normalised) | " + _row(q) + " |", "| standard error | " + _row(sem) + " |"]
    if known:
        lines.append("| difference | " + _row(diff, "+") + " |")
    lines += [
        "| phase (S solid, L liquid, ? uncertain) | " + " | ".join(names[int(f)] for f in flags) + " |",
        "| raw q*_l | " + _row(raw) + " |",
    ]
    if known:
        lines += [
            "",
            f"{int((np.abs(diff) <= TOLERANCE).sum())} of 9 layers within {TOLERANCE} of the paper; "
            f"largest difference {np.max(np.abs(diff)):.2f} (layer {int(layers[np.argmax(np.abs(diff))])}).",
        ]
    return "\n".join(lines)


def _final(a: xr.Dataset, name: str) -> np.ndarray:
    """Per sample: `name` at the last branch time after the largest t_w, mean over replicas or pairs."""
    b = a[name].sel(t_w=int(a.t_w.max())).isel(t=-1)
    return b.mean([d for d in b.dims if d not in ("sample", "layer")]).values


def global_table(overlaps: xr.Dataset) -> str:
    """Fig. 2(c, f): log10 E*/E(0) and the test accuracies at t_w + t* beside the paper's, per point."""
    lines = [
        "| ln alpha (N) | log10 E*/E(0) | paper | A* sign | A* tanh | paper A* |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for N in sorted(overlaps.N.values.tolist(), reverse=True):
        a = _point(overlaps, N)
        e0 = a.history_energy.isel(history_time=0).values
        ratio = np.log10(_final(a, "energy") / e0)
        sign, tanh = _final(a, "accuracy"), _final(a, "accuracy_tanh")
        paper_e, paper_a = _paper(PAPER_GLOBAL, N, int(a.M)) or (float("nan"), float("nan"))
        cell = lambda v: f"{np.mean(v):.2f} ± {_sem(v):.2f}" if len(v) > 1 else f"{np.mean(v):.2f}"  # noqa: E731
        lines.append(
            f"| {float(a.ln_alpha):.1f} ({N}) | {cell(ratio)} | {paper_e:.2f} | {cell(sign)} | {cell(tanh)} | {paper_a:.3f} |"
        )
    return "\n".join(lines)


# the paper's Fig. 2(c) time scales at M = 2000, in words (no per-N numbers are published beside E*)
PAPER_TIMES = (
    "E(t)/E(0) flat until t ~ 1e2-1e3, a slow decline, a fast drop near t ~ 1e4, then a plateau; A(t) near 0.5 "
    "until t ~ 1e3, rising roughly like ln t until ~1e4, then flat."
)


def timescale_table(overlaps: xr.Dataset) -> str:
    """Fig. 2(c) time scales: the first recorded t (wait phase, mean over samples) where E(t)/E(0) falls below
    0.9, 0.5, 0.1 and 0.01, and E/E(0) and the tanh read-out at t = 1e2, 1e3, 1e4 (record_per_decade sets the
    resolution: 10 per decade)."""
    levels, decades = (0.9, 0.5, 0.1, 0.01), {"1e2": 1e2, "1e3": 1e3, "1e4": 1e4}
    lines = [
        "| ln alpha (N) | "
        + " | ".join(f"t: E/E(0) < {v}" for v in levels)
        + " | "
        + " | ".join(f"E/E(0) at {t}" for t in decades)
        + " | "
        + " | ".join(f"A tanh at {t}" for t in decades)
        + " |",
        "| --- |" + " --- |" * (len(levels) + 2 * len(decades)),
    ]
    for N in sorted(overlaps.N.values.tolist(), reverse=True):
        a = _point(overlaps, N)
        times = a.history_time.values
        ratio = (a.history_energy.mean("sample") / a.history_energy.isel(history_time=0).mean("sample")).values
        tanh = a.history_accuracy_tanh.mean("sample").values
        first = [times[np.flatnonzero(ratio < v)[0]] if (ratio < v).any() else None for v in levels]
        at = [int(np.argmin(np.abs(times - t))) for t in decades.values()]
        lines.append(
            f"| {float(a.ln_alpha):.1f} ({N}) | "
            + " | ".join("-" if t is None else str(int(t)) for t in first)
            + " | "
            + " | ".join(f"{ratio[i]:.3g}" for i in at)
            + " | "
            + " | ".join(f"{tanh[i]:.2f}" for i in at)
            + " |"
        )
    return "\n".join(lines + ["", "Paper: " + PAPER_TIMES])


def heldout_profile_table(overlaps: xr.Dataset, N: int) -> str:
    """Fig. 3(d) of the width-N point of a gathered run (`heldout_rows`)."""
    return heldout_rows(_point(overlaps, N))


def heldout_rows(a: xr.Dataset) -> str:
    """Fig. 3(d) of one point `a`: the test-input q*_l (the sign and, where recorded, the tanh network's hidden
    states) after the largest t_w at the last recorded t (t* once the run is finished) beside the paper's."""
    a, N = upto_recorded(a), int(a.N)
    layers = np.arange(1, a.sizes["layer"])  # the spin layers 1..L-1
    paper = np.array(_paper(PAPER_TEST, N, int(a.M)) or [np.nan] * len(layers))
    lines = [
        f"N = {N}: test-input q*_l at t_w = {int(a.t_w.max())}, t = {int(a.t[-1])} (mean over samples and pairs)",
        "",
        "| layer | " + " | ".join(str(l) for l in layers) + " |",
        "| --- |" + " --- |" * len(layers),
        "| paper | " + _row(paper) + " |",
    ]
    # the sign network's states (the paper's read-out), and the tanh network's where the run recorded them
    for name, label in (("q_test", "sign network"), ("q_test_tanh", "tanh network, normalised")):
        q = _final(a, name)[:, layers - 1] if name in a else np.array([np.nan])
        if not np.isfinite(q).any():
            continue
        lines += [
            f"| measured, {label} | " + _row(q.mean(axis=0)) + " |",
            "| standard error | " + _row(np.array([_sem(q[:, i]) for i in range(len(layers))])) + " |",
            "| difference | " + _row(q.mean(axis=0) - paper, "+") + " |",
        ]
    return "\n".join(lines)


def curves_table(overlaps: xr.Dataset, N: int) -> str:
    a = _point(overlaps, N)
    t_w = int(a.t_w.max())
    lines = [
        f"N = {N}: energy and test accuracy (mean over samples; branches: mean over replicas)",
        "",
        "| t | E | A (sign) | A (tanh) |",
        "| --- | --- | --- | --- |",
    ]
    hist, times = a.history_time.values, a.t.values
    nearest = lambda grid, want: sorted({int(grid[np.argmin(np.abs(grid - w))]) for w in want})  # noqa: E731
    for t in nearest(hist, [0, 1e2, 1e3, 1e4, t_w]):
        h = a.sel(history_time=t)
        lines.append(
            f"| {t} | {float(h.history_energy.mean()):.4g} | {float(h.history_accuracy.mean()):.3f} | "
            f"{float(h.history_accuracy_tanh.mean()):.3f} |"
        )
    for t in nearest(times, [1e2, 1e3, 1e4, 1e5, times[-1]]):
        b = a.sel(t_w=t_w, t=t)
        lines.append(
            f"| t_w + {t} | {float(b.energy.mean()):.4g} | {float(b.accuracy.mean()):.3f} | {float(b.accuracy_tanh.mean()):.3f} |"
        )
    return "\n".join(lines)


# the paper's Fig. 2(g, h) at ln alpha = 5.3 (N = 10), in words: c(t, t_w) and c*, C*, q*, Q* against t_w
PAPER_AGING = {
    10: (
        "c(t, t_w = 1e2) falls to about 0 with a dip to about -0.35 near t ~ 1e3; t_w = 1e3 has a plateau near "
        "0.57; t_w = 1e4 stays at 0.95-1. Once t_w > 1e4: c*, q* about 0.98, C* about 0.8, Q* about 0.65-0.7; "
        "at small t_w: q* 0.37-0.45, Q* 0.1-0.2, c* and C* about 0."
    )
}


def aging_table(overlaps: xr.Dataset, N: int, overlap: str = "q_norm") -> str:
    """Fig. 2(g, h) of the width-N point of a gathered run (`aging_rows`)."""
    return aging_rows(_point(overlaps, N), overlap)


def _normalisation(overlap: str) -> str:
    return "normalised" if overlap == "q_norm" else "raw"


def upto_recorded(a: xr.Dataset) -> xr.Dataset:
    """`a` up to its last branch time recorded for every t_w and sample: all of a finished run, the part
    done so far of a running one (read from its checkpoints; unrecorded times are NaN)."""
    energy = a.energy_layer
    done = np.isfinite(energy).all([d for d in energy.dims if d != "t"]).values
    return a.isel(t=slice(0, int(np.argmin(done)) if not done.all() else None))


def aging_rows(a: xr.Dataset, overlap: str = "q_norm") -> str:
    """Fig. 2(g, h) of one point `a` (dimensions sample, t_w, t, layer): the global (layer-mean) c(t, t_w) at a
    few t, its minimum, and c*, C*, q*, Q* at the last recorded t (t* once the run is finished) for every t_w
    (mean over samples; `overlap` picks the normalised or raw correlations)."""
    a, N = upto_recorded(a), int(a.N)
    glob = {name: a[series_name(name, overlap)].mean("layer", skipna=True).mean("sample") for name in ("c", "C", "q", "Q")}
    times = a.t.values
    want = sorted({int(times[np.argmin(np.abs(times - w))]) for w in (1e2, 1e3, 1e4, 1e5)} | {int(times[-1])})
    lines = [
        f"N = {N}, ln alpha = {float(a.ln_alpha):.2f}: global c(t, t_w) and the starred values at t = {int(times[-1])} "
        f"({_normalisation(overlap)}; mean over layers and samples)",
        "",
        "| t_w | " + " | ".join(f"c(t = {t})" for t in want) + " | min c (at t) | c* | C* | q* | Q* |",
        "| --- |" + " --- |" * (len(want) + 5),
    ]
    for t_w in a.t_w.values:
        c = glob["c"].sel(t_w=t_w)
        low = int(c.argmin("t"))
        cells = [f"{float(c.sel(t=t)):.2f}" for t in want]
        stars = [f"{float(glob[n].sel(t_w=t_w).isel(t=-1)):.2f}" for n in ("c", "C", "q", "Q")]
        lines.append(
            f"| {int(t_w)} | " + " | ".join(cells) + f" | {float(c[low]):.2f} ({int(times[low])}) | " + " | ".join(stars) + " |"
        )
    if _paper(PAPER_AGING, N, int(a.M)) is not None:
        lines += ["", "Paper: " + PAPER_AGING[N]]
    return "\n".join(lines)


def aging_layer_rows(a: xr.Dataset, overlap: str = "q_norm") -> str:
    """Fig. 3's layer-resolved aging of one point `a`: c*_l, C*_l, q*_l and Q*_l at the last recorded t for every
    t_w (mean over samples; the spin layers 1..L-1, the weight layers 1..L)."""
    a = upto_recorded(a)
    layers = a.layer.values
    lines = [
        f"per layer at t = {int(a.t[-1])} ({_normalisation(overlap)}; mean over samples)",
        "",
        "| quantity | t_w | " + " | ".join(f"l = {l}" for l in layers) + " |",
        "| --- | --- |" + " --- |" * len(layers),
    ]
    for name in ("c", "C", "q", "Q"):
        star = a[series_name(name, overlap)].isel(t=-1).mean("sample")
        for t_w in a.t_w.values:
            lines.append(f"| {name}* | {int(t_w)} | " + _row(star.sel(t_w=t_w).values) + " |")
    return "\n".join(lines)


def figure(phase: xr.Dataset, overlaps: xr.Dataset, path: str) -> None:
    """q*_l against the paper's rows, and E(t)/E(0) and A(t) over the whole run (t_w + t after branching)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_q, ax_e, ax_a) = plt.subplots(1, 3, figsize=(15, 4.2))
    layers = np.arange(1, 10)
    for colour, N in zip(("C0", "C3", "C2"), WIDTHS):
        if N not in phase.N.values:
            continue
        cell = _point(phase, N)
        label = f"N = {N} (ln alpha = {float(cell.ln_alpha):.1f})"
        ax_q.errorbar(
            layers,
            cell.q_star.sel(layer=layers),
            cell.q_star_sem.sel(layer=layers),
            fmt="o-",
            color=colour,
            label=f"{label}, this project",
        )
        if _paper(PAPER, N, int(cell.M)) is not None:
            ax_q.plot(layers, PAPER[N], "s--", color=colour, mfc="none", label=f"{label}, paper")
        ax_q.plot(layers, cell.q_raw_star.sel(layer=layers), ":", color=colour, lw=1, label=f"{label}, raw overlap")
        a = _point(overlaps, N)
        t_w = int(a.t_w.max())
        t = np.concatenate([a.history_time.values, t_w + a.t.values[1:]])
        e0 = float(a.history_energy.isel(history_time=0).mean())
        energy = np.concatenate([a.history_energy.mean("sample"), a.energy.sel(t_w=t_w).mean("sample")[1:]])
        ax_e.plot(t[1:], energy[1:] / e0, color=colour, label=label)
        for name, style in (("accuracy", "-"), ("accuracy_tanh", ":")):
            acc = np.concatenate([a[f"history_{name}"].mean("sample"), a[name].sel(t_w=t_w).mean("sample")[1:]])
            ax_a.plot(t[1:], acc[1:], style, color=colour, label=f"{label}, {'sign' if name == 'accuracy' else 'tanh'}")
    ax_q.axhline(np.exp(-1), color="grey", ls=":", lw=0.8)
    ax_q.set(xlabel="layer l", ylabel="q*_l (normalised unless marked raw)", title="q*_l at t* = 5e5 after t_w = 5e4")
    ax_e.set(xscale="log", yscale="log", xlabel="MD steps since t = 0", ylabel="E(t) / E(0)", title="energy")
    ax_a.set(
        xscale="log",
        xlabel="MD steps since t = 0",
        ylabel="test accuracy",
        title="test accuracy (paper A*: 0.82, 0.895, 0.95 at N = 5, 10, 20)",
    )
    for ax in (ax_q, ax_e, ax_a):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="results/<run> of config/validation.yaml")
    ap.add_argument("--figure", default=None, help="also draw the comparison into this PNG")
    args = ap.parse_args()
    run = Path(args.run)
    phase = xr.load_dataset(run / "phase.nc", engine="netcdf4")
    overlaps = xr.load_dataset(run / "overlaps.nc", engine="netcdf4")
    for N in WIDTHS:
        if N in phase.N.values:
            print(profile_table(phase, N), end="\n\n")
            print(curves_table(overlaps, N), end="\n\n")
    print(global_table(overlaps), end="\n\n")
    print(timescale_table(overlaps), end="\n\n")
    for N in PAPER_TEST:
        if N in overlaps.N.values:
            print(heldout_profile_table(overlaps, N), end="\n\n")
    if overlaps.sizes["t_w"] > 1:  # an aging run (config/validation-aging.yaml)
        for N in WIDTHS:
            if N in overlaps.N.values:
                print(aging_table(overlaps, N), end="\n\n")
                print(aging_layer_rows(_point(overlaps, N)), end="\n\n")
    if args.figure:
        figure(phase, overlaps, args.figure)


if __name__ == "__main__":
    main()
