#!/usr/bin/env python
"""Quick correctness checks of the MD engine (run before committing engine changes).

    python benchmarks/check_engine.py [--device cpu|cuda]

1. forces vs autograd of `layer_energies` in float64, rel. error (max |diff| / max |ref|) < 1e-10,
   for several shapes, both working layouts (feature-major and natural) and K, S > 1;
2. float32 forces vs the float64 reference (< 1e-4);
3. a zero-residual layer exerts exactly zero force;
4. bit-determinism: two runs of 20 Integrator steps from the same seed are identical, and a run
   split in two (state and generator saved and restored) equals the uninterrupted one;
5. walls: reflect_ matches the definition (x > 1 -> 2 - x, x < -1 -> -2 - x, v -> -v);
6. on CUDA: the CUDA-graph step reproduces the eager step bit for bit (skipped on CPU).
Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import sys

import torch

from tdlm.energy import Boundary, ForceField, gradient, layer_energies
from tdlm.integrate import Integrator, MDState, Thermostat, maxwell_boltzmann
from tdlm.layout import Layout
from tdlm.space import reflect_


def setup(widths, M, S, K, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    lay = Layout(tuple(widths), M, S, K)
    x = (torch.randint(0, 2, (S, M, widths[0]), generator=g) * 2 - 1).to(dtype)
    y = -torch.ones(S, M, widths[-1], dtype=dtype)
    y[:, torch.arange(M), torch.arange(M) % widths[-1]] = 1.0
    flat = (torch.rand(lay.total, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    return lay, Boundary(x.to(device), y.to(device)), flat.to(device)


def autograd_forces(lay, bd, flat):
    f = flat.detach().clone().requires_grad_()
    E = layer_energies(f, lay, bd)
    (g,) = torch.autograd.grad(E.sum(), f)
    return g, E.detach()


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def check_forces(device) -> None:
    cases = [((12, 5, 5, 5, 2), 30, 1, 1), ((12, 5, 5, 5, 2), 30, 2, 3), ((20, 7, 7, 3), 17, 1, 4),
             ((64, 40, 40, 40, 2), 50, 1, 2), ((64, 20, 20, 2), 40, 3, 2), ((9, 4, 2), 11, 2, 2)]
    for widths, M, S, K in cases:
        lay, bd, flat = setup(widths, M, S, K, torch.float64, device)
        ref, E_ref = autograd_forces(lay, bd, flat)
        for transposed in (None, True, False):
            ff = ForceField(lay, bd, transposed=transposed)
            out = torch.full_like(flat, float("nan"))
            E = ff(flat, out)
            err, errE = rel(out, ref), rel(E, E_ref)
            assert err < 1e-10 and errE < 1e-10, (widths, M, S, K, transposed, err, errE)
        out = torch.empty_like(flat)
        E = gradient(flat, lay, bd, out)
        assert rel(out, ref) < 1e-10 and rel(E, E_ref) < 1e-10
        # float32 against the float64 reference
        lay32, bd32 = lay, Boundary(bd.x.float(), bd.y.float())
        out32 = torch.empty(flat.shape, dtype=torch.float32, device=device)
        E32 = ForceField(lay32, bd32)(flat.float(), out32)
        assert rel(out32.double(), ref) < 1e-4 and rel(E32.double(), E_ref) < 1e-5, (widths, rel(out32.double(), ref))
        print(f"  forces ok: widths={widths} M={M} S={S} K={K} layouts={ForceField(lay, bd).transposed} "
              f"rel.err f64 {rel(out, ref):.1e}, f32 {rel(out32.double(), ref):.1e}")


def check_zero_residual(device) -> None:
    widths, M = (6, 4, 4, 2), 10
    lay, bd, flat = setup(widths, M, 1, 2, torch.float64, device)
    J, spins = lay.weights(flat), lay.spins(flat)
    J[1].zero_()  # layer 2: pre-activation 0, tanh 0 = S_2: residual exactly zero
    spins[1].zero_()
    out = torch.empty_like(flat)
    E = ForceField(lay, bd)(flat, out)
    assert float(E[..., 1].abs().max()) == 0.0, E
    assert torch.isfinite(out).all()

    def energy_without_layer_2(f):
        Jf, Sf = lay.weights(f), lay.spins(f)
        e1 = (Sf[0] - torch.tanh(bd.x.unsqueeze(1) @ Jf[0].transpose(-1, -2))).square().sum((-2, -1)).sqrt()
        e3 = (bd.y.unsqueeze(1) - torch.tanh(Sf[1] @ Jf[2].transpose(-1, -2))).square().sum((-2, -1)).sqrt()
        return (e1 + e3).sum()

    f = flat.clone().requires_grad_()
    (g,) = torch.autograd.grad(energy_without_layer_2(f), f)
    assert rel(out, g) < 1e-10, rel(out, g)
    print("  zero-residual layer exerts zero force: ok")


def run_steps(device, n, dtype=torch.float32, split=None, cuda_graph=False, noise_workers=None):
    lay, bd, flat = setup((30, 8, 8, 8, 2), 40, 2, 3, dtype, device, seed=5)
    rng = torch.Generator(device=device).manual_seed(11)
    T = 1e-2  # hot enough that walls are hit
    v = maxwell_boltzmann(lay.total, T, rng, dtype, device).mul_(30.0)
    state = MDState(flat, v, rng, 0)
    ff = ForceField(lay, bd)
    integ = Integrator(ff, 1e-2, Thermostat.from_params("per_step", 1e-2, 1e-2, T), flat, cuda_graph=cuda_graph,
                       noise_workers=noise_workers)
    energies = []
    for i in range(n):
        if split is not None and i == split:  # save and restore, as a checkpoint would
            saved = (state.position.cpu().clone(), state.velocity.cpu().clone(), state.rng.get_state(), state.step)
            rng2 = torch.Generator(device=device)
            rng2.set_state(saved[2])
            state = MDState(saved[0].to(device), saved[1].to(device), rng2, saved[3])
            integ = Integrator(ForceField(lay, bd), 1e-2, Thermostat.from_params("per_step", 1e-2, 1e-2, T), state.position,
                               cuda_graph=cuda_graph, noise_workers=noise_workers)
        energies.append(integ.step(state))
    return state, torch.stack(energies)


def check_determinism(device) -> None:
    a, Ea = run_steps(device, 20)
    b, Eb = run_steps(device, 20)
    c, Ec = run_steps(device, 20, split=9)
    for s in (b, c):
        assert torch.equal(a.position, s.position) and torch.equal(a.velocity, s.velocity)
    assert torch.equal(Ea, Eb) and torch.equal(Ea, Ec)
    assert float(a.position.abs().max()) <= 1.0
    print("  bit-determinism (repeat, checkpoint split): ok")


def check_overlap(device) -> None:
    if device.type != "cpu":
        return
    import tdlm.integrate as integrate

    lay, bd, flat = setup((30, 8, 8, 2), 40, 1, 2, torch.float32, device, seed=3)
    saved = integrate.CPU_CHUNK, integrate.NOISE_CHUNK
    res = []
    try:
        for overlap, chunks in ((False, saved), (True, saved), (False, (32, 16)), (True, (32, 16))):
            integrate.CPU_CHUNK, integrate.NOISE_CHUNK = chunks
            rng = torch.Generator().manual_seed(4)
            st = MDState(flat.clone(), maxwell_boltzmann(lay.total, 1e-3, rng, torch.float32, device), rng)
            integ = Integrator(ForceField(lay, bd), 1e-2, Thermostat.from_params("per_step", 1e-2, 1e-2, 1e-3), flat,
                               overlap_noise=overlap)
            for _ in range(10):
                integ.step(st)
            integ.close()
            res.append((st.position, st.velocity, st.rng.get_state()))
    finally:
        integrate.CPU_CHUNK, integrate.NOISE_CHUNK = saved
    for plain, overlapped in (res[0:2], res[2:4]):
        assert all(torch.equal(p, q) for p, q in zip(plain, overlapped))
    print("  overlap_noise=True reproduces the plain step bit for bit (one piece and many): ok")


def check_chunks(device) -> None:
    """A CPU state in many pieces and noise streams (three per piece): the same trajectory for 1, 2 and
    3 noise workers and across a checkpoint split; a different one from the single-stream state."""
    if device.type != "cpu":
        return
    import tdlm.integrate as integrate

    saved = integrate.CPU_CHUNK, integrate.NOISE_CHUNK
    try:
        single, _ = run_steps(device, 12)
        integrate.CPU_CHUNK, integrate.NOISE_CHUNK = 48, 16
        results = [run_steps(device, 12, noise_workers=w) for w in (1, 2, 3)]
        results.append(run_steps(device, 12, split=5, noise_workers=2))
    finally:
        integrate.CPU_CHUNK, integrate.NOISE_CHUNK = saved
    (a, Ea), rest = results[0], results[1:]
    assert all(torch.equal(a.position, s.position) and torch.equal(a.velocity, s.velocity) and torch.equal(Ea, E)
               for s, E in rest)
    assert not torch.equal(a.position, single.position)
    print("  CPU noise streams: same trajectory for 1, 2, 3 workers and a checkpoint split: ok")


def check_walls(device) -> None:
    x = torch.tensor([0.5, 1.25, -1.5, 1.0, -1.0, 1.0000001, -0.999], dtype=torch.float64, device=device)
    v = torch.tensor([0.1, 0.2, -0.3, 0.4, -0.5, 0.6, 0.7], dtype=torch.float64, device=device)
    ex = torch.where(x > 1, 2 - x, torch.where(x < -1, -2 - x, x))
    ev = torch.where(x.abs() > 1, -v, v)
    for work in (None, torch.empty_like(x)):
        xx, vv = x.clone(), v.clone()
        reflect_(xx, vv, work=work)
        assert torch.equal(xx, ex) and torch.equal(vv, ev), (xx, vv)
    print("  walls: ok")


def check_graph(device) -> None:
    if device.type != "cuda":
        print("  CUDA graph: skipped (no CUDA device)")
        return
    a, Ea = run_steps(device, 20)
    g, Eg = run_steps(device, 20, cuda_graph=True)
    assert torch.equal(a.position, g.position) and torch.equal(a.velocity, g.velocity) and torch.equal(Ea, Eg)
    c, Ec = run_steps(device, 20, split=9, cuda_graph=True)
    assert torch.equal(a.position, c.position) and torch.equal(Ea, Ec)
    print("  CUDA graph step == eager step, bit for bit (also across a checkpoint split): ok")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)
    for check in (check_forces, check_zero_residual, check_walls, check_determinism, check_chunks, check_overlap,
                  check_graph):
        print(check.__name__)
        check(device)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
