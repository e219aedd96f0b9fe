#!/usr/bin/env python
"""Speed of the binary family: LR-net training against its bare batched products, and the Ising fit.

    python benchmarks/bench_binary.py [--runs 500] [--widths 20 15 15 10] [--fit-samples 100000]
                                      [--fit-weights 300] [--quick] [--threads 1] [--out results.json]

Training (tdlm.binarynet.lrnet.train_lrnet) of R runs on random inputs of the paper's shapes (P = 1000
examples, batch 200, no data files) and the bare matrix products of one training step are timed in the
same process, blocks interleaved (train, products, train, ...), the median taken:

  train     whole optimiser steps: batch gather, LR forward (two products per layer), cross-entropy,
            autograd backward, Adam; one epoch per block (5 steps, the epoch's argsort included)
  products  exactly the batched products of one step, with the same shapes and layouts (torch.bmm over
            the run dimension): forward mean and variance per layer (2 L), their weight gradients (2 L),
            the gradients flowing to the previous layer's activations (2 (L - 1)); the "roofline"
  ratio     train / products per step (the issue's target: within 3)

networks/s is R divided by the time of a full paper training (150 epochs of P = 1000: 750 steps).
The fit times tdlm.binarynet.ising.fit_pseudolikelihood on `--fit-samples` samples of a block of
`--fit-weights` weights drawn like an LR-net ensemble (biased weights, correlated pairs), once.
Wall clock and process CPU time are both reported; on a shared machine CPU time is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from tdlm.binarynet.ising import fit_pseudolikelihood
from tdlm.binarynet.lrnet import LRNetConfig, n_steps, train_lrnet

PAPER_EPOCHS, N_TRAIN, BATCH = 150, 1000, 200


def _clock(fn, repeat: int) -> tuple[float, float]:
    """(wall, cpu) seconds of `repeat` calls of fn."""
    w, c = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - w, time.process_time() - c


def step_products(widths: list[int], runs: int, batch: int) -> Callable[[], None]:
    """A function that runs exactly the batched products of one training step, on preallocated tensors."""
    gen = torch.Generator().manual_seed(0)
    acts = [torch.randn(runs, batch, n, generator=gen) for n in widths[:-1]]
    outs = [torch.randn(runs, batch, n, generator=gen) for n in widths[1:]]
    weights = [torch.randn(runs, o, i, generator=gen) for i, o in zip(widths[:-1], widths[1:])]

    def run() -> None:
        for layer, (a, g, w) in enumerate(zip(acts, outs, weights)):
            for _ in range(2):  # mean and variance
                torch.bmm(a, w.transpose(1, 2))  # forward
                torch.bmm(g.transpose(1, 2), a)  # weight gradient
                if layer > 0:
                    torch.bmm(g, w)  # gradient to the previous activations

    return run


def bench_training(widths: list[int], runs: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(N_TRAIN, widths[0], generator=gen)
    y = torch.randint(0, widths[-1], (N_TRAIN,), generator=gen)
    cfg = LRNetConfig(tuple(widths), epochs=1, batch_size=BATCH)
    steps = n_steps(cfg, N_TRAIN)
    products = step_products(widths, runs, BATCH)
    train_lrnet(x, y, runs, cfg, 0)  # warm-up
    products()
    times = {"train": [], "products": []}
    for rep in range(repeats):
        times["train"].append(_clock(lambda rep=rep: train_lrnet(x, y, runs, cfg, rep), 1))
        times["products"].append(_clock(products, steps))
    out = {}
    for name, values in times.items():
        for k, kind in enumerate(("wall", "cpu")):
            out[f"{name}_step_{kind}_s"] = statistics.median(v[k] for v in values) / steps
    for kind in ("wall", "cpu"):
        out[f"ratio_{kind}"] = out[f"train_step_{kind}_s"] / out[f"products_step_{kind}_s"]
        paper_training = out[f"train_step_{kind}_s"] * PAPER_EPOCHS * math.ceil(N_TRAIN / BATCH)
        out[f"networks_per_s_{kind}"] = runs / paper_training
        out[f"paper_training_{kind}_s"] = paper_training
    return out


def bench_fit(samples: int, weights: int) -> dict:
    rng = np.random.default_rng(0)
    p_plus = 1 / (1 + np.exp(-rng.normal(0, 2, weights)))
    s = np.where(rng.random((samples, weights)) < p_plus, 1.0, -1.0)
    s[:, 1::2] = s[:, ::2] * np.where(rng.random((samples, weights // 2)) < 0.8, 1.0, -1.0)
    wall, cpu = _clock(lambda: fit_pseudolikelihood(s, l2=0.02), 1)
    return {"fit_samples": samples, "fit_weights": weights, "fit_wall_s": wall, "fit_cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--widths", type=int, nargs="+", default=[20, 15, 15, 10])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fit-samples", type=int, default=100_000)
    ap.add_argument("--fit-weights", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.repeats, args.fit_samples, args.fit_weights = 20, 2, 2000, 40
    torch.set_num_threads(args.threads)
    result = {
        "runs": args.runs,
        "widths": args.widths,
        "threads": args.threads,
        "torch": torch.__version__,
        "host": platform.node(),
        "load_before": list(os.getloadavg()),
        **bench_training(args.widths, args.runs, args.repeats),
        **bench_fit(args.fit_samples, args.fit_weights),
        "load_after": list(os.getloadavg()),
    }
    for key, value in result.items():
        print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
