"""Gather benchmark: wall time and peak memory of `tdlm.sweep.gather.gather_sweep` against the number of
points, on synthetic point files shaped like the paper's (8 samples, 4 waiting times, 58 times, L from 3
to 22, float32 as the jobs write them).

Each size runs in a fresh subprocess, which reports its own peak resident memory (ru_maxrss), so the
sizes do not share an allocator. Point files are written once per size under --workdir and reused.

    python benchmarks/bench_gather.py --points 250 1000 4000 [--workdir /tmp/bench_gather] [--out gather.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

SAMPLES, T_W, TIMES, HISTORY = 8, 4, 58, 40
SCALAR = ("energy", "kinetic_temperature", "accuracy", "accuracy_tanh")
LAYERED = ("energy_layer", "c", "c_norm", "C", "C_norm", "q", "q_norm", "Q", "Q_norm", "q_test")
HISTORY_SCALAR = ("history_energy", "history_accuracy", "history_accuracy_tanh")


def _params(M: int, N: int, L: int) -> dict:
    return {"M": M, "N": N, "L": L, "T": 1e-5, "t_w": [100, 1000, 10000, 50000], "t_star": 500000, "n_replicas": 8}


def point_file(path: Path, M: int, N: int, L: int, rng: np.random.Generator) -> None:
    """One synthetic point: the variables, dims and attributes of a real point file, random float32 values."""
    from tdlm.storage import point_coords, provenance, write_atomic

    branch, shape = ("sample", "t_w", "t"), (SAMPLES, T_W, TIMES)
    data = {name: (branch, rng.random(shape, dtype=np.float32)) for name in SCALAR}
    data.update({name: ((*branch, "layer"), rng.random((*shape, L), dtype=np.float32)) for name in LAYERED})
    data.update({name: (("sample", "history_time"), rng.random((SAMPLES, HISTORY), dtype=np.float32)) for name in HISTORY_SCALAR})
    data["history_energy_layer"] = (("sample", "history_time", "layer"), rng.random((SAMPLES, HISTORY, L), dtype=np.float32))
    coords = {
        "sample": np.arange(SAMPLES),
        "t_w": [100, 1000, 10000, 50000],
        "t": np.arange(TIMES) * 10000,  # the paper's log grid has 58 points; only the size matters here
        "history_time": np.arange(HISTORY) * 1000,
        "layer": np.arange(1, L + 1),
    }
    attrs = provenance(_params(M, N, L), {"ln_alpha": float(np.log(M / N))})
    ds = xr.Dataset(data, coords=coords, attrs=attrs).expand_dims(["alpha", "L", "T"])  # as gather-point writes it
    write_atomic(ds.assign_coords(point_coords(M, N, L, 1e-5, dim="point")), path)


def make_points(folder: Path, n: int) -> list[Path]:
    """n points over a grid of (N, L) at fixed M: L from 3 to 22, as many N as needed."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Ls = list(range(3, 23))
    files = []
    for i in range(n):
        L, N = Ls[i % len(Ls)], 2 + i // len(Ls)
        path = folder / f"M~2000_N~{N}_L~{L}.nc"
        if not path.exists():
            point_file(path, 2000, N, L, rng)
        files.append(path)
    return files


def _measure(folder: str, out: str) -> None:
    """Subprocess body: gather the folder's points, print seconds and peak MB."""
    from tdlm.sweep.gather import gather_sweep

    files = sorted(Path(folder).glob("*.nc"))
    start = time.perf_counter()
    gather_sweep(files, out).close()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"points": len(files), "seconds": seconds, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_gather"))
    parser.add_argument("--out", type=Path, default=None, help="JSON file of the results")
    parser.add_argument("--measure", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure(*args.measure)
        return
    rows = []
    for n in args.points:
        folder = args.workdir / f"points_{n}"
        t0 = time.perf_counter()
        make_points(folder, n)
        made = time.perf_counter() - t0
        result = subprocess.run(
            [sys.executable, __file__, "--measure", str(folder), str(args.workdir / f"overlaps_{n}.nc")],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        row["seconds_per_point_ms"] = 1e3 * row["seconds"] / row["points"]
        rows.append(row)
        print(
            f"{row['points']:6d} points: {row['seconds']:8.1f} s ({row['seconds_per_point_ms']:.1f} ms/point), "
            f"peak {row['peak_mb']:.0f} MB (files written in {made:.0f} s)",
            flush=True,
        )
    if len(rows) > 1:
        ratio = rows[-1]["seconds_per_point_ms"] / rows[0]["seconds_per_point_ms"]
        print(f"time per point, {rows[-1]['points']} vs {rows[0]['points']} points: x{ratio:.2f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
