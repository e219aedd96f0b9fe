"""Probe of the test-accuracy gap (docs/validation.md, "The accuracy gap"): one configuration per choice.

Runs the machine from t = 0 with the project's own engine (tdlm.md.setup.prepare, the ForceField and
the Integrator of every simulate job) and records, on a log-time grid, what the job files do not hold:
the read-out on training and test inputs through sign and tanh units, the machine's own prediction
(its free S_{L-1} through the last layer), the size of the spins and weights per layer, how far the
free spins are from the forward map (one layer at a time, and composed from the inputs), and the read-out's edge cases (exact zeros under sgn, the
accuracy of the swapped class mapping). Each variant changes one modelling choice the paper leaves open:
the keys of a variant that are simulate fields (tdlm.md.params) are passed as parameters, `init` and
`pixels` are manipulations of the probe's own.

`--protocol qstar` measures instead the q*_l profile of each variant with a reduced protocol, through
`tdlm.md.simulate.run` itself (the job file's observables, attributes and all): one sample, t_w = --t-w,
t* = --steps, --replicas replicas; it records per layer the normalised and raw q*_l (mean over pairs),
the mean |S_l| of the final spins, and E, A (sign, tanh) at t*.

    python docs/validation/probe_accuracy.py --data data/mnist01 --steps 50000 --out probe.json
    python docs/validation/probe_accuracy.py --data data/mnist01 --N 10 --protocol qstar --t-w 5000 \
        --steps 50000 --variants default "fan_in pre-activation" --out qstar.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

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
    # issue 24: candidate explanations of the paper's large central spins, as simulate parameters
    "fan_in pre-activation": {"preactivation": "fan_in"},  # tanh(J S / sqrt(N_{l-1}))
    "zero initial velocities": {"init_velocities": "zero"},
    "fan_in, literal thermostat": {"preactivation": "fan_in", "thermostat": "literal"},
}
PROBE_ONLY = ("init", "pixels")  # variant keys that are no simulate parameter


def measure(setup, position: torch.Tensor) -> dict:
    lay, train, test = setup.layout, setup.train, setup.test
    J, S = lay.weights(position), lay.spins(position)
    row: dict = {"E": float(layer_energies(position, lay, train).sum())}
    for name, data in (("test", test), ("train", train)):
        for act in ("sign", "tanh"):
            row[f"A_{act}_{name}"] = float(accuracy(J, data.x, data.y, act, lay.gains).mean())
    # the read-out's edge cases on the test set: exact zeros under sgn, the swapped class mapping
    h, zeros, total = test.x.unsqueeze(1), 0, 0
    for weight in J[:-1]:
        pre = h @ weight.transpose(-1, -2)
        zeros, total = zeros + int((pre == 0).sum()), total + pre.numel()
        h = torch.where(pre >= 0, 1.0, -1.0).to(pre.dtype)
    row["sgn_zero_fraction"] = zeros / total
    row["A_sign_test_swapped"] = 1.0 - row["A_sign_test"]
    # the machine's own prediction: its free S_{L-1} through the last layer
    own = torch.tanh(S[-1] @ J[-1].transpose(-1, -2) * lay.gain(lay.L))
    row["A_machine_train"] = float((own.argmax(-1) == train.y.argmax(-1).unsqueeze(1)).double().mean())
    row["mean_abs_S"] = [float(s.abs().mean()) for s in S]
    row["frac_S_saturated"] = [float((s.abs() > 0.9).double().mean()) for s in S]
    row["mean_abs_J"] = [float(w.abs().mean()) for w in J]
    # |S_l - tanh(J_l S_{l-1})| / |S_l|: how far the free spins are from the network's forward map
    below, rel = train.x.unsqueeze(1), []
    for l, s in enumerate(S):
        pre = below @ J[l].transpose(-1, -2) * lay.gain(l + 1)
        rel.append(float((s - torch.tanh(pre)).norm() / s.norm().clamp_min(1e-30)))
        below = s
    row["residual_over_size"] = rel
    # |h_l - S_l| / |S_l| with h_l the forward pass of the training inputs: how the one-step residuals grow
    h, dev = train.x.unsqueeze(1), []
    for l, s in enumerate(S):
        h = torch.tanh(h @ J[l].transpose(-1, -2) * lay.gain(l + 1))
        dev.append(float((h - s).norm() / s.norm().clamp_min(1e-30)))
    row["forward_vs_free"] = dev
    return row


def parameters(variant: dict, data: str, M: int, N: int, L: int, t_w: int, t_star: int, replicas: int, seed: int):
    """The simulate parameters of a variant: the validation's (MNIST 0/1, T = 1e-5, sample 0) and its own fields."""
    values = {
        "data.source": "mnist",
        "data.path": data,
        "M": M,
        "N": N,
        "L": L,
        "T": 1e-5,
        "t_w": [t_w],
        "t_star": t_star,
        "n_replicas": replicas,
        "seed": seed,
        "samples": [0],
        "device": "cpu",
    }
    return build({**values, **{k: v for k, v in variant.items() if k not in PROBE_ONLY}})


def run(variant: dict, data: str, M: int, N: int, L: int, steps: int, seed: int) -> list[dict]:
    params = parameters(variant, data, M, N, L, steps, 1, 2, seed)
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


def qstar(variant: dict, data: str, M: int, N: int, L: int, t_w: int, steps: int, replicas: int, seed: int) -> dict:
    """The reduced q*_l protocol: one simulate job (sample 0, one t_w, `replicas` replicas, t* = steps)."""
    from tdlm.md.simulate import run as simulate

    params = parameters(variant, data, M, N, L, t_w, steps, replicas, seed)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tdlm-probe-") as where:
        ds = simulate(params, Path(where) / "job.nc")
    at = ds.isel(sample=0, t_w=0, t=-1)
    spins = ds["S_final"].isel(sample=0, t_w=0)
    hidden = range(1, L)
    row = {
        "t_w": t_w,
        "t_star": steps,
        "replicas": replicas,
        "q_star_norm": [float(at["q_norm"].sel(layer=l).mean("pair")) for l in hidden],
        "q_star_raw": [float(at["q"].sel(layer=l).mean("pair")) for l in hidden],
        "q_star_test": [float(at["q_test"].sel(layer=l).mean("pair")) for l in hidden],
        "mean_abs_S": [float(abs(spins.where(ds["spin_layer"] == l, drop=True)).mean()) for l in hidden],
        "E_star": float(at["energy_layer"].sum("layer").mean("replica")),
        "A_sign_star": float(at["accuracy"].mean("replica")),
        "A_tanh_star": float(at["accuracy_tanh"].mean("replica")),
        "history": {
            "t": ds["history_time"].values.tolist(),
            "E": ds["history_energy_layer"].isel(sample=0).sum("layer").values.tolist(),
            "A_sign": ds["history_accuracy"].isel(sample=0).values.tolist(),
            "A_tanh": ds["history_accuracy_tanh"].isel(sample=0).values.tolist(),
        },
        "attrs": {k: np.asarray(v).tolist() for k, v in ds.attrs.items() if k.startswith("param_") or k == "initial_state"},
        "seconds": time.monotonic() - start,
    }
    print(
        f"  q*_l {np.round(row['q_star_norm'], 2).tolist()} |S_l| {np.round(row['mean_abs_S'], 3).tolist()} "
        f"E*={row['E_star']:.4g} A_sign*={row['A_sign_star']:.3f} A_tanh*={row['A_tanh_star']:.3f} "
        f"({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def _row(t: int, rows: list[dict]) -> dict:
    """The recorded row nearest to t (log scale)."""
    return min(rows, key=lambda r: abs(np.log(max(r["t"], 1) / t)))


def _first_below(rows: list[dict], fraction: float) -> str:
    """The first recorded t where E/E(0) < fraction (the time scale of the fall), '-' if never."""
    return next((str(r["t"]) for r in rows if r["E"] < fraction * rows[0]["E"]), "-")


def summary(name: str, rows: list[dict], plateau: int = 10000) -> str:
    """One row: the fall's time scales, the final depth, the read-outs' mean (and spread) over t >= plateau."""
    late = [r for r in rows if r["t"] >= plateau]
    sign, tanh = np.array([r["A_sign_test"] for r in late]), np.array([r["A_tanh_test"] for r in late])
    central = np.mean(rows[-1]["mean_abs_S"][1:-1])
    return (
        f"| {name} | {_first_below(rows, 0.5)} | {_first_below(rows, 0.01)} | {np.log10(rows[-1]['E'] / rows[0]['E']):.2f} | "
        f"{sign.mean():.3f} ({sign.min():.2f}-{sign.max():.2f}) | {tanh.mean():.3f} | {central:.3f} |"
    )


def report(paths: list[str], times: tuple[int, ...] = (1000, 3000, 10000, 50000)) -> str:
    """The markdown tables of docs/validation.md from probe JSON files (history and qstar protocols)."""
    hist, qstar = ["| variant | t | log10 E/E(0) | A sign | A tanh | mean abs S, layers 1..9 |"], []
    hist.append("| --- | --- | --- | --- | --- | --- |")
    short = [
        "| variant | t where E/E(0) < 0.5 | t where E/E(0) < 0.01 | log10 E/E(0) at the end | A sign, t >= 1e4: mean "
        "(range) | A tanh, t >= 1e4 | mean abs S, layers 2..8, at the end |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in paths:
        doc = json.loads(Path(path).read_text())
        for name, res in doc["results"].items():
            fmt = lambda xs, d=2: " ".join(f"{x:.{d}f}" for x in xs)  # noqa: E731
            if doc["args"].get("protocol", "history") == "qstar":
                h = res["history"]
                e0 = h["E"][0]
                qstar.append(
                    f"| {name} | {fmt(res['q_star_norm'])} | {fmt(res['q_star_raw'])} | {fmt(res['q_star_test'])} | "
                    f"{fmt(res['mean_abs_S'], 3)} | {np.log10(res['E_star'] / e0):.2f} | "
                    f"{res['A_sign_star']:.3f} | {res['A_tanh_star']:.3f} |"
                )
                continue
            short.append(summary(name, res))
            e0 = res[0]["E"]
            for t in times:
                r = _row(t, res)
                hist.append(
                    f"| {name} | {r['t']} | {np.log10(r['E'] / e0):.2f} | {r['A_sign_test']:.3f} | "
                    f"{r['A_tanh_test']:.3f} | {fmt(r['mean_abs_S'], 3)} |"
                )
    head = (
        "| variant | q*_l (normalised), layers 1..9 | raw q*_l | q*_l test | mean abs S_l at t_w + t* | "
        "log10 E*/E(0) | A* sign | A* tanh |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    return "\n\n".join(["\n".join(short), "\n".join(hist)] + ([head + "\n" + "\n".join(qstar)] if qstar else []))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="MNIST IDX folder")
    ap.add_argument("--M", type=int, default=2000)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--L", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50000, help="steps from t = 0 (history) or t* (qstar)")
    ap.add_argument("--protocol", choices=("history", "qstar"), default="history")
    ap.add_argument("--t-w", type=int, default=5000, help="qstar: the waiting time")
    ap.add_argument("--replicas", type=int, default=3, help="qstar: replicas branched at t_w")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", help="JSON with every recorded row per variant")
    ap.add_argument("--report", nargs="+", metavar="JSON", help="print the markdown tables of these probe files, run nothing")
    args = ap.parse_args()
    if args.report:
        print(report(args.report))
        return
    if not (args.out and args.data):
        ap.error("--data and --out are required unless --report")
    torch.set_num_threads(1)
    results = {}
    for name in args.variants:
        print(f"{name}:", flush=True)
        if args.protocol == "qstar":
            shape = (args.data, args.M, args.N, args.L, args.t_w, args.steps, args.replicas, args.seed)
            results[name] = qstar(VARIANTS[name], *shape)
        else:
            results[name] = run(VARIANTS[name], args.data, args.M, args.N, args.L, args.steps, args.seed)
        tmp = Path(f"{args.out}.tmp")
        tmp.write_text(json.dumps({"args": vars(args), "variants": VARIANTS, "results": results}, indent=1))
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
