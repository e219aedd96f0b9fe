#!/usr/bin/env python
"""Speed of one MD step at the paper's point: engine vs a plain autograd reference vs the bare products.

    python benchmarks/bench_md.py [--device cpu|cuda] [--quick] [--out results.json] [--threads T]

For M = 2000, N_0 = 784 (random +/-1 inputs, one-hot labels of 2 classes, no data files),
L = 10, hidden width N and R replicas (one sample, K = R configurations), every method is
timed in the same process, with repetitions interleaved (A, B, C, A, B, C, ...) and the
median taken, so that the ratios are robust against other load on the machine:

  engine      tdlm's Integrator.step (analytic fused forces, friction, the noise drawn as the
              engine draws it, drift, clamp walls) on the flat buffer of all R replicas
  engine+uniform  the same step with Integrator(noise="uniform"): unit-variance uniform numbers from a
              counter-based generator made inside one compiled pass of the update (tdlm.md.native)
  engine+overlap  the same step with Integrator(overlap_noise=True): the noise is drawn on a
              helper thread while the forces are computed (CPU only; uses one core more than
              --threads, so compare its CPU time, not only its wall time)
  engine+graph  the same step replayed from a CUDA graph (CUDA only)
  baseline    the engine of an older revision (--baseline-rev), for before/after in one run
  autograd    the energy as a user would first write it: one list of per-layer parameter
              tensors (requires_grad) per replica, a per-layer loop, torch.autograd.grad,
              then the Langevin update and walls written naively (per tensor, boolean masks)
  autograd-batched  the same, but each layer's tensor carries a replica axis (R, rows, cols)
              so that one autograd graph serves all replicas (a stronger reference)
  products    the bare matrix products of one engine step (products_only below: the
              same bmm calls on the same buffers and layouts, recorded once and replayed, nothing
              else): 2 for layer 1
              (pre-activation and dE/dJ_1; S_0 is fixed so dE/dS_0 is never formed), 3 for
              layers 2..L (pre-activation, dE/dJ_l, dE/dS_{l-1}); the "roofline" of the step
  products+uniform  the same for the engine+uniform step, whose fused forces keep narrow layers'
              spins feature-major (Layout.spin_major), so some operands differ: its own roofline
  floor       products plus the step's N(0, 1) noise drawn exactly as the engine draws it (same
              pieces and streams, same number of workers): the least any correct step with
              torch's generators can cost, so floor/products bounds engine/products from below

Phases (--no-phases skips them): the CPU time of each part of one engine step, per noise, from
separate timings of the parts on the engine's own objects (interleaved, median; see `phases`):
products, the forces' element-wise work, the noise, the walls, the rest of the update, and the
observables of one record amortized over the paper's log grid (record_per_decade 10, t* = 5e5).

Each block of steps is timed by the wall clock and by the process CPU time (all threads); on a
shared machine the CPU time is the steadier estimate of what a step costs, the wall time is
what a user waits. Both medians and both sets of ratios are reported.

Times are per replica-step (step time / R); engine+graph is timed only once its steps are replays of a
captured graph, which is checked before and after timing. Peak memory: on CUDA
torch.cuda.max_memory_allocated above the memory allocated before the method's state was built (for
engine+graph over its warm-up, capture and replays, so the graph's memory pool counts); on CPU the kernel's resident-set
high-water mark (VmHWM, the counter behind getrusage's ru_maxrss) reset through
/proc/self/clear_refs before each method, minus the resident set before the method's state was
built (freed heap returned with malloc_trim first). If the reset is not permitted the ru_maxrss
delta is reported instead, which is only a lower bound (the field memory_method says which).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch

import tdlm.md.energy
import tdlm.md.integrate
import tdlm.md.layout
from tdlm.device import cpu_model
from tdlm.md.cuda_graph import GRAPH_WARMUP_STEPS
from tdlm.md.energy import Boundary, ForceField
from tdlm.md.integrate import Integrator, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout
from tdlm.md.noise import NOISES

M, N0, L, CLASSES = 2000, 784, 10, 2
DT, ETA, T = 1e-2, 1e-3, 1e-5
METHODS = (
    "engine",
    "engine+uniform",
    "engine+overlap",
    "engine+graph",
    "baseline",
    "autograd",
    "autograd-batched",
    "products",
    "products+uniform",
    "floor",
)
CURRENT = {"layout": tdlm.md.layout, "energy": tdlm.md.energy, "integrate": tdlm.md.integrate}
BASELINE: dict = {}  # the older engine's modules, filled by --baseline-rev
Step = Callable[[], object]  # one MD step (or its products) of all R replicas


# ----------------------------------------------------------------------------- helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def widths(N: int) -> tuple[int, ...]:
    return (N0,) + (N,) * (L - 1) + (CLASSES,)


def make_data(device: torch.device, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (M, N0), generator=g).to(dtype).mul_(2).sub_(1)
    labels = torch.arange(M) % CLASSES
    y = torch.full((M, CLASSES), -1.0, dtype=dtype)
    y[torch.arange(M), labels] = 1.0
    return x.to(device), y.to(device)


# ----------------------------------------------------------------------------- the engine


def _engine_state(layout: Layout, dtype, device) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    g = torch.Generator(device="cpu").manual_seed(1)
    position = torch.rand(layout.total, generator=g, dtype=dtype).mul_(2).sub_(1).to(device)
    rng = torch.Generator(device=device).manual_seed(2)
    velocity = maxwell_boltzmann(layout.total, T, rng, dtype, device)
    return position, velocity, rng


def engine_parts(N: int, R: int, x: torch.Tensor, y: torch.Tensor, modules: dict = CURRENT, **flags) -> tuple:
    """(forces, integrator, state) of the engine in `modules` (this package's, or an older revision's: BASELINE)."""
    lay_m, en, it = modules["layout"], modules["energy"], modules["integrate"]
    device, dtype = x.device, x.dtype
    layout = lay_m.Layout(widths(N), M, 1, R)
    if flags.get("noise") == "uniform" and hasattr(en, "fused_spin_major"):  # as tdlm.md.setup lays the spins out
        layout = lay_m.Layout(widths(N), M, 1, R, spin_major=en.fused_spin_major(layout, dtype, device))
    boundary = en.Boundary(x.unsqueeze(0), y.unsqueeze(0))
    position, velocity, rng = _engine_state(layout, dtype, device)
    state = it.MDState(position, velocity, rng, 0)
    if hasattr(en, "ForceField"):
        fused = {"fused": True} if flags.get("noise") == "uniform" else {}  # as tdlm.md.run builds it
        forces = en.ForceField(layout, boundary, dtype=dtype, device=device, **fused)
    else:  # revisions before the ForceField
        forces = lambda flat, out: en.gradient(flat, layout, boundary, out)  # noqa: E731
    integrator = it.Integrator(forces, DT, it.Thermostat.from_params("per_step", ETA, DT, T), position, **flags)
    return forces, integrator, state


def build_engine(N: int, R: int, x: torch.Tensor, y: torch.Tensor, modules: dict = CURRENT, **flags) -> Step:
    """Integrator.step of the engine in `modules`."""
    _, integrator, state = engine_parts(N, R, x, y, modules, **flags)
    return lambda: integrator.step(state)


class GraphedEngine:
    """engine+graph: Integrator.step through the CUDA graph, with a check that steps are replayed from a
    captured graph (a timing of eager steps must never be reported as a graph timing)."""

    def __init__(self, N: int, R: int, x: torch.Tensor, y: torch.Tensor):
        _, self.integrator, self.state = engine_parts(N, R, x, y, cuda_graph=True)

    def __call__(self) -> None:
        self.integrator.step(self.state)

    def check_replaying(self) -> None:
        if not self.integrator.graph_active:
            raise RuntimeError(f"engine+graph: steps are not replayed from a captured graph ({self.integrator.graph_error})")


# engine+graph steps before its steps are replays: the eager warm-up steps, then the capture (which replays once)
GRAPH_READY_STEPS = GRAPH_WARMUP_STEPS + 1


def load_baseline(rev: str) -> None:
    """Import the engine (layout, energy, integrate) of git revision `rev` as a separate package: its whole
    src/tdlm tree, renamed, so that both the flat layout of old revisions and the tdlm.md one work."""
    import importlib
    import io
    import tarfile

    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    pkg = "tdlm_baseline"
    where = tempfile.mkdtemp(prefix="tdlm-baseline-")
    archive = subprocess.run(["git", "archive", rev, "src/tdlm"], cwd=root, capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(where, filter="data")
    os.rename(os.path.join(where, "src", "tdlm"), os.path.join(where, pkg))
    for folder, _, names in os.walk(os.path.join(where, pkg)):
        for name in (n for n in names if n.endswith(".py")):
            path = os.path.join(folder, name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(
                    text.replace("from tdlm.", f"from {pkg}.")
                    .replace("import tdlm.", f"import {pkg}.")
                    .replace("from tdlm import", f"from {pkg} import")
                )
    sys.path.insert(0, where)
    engine = f"{pkg}.md" if os.path.isdir(os.path.join(where, pkg, "md")) else pkg
    BASELINE.update({m: importlib.import_module(f"{engine}.{m}") for m in ("layout", "energy", "integrate")})
    BASELINE["rev"] = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


# ----------------------------------------------------------------------------- plain autograd references


def _energy(J: list[torch.Tensor], S: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """H = sum_l ||S_l - tanh(S_{l-1} J_l^T)||, written plainly (works with or without a replica axis)."""
    H = 0.0
    below = x
    for l in range(len(J)):
        target = S[l] if l < len(S) else y
        H = H + torch.sqrt(((target - torch.tanh(below @ J[l].transpose(-1, -2))) ** 2).sum())
        below = S[l] if l < len(S) else None
    return H


def _naive_langevin(params: list[torch.Tensor], vels: list[torch.Tensor], grads, gen: torch.Generator) -> None:
    gamma = ETA
    c = math.sqrt(gamma * (2 - gamma) * T)
    with torch.no_grad():
        for p, v, gr in zip(params, vels, grads):
            v.copy_((1 - gamma) * v - DT * gr + c * torch.randn(v.shape, generator=gen, dtype=v.dtype, device=v.device))
            p.add_(DT * v)
            hi = p > 1
            p[hi] = 2 - p[hi]
            v[hi] = -v[hi]
            lo = p < -1
            p[lo] = -2 - p[lo]
            v[lo] = -v[lo]


def _init_params(shapes: list[tuple[int, ...]], g: torch.Generator, device, dtype) -> list[torch.Tensor]:
    return [torch.rand(s, generator=g, dtype=dtype).mul_(2).sub_(1).to(device).requires_grad_() for s in shapes]


def build_autograd(N: int, R: int, x: torch.Tensor, y: torch.Tensor) -> Step:
    """One network (list of per-layer tensors) per replica, a loop over replicas."""
    w = widths(N)
    device, dtype = x.device, x.dtype
    g = torch.Generator().manual_seed(3)
    gen = torch.Generator(device=device).manual_seed(4)
    nets = []
    for _ in range(R):
        J = _init_params([(w[l], w[l - 1]) for l in range(1, L + 1)], g, device, dtype)
        S = _init_params([(M, w[l]) for l in range(1, L)], g, device, dtype)
        vel = [torch.randn(p.shape, generator=gen, dtype=dtype, device=device) * math.sqrt(T) for p in J + S]
        nets.append((J, S, vel))

    def step() -> None:
        for J, S, vel in nets:
            H = _energy(J, S, x, y)
            grads = torch.autograd.grad(H, J + S)
            _naive_langevin(J + S, vel, grads, gen)

    return step


def build_autograd_batched(N: int, R: int, x: torch.Tensor, y: torch.Tensor) -> Step:
    """Per-layer tensors with a replica axis: one autograd graph for all replicas."""
    w = widths(N)
    device, dtype = x.device, x.dtype
    g = torch.Generator().manual_seed(3)
    gen = torch.Generator(device=device).manual_seed(4)
    J = _init_params([(R, w[l], w[l - 1]) for l in range(1, L + 1)], g, device, dtype)
    S = _init_params([(R, M, w[l]) for l in range(1, L)], g, device, dtype)
    vel = [torch.randn(p.shape, generator=gen, dtype=dtype, device=device) * math.sqrt(T) for p in J + S]

    def step() -> None:
        # the sum over replicas of the energy: each replica's gradient is its own
        H = _energy(J, S, x, y.expand(R, M, CLASSES))
        grads = torch.autograd.grad(H, J + S)
        _naive_langevin(J + S, vel, grads, gen)

    return step


# ----------------------------------------------------------------------------- bare products


def products_only(ff: ForceField, flat: torch.Tensor, out: torch.Tensor) -> list[tuple]:
    """The matrix products of one call of `ff`, on its buffers and layouts, as a list of bmm calls
    (A, B, out) to replay with `replay_products` (the roofline).

    It walks the ForceField's own per-layer helpers once, recording each torch.bmm (operand and
    output views), so the products are exactly those of a force call; a replay is those calls and
    nothing else (no views, no element-wise work: the results are meaningless, `out` is
    overwritten). Each J is copied into the scaled-J buffer first, so the operands are real numbers.
    A fused ForceField's products are those of its plan (its own operands and spin layout), after one
    force call has filled its buffers.
    """
    if ff.fused:
        ff(flat, out)
        return [p for products, _ in ff._fused_plan(flat, out)[1] for p in products]
    lay = ff.layout
    SK, M = lay.S * lay.K, lay.M
    J, spins, dJ, dS = ff._blocks(flat, out)
    calls: list[tuple] = []
    bmm = torch.bmm

    def record(A: torch.Tensor, B: torch.Tensor, *, out: torch.Tensor) -> torch.Tensor:
        calls.append((A, B, out))
        return bmm(A, B, out=out)

    torch.bmm = record
    try:
        for l in range(lay.L, 0, -1):
            n_out, n_in, tr, a, Jl, js, below = ff._layer(l, J, spins)
            torch.add(Jl, Jl, out=js)  # real operands
            ff._preactivation(l, tr, js, below, a)
            ff._weight_product(l, tr, a, below, dJ[l - 1].view(SK, n_out, n_in))
            if l > 1:
                ff._input_product(tr, js, a, dS[l - 2].view(SK, M, n_in))
    finally:
        torch.bmm = bmm
    return calls


def replay_products(calls: list[tuple]) -> None:
    """One step's products, recorded by `products_only`."""
    for A, B, C in calls:
        torch.bmm(A, B, out=C)


def build_products(N: int, R: int, x: torch.Tensor, y: torch.Tensor) -> Step:
    """The matrix products of one engine step, nothing else (the engine's own calls and buffers)."""
    device, dtype = x.device, x.dtype
    layout = Layout(widths(N), M, 1, R)
    position, _, _ = _engine_state(layout, dtype, device)
    out = torch.empty_like(position)
    ff = ForceField(layout, Boundary(x.unsqueeze(0), y.unsqueeze(0)), dtype=dtype, device=device)
    calls = products_only(ff, position, out)
    return lambda: replay_products(calls)


def build_products_uniform(N: int, R: int, x: torch.Tensor, y: torch.Tensor) -> Step:
    """The matrix products of one engine+uniform step: its fused ForceField's, on its spin layout."""
    ff, _, state = engine_parts(N, R, x, y, noise="uniform")
    calls = products_only(ff, state.position, torch.empty_like(state.position))
    return lambda: replay_products(calls)


def build_floor(N: int, R: int, x: torch.Tensor, y: torch.Tensor) -> Step:
    """The bare products plus the step's Gaussian noise, drawn by the engine's own Integrator.draw_noise
    (same streams, reseeded every step, same workers): no correct step with the spec's N(0, 1) noise
    from torch's generators can be faster than this."""
    products = build_products(N, R, x, y)
    position, _, rng = _engine_state(Layout(widths(N), M, 1, R), x.dtype, x.device)
    integrator = Integrator(lambda flat, out: None, DT, Thermostat.from_params("per_step", ETA, DT, T), position)
    noise = torch.empty_like(position)

    def step() -> None:
        products()
        integrator.draw_noise(rng, noise)

    return step


PAPER_T_STAR, PAPER_RECORDS_PER_DECADE, N_TEST = 500_000, 10, 400


def phases(N: int, R: int, x: torch.Tensor, y: torch.Tensor, noise: str, reps: int = 7) -> dict[str, float]:
    """CPU ms per step of each phase of one engine step with `noise` (median of `reps` interleaved repetitions).

    Timed directly: the whole step, the force call, its products (products_only), the Gaussian noise
    (Integrator.draw_noise: the step's own streams), the walls (reflect_ over the state, the engine's
    work buffer) and one record of the branched phase's observables (measure_branches with a test set
    of N_TEST examples); derived: forces' element-wise work = forces - products, the rest of the update
    = step - forces - noise - walls (for the uniform noise, whose numbers and walls are made inside one
    compiled pass, that pass is the whole update). Observables are amortized: one record's time times
    the records of a paper branch (log grid of t*) over its t* steps.
    """
    from tdlm.md.observables import measure_branches
    from tdlm.md.setup import log_grid
    from tdlm.md.space import reflect_

    forces, integ, state = engine_parts(N, R, x, y, noise=noise)
    pos, device = state.position, x.device
    grad, buf = torch.empty_like(pos), torch.empty_like(pos)
    rng = torch.Generator(device=device).manual_seed(9)
    wall_x, wall_v = pos.clone(), state.velocity.clone()
    test = Boundary(x[:N_TEST].unsqueeze(0), y[:N_TEST].unsqueeze(0))
    layout = forces.layout
    parts: dict[str, Step] = {
        "step": lambda: integ.step(state),
        "forces": lambda: forces(pos, grad),
        "products": functools.partial(replay_products, products_only(forces, pos, grad)),
        "observables": lambda: measure_branches(layout, pos, state.velocity, pos, forces.boundary, test, 1, R),
    }
    if noise == "gaussian":
        parts["noise"] = lambda: integ.draw_noise(rng, buf)
        parts["walls"] = lambda: reflect_(wall_x, wall_v, work=buf)
    samples: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(reps):
        for name, part in parts.items():
            part()
            samples[name].append(1e3 * time_block(part, 3, device)[1])
    integ.close()
    med = {k: statistics.median(v) for k, v in samples.items()}
    records = len(log_grid(PAPER_T_STAR, PAPER_RECORDS_PER_DECADE))
    noise_ms, walls_ms = med.get("noise", 0.0), med.get("walls", 0.0)
    out = {
        "products": med["products"],
        "element-wise": med["forces"] - med["products"],
        "noise": noise_ms,
        "walls": walls_ms,
        "update rest": med["step"] - med["forces"] - noise_ms - walls_ms,
        "observables": med["observables"] * records / PAPER_T_STAR,
    }
    out["step"] = sum(out.values())
    out["observables per record"] = med["observables"]
    return out


def thread_scaling(N: int, R: int, x: torch.Tensor, y: torch.Tensor, threads: int, reps: int = 9) -> dict[str, dict]:
    """Wall ms per step of the engine (each noise) and of its products at 1 thread and at `threads`,
    interleaved in one process (each engine built under its thread count, so its noise workers match):
    the speed-up a single job gets from more threads, measured under the same load."""
    device, before = x.device, torch.get_num_threads()
    built: dict[tuple[str, int], Step] = {}
    for n in (1, threads):
        torch.set_num_threads(n)
        built[("products", n)] = build_products(N, R, x, y)
        for noise in NOISES:
            built[(noise, n)] = build_engine(N, R, x, y, noise=noise)
    walls: dict[tuple[str, int], list[float]] = {k: [] for k in built}
    try:
        for _ in range(reps):
            for (name, n), step in built.items():
                torch.set_num_threads(n)
                step()
                walls[(name, n)].append(1e3 * time_block(step, 3, device)[0])
    finally:
        torch.set_num_threads(before)
    out = {}
    for name in ("products", *NOISES):
        one, many = statistics.median(walls[(name, 1)]), statistics.median(walls[(name, threads)])
        out[name] = {"ms_1": one, f"ms_{threads}": many, "speedup": one / many}
    return out


PHASES = ("products", "element-wise", "noise", "walls", "update rest", "observables")


def format_phases(rows: list[dict]) -> str:
    """Per configuration and noise: CPU ms per step of each phase and its share of the step."""
    lines = ["phases of one step: CPU ms per step (share of the step); uniform: noise and walls inside 'update rest'"]
    head = f"{'N':>3} {'R':>3} {'noise':>8} " + " ".join(f"{p:>17}" for p in PHASES) + f" {'step':>8}"
    lines += [head, "-" * len(head)]
    for r in rows:
        for noise, ph in r.get("phases", {}).items():
            cells = " ".join(f"{ph[p]:8.3f} ({100 * ph[p] / ph['step']:5.1f}%)" for p in PHASES)
            lines.append(f"{r['N']:>3} {r['R']:>3} {noise:>8} {cells} {ph['step']:8.2f}")
    return "\n".join(lines)


BUILDERS = {
    "engine": lambda N, R, x, y: build_engine(N, R, x, y),
    "engine+uniform": lambda N, R, x, y: build_engine(N, R, x, y, noise="uniform"),
    "engine+overlap": lambda N, R, x, y: build_engine(N, R, x, y, overlap_noise=True),
    "engine+graph": GraphedEngine,
    "baseline": lambda N, R, x, y: build_engine(N, R, x, y, modules=BASELINE),
    "autograd": build_autograd,
    "autograd-batched": build_autograd_batched,
    "products": build_products,
    "products+uniform": build_products_uniform,
    "floor": build_floor,
}


# ----------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory(name: str, N: int, R: int, x: torch.Tensor, y: torch.Tensor, steps: int = 2) -> tuple[float | None, str]:
    """MiB above the baseline at the peak of building the method and running `steps` steps."""
    device = x.device
    if device.type == "cuda":
        _trim()
        torch.cuda.empty_cache()
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        m = BUILDERS[name](N, R, x, y)
        graphed = isinstance(m, GraphedEngine)
        for _ in range(steps + GRAPH_READY_STEPS * graphed):  # the graph's pool counts: past its warm-up
            m()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device)
        if graphed:
            m.check_replaying()
        del m
        return (peak - base) / 2**20, "torch.cuda.max_memory_allocated"
    _trim()
    reset = _reset_hwm()
    base_kb = _status_kb("VmRSS") or 0
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    m = BUILDERS[name](N, R, x, y)
    for _ in range(steps):
        m()
    if reset and _status_kb("VmHWM") is not None:
        peak_kb, how = _status_kb("VmHWM"), "VmHWM (reset via /proc/self/clear_refs) - VmRSS before"
        result = (peak_kb - base_kb) / 1024
    else:
        peak_kb, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss delta (lower bound)"
        result = (peak_kb - maxrss0) / 1024
    del m
    _trim()
    return max(result, 0.0), how


# ----------------------------------------------------------------------------- timing


def time_block(step: Step, n: int, device: torch.device) -> tuple[float, float]:
    """(wall, CPU) seconds per step over n steps."""
    sync(device)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    sync(device)
    return (time.perf_counter() - w0) / n, (time.process_time() - c0) / n


# (label, numerator, denominator, column of the printed table or None: JSON only)
RATIOS = (
    ("autograd/engine", "autograd", "engine", "ag/eng"),
    ("autograd-batched/engine", "autograd-batched", "engine", "agb/eng"),
    ("engine/products", "engine", "products", "eng/prod"),
    ("engine+uniform/products", "engine+uniform", "products", "uni/prod"),
    ("engine+uniform/products+uniform", "engine+uniform", "products+uniform", "uni/prodU"),
    ("autograd/engine+uniform", "autograd", "engine+uniform", "ag/uni"),
    ("baseline/engine", "baseline", "engine", "base/eng"),
    ("floor/products", "floor", "products", "flo/prod"),
    ("engine/floor", "engine", "floor", None),
    ("autograd/products", "autograd", "products", "ag/prod"),
    ("engine+overlap/products", "engine+overlap", "products", "ovl/prod"),
    ("autograd/engine+overlap", "autograd", "engine+overlap", None),
    ("engine+graph/products", "engine+graph", "products", "graph/prod"),
    ("autograd/engine+graph", "autograd", "engine+graph", "ag/graph"),
)


def bench_config(
    N: int, R: int, methods: list[str], x, y, budget: float, max_reps: int, min_reps: int, block_s: float, memory: bool
) -> dict:
    device = x.device
    built: dict[str, Step] = {}
    inner: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for name in methods:
        try:
            m = BUILDERS[name](N, R, x, y)
            time_block(m, 1, device)  # warm-up (and, for the graph, the eager steps before capture)
            if isinstance(m, GraphedEngine):
                time_block(m, GRAPH_READY_STEPS, device)  # the eager warm-up steps, then the capture
                m.check_replaying()
            t, _ = time_block(m, 1, device)
        except Exception as e:  # noqa: BLE001 - report and go on
            skipped[name] = f"{type(e).__name__}: {e}"
            continue
        built[name] = m
        inner[name] = max(1, min(200, int(block_s / max(t, 1e-6))))
    walls: dict[str, list[float]] = {name: [] for name in built}
    cpus: dict[str, list[float]] = {name: [] for name in built}
    t_start = time.perf_counter()
    reps = 0
    while reps < max_reps and (reps < min_reps or time.perf_counter() - t_start < budget):
        for name, m in built.items():  # interleaved: A, B, C, A, B, C, ...
            w, c = time_block(m, inner[name], device)
            walls[name].append(w)
            cpus[name].append(c)
        reps += 1
    for m in built.values():
        if isinstance(m, GraphedEngine):
            m.check_replaying()  # every timed block replayed the one graph captured before timing
    built.clear()
    gc.collect()
    row: dict = {"N": N, "R": R, "reps": reps, "steps_per_rep": inner, "skipped": skipped, "methods": {}}
    for name in walls:
        w, c = walls[name], cpus[name]
        row["methods"][name] = {
            "ms_per_step": 1e3 * statistics.median(w),
            "ms_per_replica_step": 1e3 * statistics.median(w) / R,
            "ms_per_replica_step_min": 1e3 * min(w) / R,
            "ms_per_replica_step_max": 1e3 * max(w) / R,
            "cpu_ms_per_replica_step": 1e3 * statistics.median(c) / R,
            "wall_samples_ms_per_step": [1e3 * v for v in w],
        }
    if memory:
        for name in walls:
            try:
                mib, how = peak_memory(name, N, R, x, y)
            except Exception as e:  # noqa: BLE001
                mib, how = None, f"failed: {type(e).__name__}: {e}"
            row["methods"][name]["peak_mib"] = mib
            row["memory_method"] = how
    for key, field in (("ratios", "ms_per_replica_step"), ("ratios_cpu", "cpu_ms_per_replica_step")):
        per = {k: v[field] for k, v in row["methods"].items()}
        row[key] = {label: per[a] / per[b] for label, a, b, _ in RATIOS if a in per and b in per}
    return row


def format_table(rows: list[dict], methods: list[str]) -> str:
    cols = [m for m in methods if any(m in r["methods"] for r in rows)]
    ratio_cols = [(label, short) for label, _, _, short in RATIOS if short and any(label in r["ratios"] for r in rows)]
    head = f"{'N':>3} {'R':>3} " + " ".join(f"{m:>16}" for m in cols)
    head += " " + " ".join(f"{short:>15}" for _, short in ratio_cols)
    lines = ["wall ms per replica-step (median) [CPU ms in brackets]; ratios wall (CPU)", head, "-" * len(head)]
    for r in rows:
        cells = []
        for m in cols:
            v = r["methods"].get(m)
            cells.append(f"{v['ms_per_replica_step']:7.2f} [{v['cpu_ms_per_replica_step']:6.2f}]" if v else f"{'-':>16}")
        rc = [f"{r['ratios'][k]:6.2f} ({r['ratios_cpu'][k]:5.2f})" if k in r["ratios"] else f"{'-':>15}" for k, _ in ratio_cols]
        lines.append(f"{r['N']:>3} {r['R']:>3} " + " ".join(cells) + " " + " ".join(rc))
    if any("peak_mib" in v for r in rows for v in r["methods"].values()):
        lines += [
            "",
            "peak memory, MiB above the baseline before the method was built",
            f"{'N':>3} {'R':>3} " + " ".join(f"{m:>16}" for m in cols),
        ]
        for r in rows:
            mem = []
            for m in cols:
                v = r["methods"].get(m, {}).get("peak_mib")
                mem.append(f"{v:16.1f}" if v is not None else f"{'-':>16}")
            lines.append(f"{r['N']:>3} {r['R']:>3} " + " ".join(mem))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--quick", action="store_true", help="reduced set for smoke use (< 60 s on 2 cores)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default 1: on a shared machine OpenMP barriers make multi-threaded "
        "timings meaningless; use the core count on a dedicated machine)",
    )
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--N", type=int, nargs="+", default=None, help="hidden widths (default 5 10 20 40; quick: 10 20)")
    ap.add_argument("--R", type=int, nargs="+", default=None, help="replica counts (default 3 8)")
    ap.add_argument("--no-phases", action="store_true", help="skip the per-phase profile of the engine's step (CPU)")
    ap.add_argument(
        "--scaling",
        type=int,
        default=None,
        metavar="T",
        help="also time each engine and its products at 1 and T threads, interleaved (wall time; one job's speed-up)",
    )
    ap.add_argument("--methods", nargs="+", default=None, choices=METHODS)
    ap.add_argument("--budget", type=float, default=None, help="seconds of timing per configuration")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matrix products on CUDA")
    ap.add_argument("--baseline-rev", default=None, help="also time the engine of this git revision (e.g. HEAD~1)")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device available", file=sys.stderr)
        return 2
    threads = args.threads or 1
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
    dtype = getattr(torch, args.dtype)
    Ns = args.N or ([10, 20] if args.quick else [5, 10, 20, 40])
    Rs = args.R or [3, 8]
    if args.baseline_rev:
        load_baseline(args.baseline_rev)
    applicable = {
        "engine+graph": device.type == "cuda",
        "engine+overlap": device.type == "cpu",
        "baseline": bool(args.baseline_rev),
    }
    methods = args.methods or [m for m in METHODS if applicable.get(m, True)]
    budget = args.budget if args.budget is not None else (2.0 if args.quick else 30.0)
    max_reps, min_reps = (3, 3) if args.quick else (25, 5)
    block_s = 0.05 if args.quick else 0.2

    x, y = make_data(device, dtype)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
        "tf32": bool(args.tf32 and device.type == "cuda"),
        "M": M,
        "N_0": N0,
        "L": L,
        "classes": CLASSES,
        "S": 1,
        "quick": args.quick,
        "budget_s": budget,
        "timing": "median over interleaved repetitions; ms per replica-step = step time / R",
        "engine_api": "ForceField" if ForceField is not None else "gradient",
        "baseline_rev": BASELINE.get("rev"),
        "methods": methods,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "scaling_threads": args.scaling,
    }
    print(
        f"# torch {meta['torch']} on {device} ({meta['device_name'] or meta['cpu']}), threads={meta['threads']}, "
        f"dtype={args.dtype}, M={M}, N_0={N0}, L={L}",
        flush=True,
    )
    rows = []
    t0 = time.perf_counter()
    for N in Ns:
        for R in Rs:
            row = bench_config(N, R, methods, x, y, budget, max_reps, min_reps, block_s, memory=not args.no_memory)
            if device.type == "cpu" and not args.no_phases:
                row["phases"] = {noise: phases(N, R, x, y, noise, reps=3 if args.quick else 7) for noise in NOISES}
            if args.scaling:
                row["scaling"] = thread_scaling(N, R, x, y, args.scaling, reps=3 if args.quick else 9)
                print(
                    f"N={N} R={R} speed-up at {args.scaling} threads (wall, interleaved): "
                    + ", ".join(f"{k} {v['speedup']:.2f}x" for k, v in row["scaling"].items()),
                    flush=True,
                )
            rows.append(row)
            per = ", ".join(
                f"{k} {v['ms_per_replica_step']:.3f} [{v['cpu_ms_per_replica_step']:.3f}]" for k, v in row["methods"].items()
            )
            print(
                f"N={N} R={R} reps={row['reps']}: {per} ms/replica-step; "
                + ", ".join(f"{k} {v:.2f}" for k, v in row["ratios"].items())
                + (f"; skipped {row['skipped']}" if row["skipped"] else ""),
                flush=True,
            )
    meta["wall_s"] = time.perf_counter() - t0
    meta["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    meta["memory_method"] = next((r.get("memory_method") for r in rows if r.get("memory_method")), None)
    print()
    print(format_table(rows, list(METHODS)))
    if any("phases" in r for r in rows):
        print()
        print(format_phases(rows))
    print(f"# memory: {meta['memory_method']}; wall {meta['wall_s']:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
        print(f"# wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
