"""The compiled forces of `noise: uniform` (ForceField(fused=True): one tdlm.md.native call per layer, its
arguments planned once per pair of buffers): they follow the buffers they are called with, return energies
of their own, and read labels that are not contiguous, as the unfused path does."""

from __future__ import annotations

import pytest
import torch

from tdlm.md import native
from tdlm.md.energy import Boundary, ForceField
from tdlm.md.layout import Layout

pytestmark = pytest.mark.skipif(native.library() is None, reason="no C compiler: fused=True runs torch's passes")


def _case(widths, M, S, K, seed):
    g = torch.Generator().manual_seed(seed)
    layout = Layout(widths, M, S, K)
    x = (torch.randint(0, 2, (S, M, widths[0]), generator=g) * 2 - 1).float()
    y = torch.where(torch.rand(S, M, widths[-1], generator=g) < 0.5, 1.0, -1.0)
    flats = [torch.rand(layout.total, generator=g) * 2 - 1 for _ in range(2)]
    return layout, x, y, flats


@pytest.mark.parametrize("widths, M, S, K", [((7, 5, 6, 3), 9, 2, 3), ((6, 4, 2), 5, 1, 1)])
def test_fused_forces_follow_their_buffers_and_return_fresh_energies(widths, M, S, K):
    layout, x, y, (a, b) = _case(widths, M, S, K, seed=4)
    ff = ForceField(layout, Boundary(x, y), fused=True)
    assert ff.fused
    out_a, out_b = torch.empty_like(a), torch.empty_like(b)
    e_a = ff(a, out_a)
    kept_e, kept_out = e_a.clone(), out_a.clone()
    e_b = ff(b, out_b)  # other buffers: a new plan
    assert torch.equal(e_a, kept_e), "the first call's energies were overwritten by the second call"
    assert not torch.equal(e_a, e_b) and not torch.equal(out_a, out_b)
    assert torch.equal(ff(a, out_a), kept_e) and torch.equal(out_a, kept_out)  # back to the first buffers
    fresh = ForceField(layout, Boundary(x, y), fused=True)
    out = torch.empty_like(b)
    assert torch.equal(fresh(b, out), e_b) and torch.equal(out, out_b)
    b.mul_(0.5)  # changed in place, as the integrator moves the particles: the same plan sees it
    assert not torch.equal(ff(b, out_b), e_b)
    assert torch.equal(ff(b, out_b), fresh(b, out))


def test_fused_forces_read_labels_that_are_not_contiguous():
    layout, x, y, (a, _) = _case((7, 5, 3), 9, 2, 2, seed=5)
    y_strided = y.transpose(1, 2).contiguous().transpose(1, 2)  # same values, not contiguous
    assert not y_strided.is_contiguous()
    plain, strided = Boundary(x, y), Boundary(x, y_strided)
    out1, out2 = torch.empty_like(a), torch.empty_like(a)
    ff = ForceField(layout, strided, fused=True)
    assert torch.equal(ForceField(layout, plain, fused=True)(a, out1), ff(a, out2)) and torch.equal(out1, out2)
    strided.y.neg_()  # labels changed in place between calls are seen
    plain.y.neg_()
    assert torch.equal(ForceField(layout, plain, fused=True)(a, out1), ff(a, out2)) and torch.equal(out1, out2)
