#!/usr/bin/env python
"""Where the time of one engine step goes, relative to its bare matrix products.

    python benchmarks/profile_step.py [--N 10] [--R 8] [--reps 9] [--threads 1] [--torch-profiler]

Times (process CPU time, median of interleaved repetitions, same data as bench_md.py) of the
full Integrator.step, the ForceField call alone, its matrix products alone
(ForceField.products_only) and one torch.randn over the whole state; the rest is derived:
force element-wise work = forces - products, update = step - forces, of which noise = randn.
--torch-profiler also prints torch.profiler's table of the top operators of a few steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_md as b  # noqa: E402

from tdlm.energy import Boundary, ForceField  # noqa: E402
from tdlm.integrate import Integrator, MDState, Thermostat  # noqa: E402
from tdlm.layout import Layout  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--N", type=int, default=10)
    ap.add_argument("--R", type=int, default=8)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--torch-profiler", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    x, y = b.make_data(device, torch.float32)
    layout = Layout(b.widths(args.N), b.M, 1, args.R)
    ff = ForceField(layout, Boundary(x[None], y[None]))
    pos, vel, rng = b._engine_state(layout, torch.float32, device)
    state = MDState(pos, vel, rng)
    integ = Integrator(ff, b.DT, Thermostat.from_params("per_step", b.ETA, b.DT, b.T), pos)
    grad, noise, g2 = torch.empty_like(pos), torch.empty_like(pos), torch.Generator().manual_seed(9)
    parts = {
        "step": lambda: integ.step(state),
        "forces": lambda: ff(pos, grad),
        "products": lambda: ff.products_only(pos, grad),
        "randn": lambda: torch.randn(noise.shape, generator=g2, out=noise),
    }
    res: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(args.reps):
        for k, f in parts.items():
            f()
            c0 = time.process_time()
            for _ in range(3):
                f()
            res[k].append((time.process_time() - c0) / 3 * 1e3)
    med = {k: statistics.median(v) for k, v in res.items()}
    prod = med["products"]
    rows = [
        ("matrix products", prod),
        ("force element-wise (forces - products)", med["forces"] - prod),
        ("noise: torch.randn over the state", med["randn"]),
        ("update w/o noise (step - forces - randn)", med["step"] - med["forces"] - med["randn"]),
        ("full step", med["step"]),
    ]
    print(f"N={args.N} R={args.R} M={b.M} N_0={b.N0} L={b.L} float32, threads={torch.get_num_threads()}, "
          f"{layout.total} coordinates, layouts {ff.transposed}")
    print(f"{'part':44s} {'CPU ms/step':>12} {'x products':>11}")
    for name, ms in rows:
        print(f"{name:44s} {ms:12.2f} {ms / prod:11.2f}")
    if args.torch_profiler:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            for _ in range(5):
                integ.step(state)
        print(p.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25,
                                                              max_name_column_width=24, max_shapes_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
