"""Tables of docs/validation.md from a finished run of config/validation.yaml.

Prints, per point (N = 5: ln alpha = 6.0; N = 10: ln alpha = 5.3), the measured q*_l (normalised and
raw, mean and standard error over samples) beside the paper's published row with the difference, and the
energy and test accuracies on the log-time grid (single trajectory to t_w, then the branches).

    python docs/validation/compare.py results/validation
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

# the paper's q*_l (l = 1..9) at M = 2000, L = 10, T = 1e-5, t_w = 5e4, t* = 5e5 (arXiv:2506.06789, Fig. 1)
PAPER = {
    5: [1.00, 0.64, 0.09, 0.13, 0.47, 0.78, 0.87, 0.94, 1.00],
    10: [1.00, 0.50, 0.08, 0.06, 0.10, 0.33, 0.69, 0.86, 0.97],
}
TOLERANCE = 0.1


def _row(values: np.ndarray) -> str:
    return " | ".join("—" if not np.isfinite(v) else f"{v:.2f}" for v in values)


def profile_table(phase: xr.Dataset, N: int) -> str:
    cell = phase.isel(alpha=int(np.flatnonzero(phase.N.values == N)[0])).sel(L=10).isel(T=0)
    layers = np.arange(1, 10)
    q = cell.q_star.sel(layer=layers).values
    sem = cell.q_star_sem.sel(layer=layers).values
    raw = cell.q_raw_star.sel(layer=layers).values
    paper = np.array(PAPER[N])
    diff = q - paper
    flags = cell.phase.sel(layer=layers).values
    names = {0: "S", 1: "L", 2: "?", -1: "-"}
    lines = [
        f"ln alpha = {float(cell.ln_alpha):.2f} (M = {int(cell.M)}, N = {N}), t* = {phase.attrs['classify_t_star']}, "
        f"t_w = {phase.attrs['classify_t_w']}",
        "",
        "| layer | " + " | ".join(str(l) for l in layers) + " |",
        "| --- |" + " --- |" * len(layers),
        "| paper q*_l | " + _row(paper) + " |",
        "| measured q*_l (normalised) | " + _row(q) + " |",
        "| standard error | " + _row(sem) + " |",
        "| difference | " + " | ".join(f"{d:+.2f}" for d in diff) + " |",
        "| phase (S solid, L liquid, ? uncertain) | " + " | ".join(names[int(f)] for f in flags) + " |",
        "| raw q*_l | " + _row(raw) + " |",
        "",
        f"{int((np.abs(diff) <= TOLERANCE).sum())} of 9 layers within {TOLERANCE} of the paper; "
        f"largest difference {np.max(np.abs(diff)):.2f} (layer {int(layers[np.argmax(np.abs(diff))])}).",
    ]
    return "\n".join(lines)


def curves_table(overlaps: xr.Dataset, N: int) -> str:
    a = overlaps.isel(alpha=int(np.flatnonzero(overlaps.N.values == N)[0])).sel(L=10).isel(T=0)
    t_w = int(a.t_w.max())
    lines = [f"N = {N}: energy and test accuracy (mean over samples; branches: mean over replicas)", "",
             "| t | E | A (sign) | A (tanh) |", "| --- | --- | --- | --- |"]
    hist = a.history_time.values
    for t in hist[np.unique(np.geomspace(1, len(hist), 8).astype(int) - 1)]:
        h = a.sel(history_time=t)
        lines.append(f"| {int(t)} | {float(h.history_energy.mean()):.4g} | {float(h.history_accuracy.mean()):.3f} | "
                     f"{float(h.history_accuracy_tanh.mean()):.3f} |")
    times = a.time.values
    for t in times[np.unique(np.geomspace(1, len(times), 8).astype(int) - 1)][1:]:
        b = a.sel(t_w=t_w, time=t)
        lines.append(f"| t_w + {int(t)} | {float(b.energy.mean()):.4g} | {float(b.accuracy.mean()):.3f} | "
                     f"{float(b.accuracy_tanh.mean()):.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="results/<run> of config/validation.yaml")
    args = ap.parse_args()
    run = Path(args.run)
    phase = xr.load_dataset(run / "phase.nc", engine="netcdf4")
    overlaps = xr.load_dataset(run / "overlaps.nc", engine="netcdf4")
    for N in PAPER:
        if N in phase.N.values:
            print(profile_table(phase, N), end="\n\n")
            print(curves_table(overlaps, N), end="\n\n")


if __name__ == "__main__":
    main()
