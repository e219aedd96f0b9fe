"""Probe of the test-accuracy gap (docs/validation.md, "The accuracy gap"): one configuration per choice.

Runs the machine from t = 0 with the project's own engine (tdlm.md.setup.prepare, the ForceField and
the Integrator of every simulate job) and records, on a log-time grid, what the job files do not hold:
the read-out on training and test inputs through sign and tanh units, the machine's own prediction
(its free S_{L-1} through the last layer), the size of the spins and weights per layer, how far the
free spins are from the forward map (one layer at a time, and composed from the inputs), and the read-out's edge cases (exact zeros under sgn, the
accuracy of the swapped class mapping). Each variant changes one modelling choice the paper leaves open.

    python docs/validation/probe_accuracy.py --data data/mnist01 --steps 50000 --out probe.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from tdlm.md.energy import force_field, layer_energies
from tdlm.md.integrate import Integrator, Thermostat
from tdlm.md.observables import accuracy
from tdlm.md.params import build
from tdlm.md.setup import initial_state, log_grid, prepare

VARIANTS = {
    "default": {},  # per-step thermostat, S and J uniform in (-1, 1), pixels and labels +/-1
    "literal thermostat": {"thermostat": "literal"},
    "saturated initial spins": {"init": "saturated"},  # S = +/-1 at random, J uniform
    "forward-pass initial spins": {"init": "forward"},  # S_l = tanh(J_l S_{l-1}) of the initial J
    "pixels 0/1": {"pixels": "01"},
}


def measure(setup, position: torch.Tensor) -> dict:
    lay, train, test = setup.layout, setup.train, setup.test
    J, S = lay.weights(position), lay.spins(position)
    row: dict = {"E": float(layer_energies(position, lay, train).sum())}
    for name, data in (("test", test), ("train", train)):
        for act in ("sign", "tanh"):
            row[f"A_{act}_{name}"] = float(accuracy(J, data.x, data.y, act).mean())
    # the read-out's edge cases on the test set: exact zeros under sgn, the swapped class mapping
    h, zeros, total = test.x.unsqueeze(1), 0, 0
    for weight in J[:-1]:
        pre = h @ weight.transpose(-1, -2)
        zeros, total = zeros + int((pre == 0).sum()), total + pre.numel()
        h = torch.where(pre >= 0, 1.0, -1.0).to(pre.dtype)
    row["sgn_zero_fraction"] = zeros / total
    row["A_sign_test_swapped"] = 1.0 - row["A_sign_test"]
    # the machine's own prediction: its free S_{L-1} through the last layer
    own = torch.tanh(S[-1] @ J[-1].transpose(-1, -2))
    row["A_machine_train"] = float((own.argmax(-1) == train.y.argmax(-1).unsqueeze(1)).double().mean())
    row["mean_abs_S"] = [float(s.abs().mean()) for s in S]
    row["frac_S_saturated"] = [float((s.abs() > 0.9).double().mean()) for s in S]
    row["mean_abs_J"] = [float(w.abs().mean()) for w in J]
    # |S_l - tanh(J_l S_{l-1})| / |S_l|: how far the free spins are from the network's forward map
    below, rel = train.x.unsqueeze(1), []
    for l, s in enumerate(S):
        pre = below @ J[l].transpose(-1, -2)
        rel.append(float((s - torch.tanh(pre)).norm() / s.norm().clamp_min(1e-30)))
        below = s
    row["residual_over_size"] = rel
    # |h_l - S_l| / |S_l| with h_l the forward pass of the training inputs: how the one-step residuals grow
    h, dev = train.x.unsqueeze(1), []
    for l, s in enumerate(S):
        h = torch.tanh(h @ J[l].transpose(-1, -2))
        dev.append(float((h - s).norm() / s.norm().clamp_min(1e-30)))
    row["forward_vs_free"] = dev
    return row


def run(variant: dict, data: str, M: int, N: int, L: int, steps: int, seed: int) -> list[dict]:
    params = build(
        {
            "data.source": "mnist",
            "data.path": data,
            "M": M,
            "N": N,
            "L": L,
            "T": 1e-5,
            "t_w": [steps],
            "t_star": 1,
            "n_replicas": 2,
            "seed": seed,
            "samples": [0],
            "device": "cpu",
            "thermostat": variant.get("thermostat", "per_step"),
        }
    )
    setup = prepare(params)
    if variant.get("pixels") == "01":
        setup.train.x.add_(1).mul_(0.5)
        setup.test.x.add_(1).mul_(0.5)
    state = initial_state(setup)
    lay = setup.layout
    g = torch.Generator().manual_seed(seed + 1)
    if variant.get("init") == "saturated":
        for s in lay.spins(state.position):
            s.copy_(torch.randint(0, 2, s.shape, generator=g).to(s.dtype).mul_(2).sub_(1))
    elif variant.get("init") == "forward":
        below = setup.train.x.unsqueeze(1)
        for w, s in zip(lay.weights(state.position), lay.spins(state.position)):
            s.copy_(torch.tanh(below @ w.transpose(-1, -2)))
            below = s
    p = params
    thermostat = Thermostat.from_params(p.thermostat, p.eta, p.dt, p.T)
    integrator = Integrator(force_field(lay, setup.train), p.dt, thermostat, state.position)
    rows, start = [], time.monotonic()
    try:
        for t in log_grid(steps, 4):
            while state.step < t:
                integrator.step(state)
            row = {"t": int(t), **measure(setup, state.position)}
            rows.append(row)
            print(
                f"  t={t:>7d} E={row['E']:.4g} A_sign={row['A_sign_test']:.3f} A_tanh={row['A_tanh_test']:.3f} "
                f"A_machine_train={row['A_machine_train']:.3f} |S| {np.round(row['mean_abs_S'], 3).tolist()} "
                f"({time.monotonic() - start:.0f} s)",
                flush=True,
            )
    finally:
        integrator.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="MNIST IDX folder")
    ap.add_argument("--M", type=int, default=2000)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--L", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", required=True, help="JSON with every recorded row per variant")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name in args.variants:
        print(f"{name}:", flush=True)
        results[name] = run(VARIANTS[name], args.data, args.M, args.N, args.L, args.steps, args.seed)
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
