#!/usr/bin/env python
"""Where the time of one engine step goes, relative to its bare matrix products.

    python benchmarks/profile_step.py [--N 10] [--R 8] [--reps 9] [--threads 1] [--torch-profiler]

Times (process CPU time, median of interleaved repetitions, same data as bench_md.py) of the
full Integrator.step, the ForceField call alone, its matrix products alone
(bench_md.products_only) and the step's noise alone (Integrator.draw_noise: the same streams
and workers as the step); the rest is derived: force element-wise work = forces - products,
update = step - forces, of which noise = draw_noise.
--torch-profiler also prints torch.profiler's table of the top operators of a few steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_md as b  # noqa: E402


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
    ff, integ, state = b.engine_parts(args.N, args.R, x, y)
    pos = state.position
    grad, noise, rng = torch.empty_like(pos), torch.empty_like(pos), torch.Generator().manual_seed(9)
    parts = {
        "step": lambda: integ.step(state),
        "forces": lambda: ff(pos, grad),
        "products": lambda: b.products_only(ff, pos, grad),
        "noise": lambda: integ.draw_noise(rng, noise),
    }
    res: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(args.reps):
        for k, f in parts.items():
            f()
            res[k].append(b.time_block(f, 3, device)[1] * 1e3)
    med = {k: statistics.median(v) for k, v in res.items()}
    prod = med["products"]
    rows = [
        ("matrix products", prod),
        ("force element-wise (forces - products)", med["forces"] - prod),
        ("noise: Integrator.draw_noise", med["noise"]),
        ("update w/o noise (step - forces - noise)", med["step"] - med["forces"] - med["noise"]),
        ("full step", med["step"]),
    ]
    print(
        f"N={args.N} R={args.R} M={b.M} N_0={b.N0} L={b.L} float32, threads={torch.get_num_threads()}, "
        f"{pos.numel()} coordinates, layouts {ff.transposed}"
    )
    print(f"{'part':44s} {'CPU ms/step':>12} {'x products':>11}")
    for name, ms in rows:
        print(f"{name:44s} {ms:12.2f} {ms / prod:11.2f}")
    if args.torch_profiler:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            for _ in range(5):
                integ.step(state)
        print(
            p.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=24, max_shapes_column_width=60
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
