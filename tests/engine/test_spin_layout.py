"""Spins stored feature-major (Layout.spin_major), the order of the uniform noise's fused force pass: the same
configuration whichever order the flat buffer keeps, forces as exact as the sample-major ones, checkpoints in
the sample-major order (so a run resumes on a host whose force pass keeps another order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tdlm.md import checkpoint, energy, native
from tdlm.md.energy import Boundary, ForceField, fused_spin_major, layer_energies
from tdlm.md.layout import Layout, relayout
from tdlm.md.params import build
from tdlm.md.simulate import run

compiled = pytest.mark.skipif(native.library() is None, reason="no C compiler: spins stay sample-major")


def _boundary(widths, M, S, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randint(0, 2, (S, M, widths[0]), generator=g) * 2 - 1).double()
    y = torch.where(torch.rand(S, M, widths[-1], generator=g) < 0.5, 1.0, -1.0).double()
    return x, y


def test_blocks_are_the_same_configuration_in_either_order():
    plain = Layout((6, 4, 5, 3, 2), 7, 2, 3)
    mixed = Layout(plain.widths, 7, 2, 3, spin_major=(True, False, True))
    assert mixed.stored_shapes[plain.L :] == [(4, 7), (7, 5), (3, 7)]
    assert [tuple(b.shape) for b in mixed.blocks(torch.zeros(mixed.total))] == [
        tuple(b.shape) for b in plain.blocks(torch.zeros(plain.total))
    ]
    flat = torch.arange(plain.total, dtype=torch.float64)
    moved = relayout(flat, plain, mixed)
    assert not torch.equal(moved, flat) and torch.equal(moved.sort().values, flat)  # a permutation
    assert all(torch.equal(a, b) for a, b in zip(plain.blocks(flat), mixed.blocks(moved)))
    assert torch.equal(relayout(moved, mixed, plain), flat)
    assert relayout(flat, plain, plain.with_k(3)) is flat  # the same order: no copy
    assert mixed.with_k(5).spin_major == mixed.spin_major and mixed.sample_major().spin_major == ()
    with pytest.raises(ValueError, match="different configurations"):
        relayout(flat, plain, Layout((6, 4, 5, 3, 2), 8, 2, 3))


@pytest.mark.parametrize("flags", [(True,), (True, False, False, True)])
def test_spin_major_needs_one_flag_per_hidden_layer(flags):
    with pytest.raises(ValueError, match=r"spin_major: need 3 flags"):
        Layout((6, 4, 5, 3, 2), 7, 1, 1, spin_major=flags)
    assert Layout((6, 4, 5, 3, 2), 7, 1, 1, spin_major=(False,) * 3) == Layout((6, 4, 5, 3, 2), 7, 1, 1)


@compiled
@pytest.mark.parametrize("widths", [(30, 4, 4, 4, 2), (30, 12, 12, 12, 2), (30, 4, 12, 6, 2)], ids=["narrow", "wide", "mixed"])
def test_feature_major_spins_give_the_forces_of_the_float64_reference(widths):
    """dH/dx of the fused pass on feature-major spins, put back in the sample-major order, against float64
    autograd; and the energies of the sample-major fused pass."""
    M, S, K = 40, 2, 3
    plain = Layout(widths, M, S, K)
    flags = fused_spin_major(plain, torch.float32, "cpu")
    assert flags and flags[0]  # layer 1 always works feature-major
    lay = Layout(widths, M, S, K, spin_major=flags)
    x, y = _boundary(widths, M, S, seed=2)
    ref_flat = (torch.rand(plain.total, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1).requires_grad_()
    ref_E = layer_energies(ref_flat, plain, Boundary(x, y))
    (ref_g,) = torch.autograd.grad(ref_E.sum(), ref_flat)
    b32 = Boundary(x.float(), y.float())
    flat = relayout(ref_flat.detach().float(), plain, lay)
    out = torch.full_like(flat, float("nan"))
    E = ForceField(lay, b32, fused=True)(flat, out)
    g = relayout(out, lay, plain).double()
    assert torch.isfinite(g).all()
    assert (g - ref_g).abs().max() / ref_g.abs().max() < 2e-6
    assert (E.double() - ref_E.detach()).abs().max() / ref_E.abs().max() < 2e-6
    E_plain = ForceField(plain, b32, fused=True)(relayout(flat, lay, plain), torch.empty_like(flat))
    assert torch.allclose(E, E_plain, rtol=1e-6, atol=0)
    assert torch.allclose(layer_energies(flat, lay, b32), E, rtol=1e-5, atol=0)  # the observables' reading


@compiled
def test_feature_major_spins_need_the_fused_pass_and_its_layers():
    lay = Layout((30, 4, 4, 2), 9, 1, 2, spin_major=(True, True))
    x, y = _boundary(lay.widths, 9, 1, seed=1)
    b = Boundary(x.float(), y.float())
    with pytest.raises(ValueError, match="spin_major"):
        ForceField(lay, b, fused=False)
    with pytest.raises(ValueError, match="spin_major"):
        ForceField(lay, b, fused=True, transposed=(True, False, False))
    with pytest.raises(ValueError, match="spin_major"):
        ForceField(lay, Boundary(x, y), fused=True)  # float64: no fused pass
    assert fused_spin_major(lay, torch.float64, "cpu") == ()


class _Stop(RuntimeError):
    pass


@compiled
def test_uniform_run_resumes_on_a_host_without_the_fused_pass(tiny, tmp_path, load_nc, monkeypatch):
    """A uniform run keeps its narrow spins feature-major (recorded in the output), writes its checkpoints in the
    sample-major order, and a host without a C compiler (sample-major spins, torch's passes) resumes it: the same
    trajectory but for the float32 rounding of the other passes and the uniform numbers' assignment to the spins
    (their index is the flat position): as far apart as two uninterrupted runs on the two hosts (weights ~2e-4,
    spins ~1e-2 after 80 steps at T = 1e-5), where a run from another start is O(1) away."""
    params = build({**tiny, "noise": "uniform", "dtype": "float32", "checkpoint_steps": 10, "store_spins": True})
    run(params, tmp_path / "a.nc")
    a = load_nc(tmp_path / "a.nc")
    assert list(np.atleast_1d(a.attrs["feature_major_spins"])) == list(range(1, tiny["L"]))

    save, payloads = checkpoint.save, []

    def save_then_stop(path, payload):
        save(path, payload)
        payloads.append(payload)
        if len(payloads) == 2:  # in the waiting phase
            raise _Stop

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(_Stop):
        run(params, tmp_path / "b.nc")
    monkeypatch.setattr(checkpoint, "save", save)
    monkeypatch.setattr(native, "library", lambda: None)
    monkeypatch.setattr(energy, "library", lambda: None)
    run(params, tmp_path / "b.nc")
    b = load_nc(tmp_path / "b.nc")
    assert b.attrs["feature_major_spins"] == "none"
    for name, tol in (("J_final", 2e-3), ("S_final", 5e-2)):
        assert np.abs(a[name].values - b[name].values).max() < tol
    other = build({**tiny, "noise": "uniform", "dtype": "float32", "store_spins": True, "seed": tiny["seed"] + 1})
    run(other, tmp_path / "c.nc")
    assert np.abs(a["S_final"].values - load_nc(tmp_path / "c.nc")["S_final"].values).max() > 0.5
