#!/usr/bin/env python
"""Where the time of one engine step goes, relative to its bare matrix products, for each noise.

    python benchmarks/profile_step.py [--N 10] [--R 8] [--reps 9] [--threads 1] [--noise gaussian uniform]
                                      [--torch-profiler]

The phases are bench_md.phases (process CPU time, median of interleaved repetitions, same data as
bench_md.py): products, the forces' element-wise work, the noise, the walls, the rest of the update
and the observables amortized over the paper's log grid, each also as a multiple of the products.
--torch-profiler also prints torch.profiler's table of the top operators of a few steps (the compiled
passes of tdlm.md.native do not appear there: they are not torch operators).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_md as b  # noqa: E402

from tdlm.md.noise import NOISES  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--N", type=int, default=10)
    ap.add_argument("--R", type=int, default=8)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--noise", nargs="+", default=list(NOISES), choices=NOISES)
    ap.add_argument("--torch-profiler", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    x, y = b.make_data(device, torch.float32)
    ff, _, state = b.engine_parts(args.N, args.R, x, y)
    print(
        f"N={args.N} R={args.R} M={b.M} N_0={b.N0} L={b.L} float32, threads={torch.get_num_threads()}, "
        f"{state.position.numel()} coordinates, layouts {ff.transposed}"
    )
    for noise in args.noise:
        ph = b.phases(args.N, args.R, x, y, noise, reps=args.reps)
        print(f"\nnoise: {noise}\n{'part':28s} {'CPU ms/step':>12} {'x products':>11} {'share':>7}")
        for name in (*b.PHASES, "step"):
            print(f"{name:28s} {ph[name]:12.3f} {ph[name] / ph['products']:11.2f} {100 * ph[name] / ph['step']:6.1f}%")
        print(f"(one record of the observables: {ph['observables per record']:.2f} ms)")
        if args.torch_profiler:
            from torch.profiler import ProfilerActivity, profile

            _, integ, st = b.engine_parts(args.N, args.R, x, y, noise=noise)
            integ.step(st)
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
                for _ in range(5):
                    integ.step(st)
            print(
                p.key_averages(group_by_input_shape=True).table(
                    sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=24, max_shapes_column_width=60
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
