"""Analytic forces of energy.gradient against autograd of a reference energy written here.

The reference is the spec's Hamiltonian (section 3) as a plain per-layer loop,
H = sum_l sqrt(sum (S_l - tanh(S_{l-1} J_l^T))^2), on per-layer tensors built by the test;
the flat buffer is assembled by the test in the documented order (J_1..J_L, then S_1..S_{L-1},
each block (S, K, rows, cols)), so neither the energy nor the packing is taken from src.
"""

from __future__ import annotations

import pytest
import torch

from tdlm.md import native
from tdlm.md.energy import Boundary, ForceField, gradient, layer_energies
from tdlm.md.layout import Layout

F64 = torch.float64


def reference_layer_energies(J: list[torch.Tensor], spins: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E_l for l = 1..L, shape (S, K, L): x (S, M, N_0), y (S, M, N_L), J_l (S, K, N_l, N_{l-1}), S_l (S, K, M, N_l)."""
    return torch.stack(reference_energy_terms(J, spins, x, y), dim=-1)


def reference_energy_terms(J, spins, x, y) -> list[torch.Tensor]:
    """[E_1, ..., E_L], each (S, K), one autograd graph per term."""
    energies = []
    below = x.unsqueeze(1)  # the inputs are shared by all K configurations of a sample
    for l in range(len(J)):
        pre = torch.matmul(below, J[l].transpose(-1, -2))
        target = spins[l] if l < len(spins) else y.unsqueeze(1)
        residual = target - torch.tanh(pre)
        energies.append(torch.sqrt(torch.sum(residual * residual, dim=(-2, -1))))
        if l < len(spins):
            below = spins[l]
    return energies


def random_case(widths, M, S, K, seed, dtype=F64):
    """Uniform J and S in (-1, 1), +/-1 inputs, one-hot +/-1 labels."""
    g = torch.Generator().manual_seed(seed)
    L = len(widths) - 1
    J = [torch.rand(S, K, widths[l], widths[l - 1], generator=g, dtype=dtype) * 2 - 1 for l in range(1, L + 1)]
    spins = [torch.rand(S, K, M, widths[l], generator=g, dtype=dtype) * 2 - 1 for l in range(1, L)]
    x = (torch.randint(0, 2, (S, M, widths[0]), generator=g) * 2 - 1).to(dtype)
    label = torch.randint(0, widths[-1], (S, M), generator=g)
    y = torch.where(torch.nn.functional.one_hot(label, widths[-1]) == 1, 1.0, -1.0).to(dtype)
    return J, spins, x, y


def pack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors]).clone()


def autograd_reference(J, spins, x, y, skip_layer: int | None = None):
    """(energies, flat dH/dx) of the reference, optionally leaving one layer (1-based) out of H."""
    leaves = [t.detach().clone().requires_grad_(True) for t in J + spins]
    terms = reference_energy_terms(leaves[: len(J)], leaves[len(J) :], x, y)
    # the left-out term takes no part in the backward pass (its sqrt has no derivative at 0)
    sum(E.sum() for l, E in enumerate(terms, start=1) if l != skip_layer).backward()
    return torch.stack([E.detach() for E in terms], dim=-1), pack(
        [torch.zeros_like(t) if t.grad is None else t.grad for t in leaves]
    )


def analytic(J, spins, x, y, transposed=None):
    """gradient() (the cached default ForceField), or a ForceField with the given working layouts."""
    L = len(J)
    widths = (x.shape[-1],) + tuple(j.shape[-2] for j in J)
    S, K = J[0].shape[:2]
    layout = Layout(widths, x.shape[1], S, K)
    flat = pack(J + spins)
    assert layout.total == flat.numel()
    before = flat.clone()
    out = torch.full_like(flat, float("nan"))  # every entry must be written, whatever was there
    if transposed is None:
        energies = gradient(flat, layout, Boundary(x, y), out)
    else:
        energies = ForceField(layout, Boundary(x, y), transposed=transposed)(flat, out)
    assert torch.equal(flat, before), "gradient() must not modify the positions"
    assert energies.shape == (S, K, L)
    return layout, flat, out, energies


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


CASES = [
    # widths N_0, N_1..N_{L-1}, N_L; M; S samples; K replicas
    pytest.param((64, 10, 2), 12, 2, 3, id="L2-digits-width"),
    pytest.param((7, 5, 5, 3), 9, 2, 2, id="L3-N0!=N-3classes"),
    pytest.param((3, 8, 8, 2), 5, 3, 2, id="L3-N0<N"),
    pytest.param((16, 6, 6, 6, 6, 2), 8, 3, 4, id="L5"),
    pytest.param((5, 4, 4, 4, 4, 3), 6, 1, 1, id="L5-S1K1-3classes"),
    pytest.param((20, 12, 12, 12, 2), 7, 2, 2, id="L4-N12-natural-layout-by-default"),
]
# working layouts of layers 2..L (layer 1 is always feature-major): the CPU default, all
# natural (M, N), all feature-major (N, M), and alternating (every hand-over between the two)
LAYOUTS = [None, False, True, "alternating"]


def _transposed(layouts, L):
    if layouts == "alternating":
        return (True,) + tuple(l % 2 == 0 for l in range(2, L + 1))
    return layouts


@pytest.mark.parametrize("widths, M, S, K", CASES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("layouts", LAYOUTS)
def test_gradient_matches_autograd(widths, M, S, K, seed, layouts):
    J, spins, x, y = random_case(widths, M, S, K, seed)
    ref_E, ref_g = autograd_reference(J, spins, x, y)
    _, _, out, energies = analytic(J, spins, x, y, _transposed(layouts, len(J)))
    assert torch.isfinite(out).all()
    assert rel_err(out, ref_g) < 1e-10
    assert rel_err(energies, ref_E) < 1e-12


@pytest.mark.parametrize("widths, M, S, K", CASES[:4])
def test_layer_energies_match_reference(widths, M, S, K):
    J, spins, x, y = random_case(widths, M, S, K, seed=5)
    layout, flat, _, from_gradient = analytic(J, spins, x, y)
    from_energy = layer_energies(flat, layout, Boundary(x, y))
    ref = reference_layer_energies(J, spins, x, y)
    assert rel_err(from_energy, ref) < 1e-12
    assert rel_err(from_gradient, ref) < 1e-12


def test_blocks_follow_documented_order():
    """Layout.blocks views J_1..J_L then S_1..S_{L-1}, each (S, K, rows, cols), of the test's packing."""
    J, spins, x, y = random_case((7, 5, 5, 3), 9, 2, 3, seed=2)
    layout, flat, _, _ = analytic(J, spins, x, y)
    for mine, theirs in zip(J + spins, layout.blocks(flat), strict=True):
        assert torch.equal(mine, theirs)
    assert layout.n_weights == 7 * 5 + 5 * 5 + 5 * 3
    assert layout.n_spins == 9 * 5 * 2


def test_gradient_float32_agrees_with_float64():
    J, spins, x, y = random_case((16, 6, 6, 6, 2), 8, 2, 2, seed=3)
    _, ref_g = autograd_reference(J, spins, x, y)
    _, _, out32, _ = analytic([t.float() for t in J], [t.float() for t in spins], x.float(), y.float())
    assert out32.dtype == torch.float32
    assert rel_err(out32.double(), ref_g) < 1e-4


def _dyadic(shape, g, dtype=F64):
    """Random multiples of 1/8 in (-1, 1) \\ {0}: products and sums of a few of them are exact in any order."""
    k = torch.randint(1, 8, shape, generator=g)
    sign = torch.randint(0, 2, shape, generator=g) * 2 - 1
    return (k * sign).to(dtype) / 8


def zero_residual_case(layer: int, L: int = 4, N: int = 6, N0: int = 8, M: int = 5, S: int = 2, K: int = 3):
    """Random state in which layer `layer` of configuration (0, 0) has exactly zero residual.

    Its input S_{l-1} has pairwise equal columns and J_l pairwise opposite columns, all dyadic, so
    every pre-activation is exactly 0 in any summation order; then S_l = tanh(0) = 0 exactly.
    """
    J, spins, x, y = random_case((N0,) + (N,) * (L - 1) + (2,), M, S, K, seed=10 + layer)
    g = torch.Generator().manual_seed(layer)
    n_in = N0 if layer == 1 else N
    half_in = _dyadic((M, n_in // 2), g)
    paired_in = half_in.repeat_interleave(2, dim=-1)  # columns 2k and 2k+1 equal
    w = _dyadic((N, n_in // 2), g)
    paired_w = torch.stack([w, -w], dim=-1).reshape(N, n_in)  # columns 2k and 2k+1 opposite
    if layer == 1:
        x[0] = torch.sign(paired_in)  # inputs must stay +/-1; shared by all K replicas of sample 0
    else:
        spins[layer - 2][0, 0] = paired_in
    J[layer - 1][0, 0] = paired_w
    spins[layer - 1][0, 0] = torch.tanh(torch.zeros(M, N, dtype=F64))
    below = x[0] if layer == 1 else spins[layer - 2][0, 0]
    assert torch.equal(below @ paired_w.T, torch.zeros(M, N, dtype=F64)), "construction must be exact"
    return J, spins, x, y


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_zero_residual_layer_exerts_no_force(layer):
    J, spins, x, y = zero_residual_case(layer)
    _, _, out, energies = analytic(J, spins, x, y)
    assert energies[0, 0, layer - 1] == 0.0
    assert (energies[..., [l for l in range(4) if l != layer - 1]] > 0).all()
    assert (energies[1:, :, layer - 1] > 0).all() and (energies[0, 1:, layer - 1] > 0).all()
    assert torch.isfinite(out).all()

    # configuration (0, 0): the gradient is that of the other layers' energy alone
    _, without = autograd_reference(J, spins, x, y, skip_layer=layer)
    _, full = autograd_reference(J, spins, x, y)
    layout = Layout((x.shape[-1],) + tuple(j.shape[-2] for j in J), x.shape[1], J[0].shape[0], J[0].shape[1])
    config = torch.zeros(layout.S, layout.K, dtype=torch.bool)
    config[0, 0] = True
    in_00 = torch.cat([config[:, :, None].expand(-1, -1, n).reshape(-1) for n in layout.sizes])
    assert torch.isfinite(without).all()
    assert rel_err(out[in_00], without[in_00]) < 1e-10
    # every other configuration still feels the full force of that layer
    assert rel_err(out[~in_00], full[~in_00]) < 1e-10


def test_repeated_calls_follow_the_state_and_the_layout():
    """The integrator calls gradient() every step on a buffer changed in place, and the job reuses one Boundary
    for the unbranched (K = 1) and branched (K > 1) layouts: every call must see the current state and shapes."""
    widths, M, S = (9, 5, 5, 3), 7, 2
    J, spins, x, y = random_case(widths, M, S, 1, seed=20)
    boundary = Boundary(x, y)
    flat = pack(J + spins)
    out = torch.empty_like(flat)
    layout1 = Layout(widths, M, S, 1)
    for seed in (21, 22):
        gradient(flat, layout1, boundary, out)
        assert rel_err(out, autograd_reference(J, spins, x, y)[1]) < 1e-10
        J, spins, _, _ = random_case(widths, M, S, 1, seed=seed)
        flat.copy_(pack(J + spins))  # in place, as the integrator moves the particles
    # branched: K = 4 configurations per sample, same Boundary object, new buffers
    J4, spins4, _, _ = random_case(widths, M, S, 4, seed=23)
    flat4 = pack(J4 + spins4)
    out4 = torch.full_like(flat4, float("nan"))
    energies = gradient(flat4, Layout(widths, M, S, 4), boundary, out4)
    ref_E, ref_g = autograd_reference(J4, spins4, x, y)
    assert rel_err(out4, ref_g) < 1e-10 and rel_err(energies, ref_E) < 1e-12
    # and back to the first layout and buffers
    gradient(flat, layout1, boundary, out)
    assert rel_err(out, autograd_reference(J, spins, x, y)[1]) < 1e-10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_transpose_is_an_exact_copy(dtype):
    g = torch.Generator().manual_seed(1)
    for K, P, Q in ((3, 37, 5), (2, 64, 33), (1, 1, 7)):
        src = torch.randn(K, P, Q, generator=g, dtype=torch.float64).to(dtype)
        out = torch.full((K, Q, P), float("nan"), dtype=dtype)
        native.transpose_into(out, src)
        assert torch.equal(out, src.transpose(1, 2))
    with pytest.raises(ValueError, match="not src"):
        native.transpose_into(torch.empty(2, 3, 4, dtype=dtype), torch.empty(2, 3, 4, dtype=dtype))


@pytest.mark.parametrize("transposed", [True, (True, False, True), (True, True, False)], ids=["all", "mixed-a", "mixed-b"])
def test_forces_do_not_depend_on_the_compiled_transposes(transposed, monkeypatch):
    """The feature-major layers' transposes (compiled tiled copies) give the forces of torch's own copies, bit for bit."""
    layout = Layout((7, 5, 6, 3), 9, 2, 3)
    g = torch.Generator().manual_seed(8)
    x = (torch.randint(0, 2, (2, 9, 7), generator=g) * 2 - 1).float()
    y = torch.where(torch.rand(2, 9, 3, generator=g) < 0.5, 1.0, -1.0)
    flat = torch.rand(layout.total, generator=g) * 2 - 1
    results = []
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(native, "library", lambda: None)
        ff = ForceField(layout, Boundary(x, y), transposed=transposed)
        out = torch.empty_like(flat)
        results.append((ff(flat, out), out))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize("widths, M, S, K", CASES)
@pytest.mark.parametrize("layouts", LAYOUTS)
def test_fused_float32_forces_match_autograd(widths, M, S, K, layouts):
    """ForceField(fused=True), the uniform noise's forces (one compiled pass per layer): float32 forces and
    energies as close to the float64 autograd reference as torch's own float32 path."""
    if native.library() is None:
        pytest.skip("no C compiler: fused=True runs torch's passes (tested above)")
    J, spins, x, y = random_case(widths, M, S, K, seed=3)
    ref_E, ref_g = autograd_reference(J, spins, x, y)
    f32 = lambda ts: [t.float() for t in ts]  # noqa: E731
    layout = Layout((x.shape[-1],) + tuple(j.shape[-2] for j in J), M, S, K)
    flat = pack(f32(J + spins))
    errors = {}
    for fused in (True, False):
        ff = ForceField(layout, Boundary(x.float(), y.float()), transposed=_transposed(layouts, len(J)), fused=fused)
        assert ff.fused == fused
        out = torch.full_like(flat, float("nan"))
        energies = ff(flat, out)
        assert torch.isfinite(out).all()
        errors[fused] = (rel_err(out.double(), ref_g), rel_err(energies.double(), ref_E))
    assert errors[True][0] < 2e-6 and errors[True][1] < 2e-6
    assert errors[True][0] < 4 * errors[False][0] + 1e-7  # no worse than torch's float32 rounding
