"""The machine's Hamiltonian H = sum_l ||S_l - tanh(J_l S_{l-1})|| and its analytic gradient.

The layer energy is a Euclidean norm, not a squared loss, so dE_l/dx = r . dr/dx / E_l has
O(1) magnitude in every layer; a layer with zero residual exerts no force (guarded division).
The inputs S_0 and labels S_L are boundary conditions shared by all replicas of a sample,
so the first layer's product is one matrix product over every replica at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tdlm.layout import Layout


@dataclass(frozen=True)
class Boundary:
    """Quenched disorder of a job: per-sample inputs and labels."""

    x: torch.Tensor  # (S, M, N_0) training inputs, +/-1
    y: torch.Tensor  # (S, M, N_L) one-hot +/-1 labels


def _first_layer_preactivation(x: torch.Tensor, J1: torch.Tensor) -> torch.Tensor:
    """(S, K, M, N_1): one product X_s @ [J_1 of all K replicas]^T per sample."""
    S, K, n_out, n_in = J1.shape
    a = torch.bmm(x, J1.reshape(S, K * n_out, n_in).transpose(1, 2))  # (S, M, K*N_1)
    return a.view(S, x.shape[1], K, n_out).permute(0, 2, 1, 3)


def layer_energies(flat: torch.Tensor, layout: Layout, boundary: Boundary) -> torch.Tensor:
    """E_l for l = 1..L, shape (S, K, L); differentiable, used for observables."""
    J = layout.weights(flat)
    spins = layout.spins(flat)
    below = _first_layer_preactivation(boundary.x, J[0])
    energies = []
    for l in range(1, layout.L + 1):
        pre = below if l == 1 else spins[l - 2] @ J[l - 1].transpose(-1, -2)
        target = spins[l - 1] if l < layout.L else boundary.y.unsqueeze(1)
        residual = target - torch.tanh(pre)
        energies.append(residual.square().sum(dim=(-2, -1)).sqrt())
    return torch.stack(energies, dim=-1)


def gradient(flat: torch.Tensor, layout: Layout, boundary: Boundary, out: torch.Tensor) -> torch.Tensor:
    """Write dH/dx into `out` (same layout as `flat`) and return E_l, shape (S, K, L).

    Three matrix products per layer: the pre-activation, dE/dJ_l and the back-propagated
    dE/dS_{l-1}. Nothing is allocated beyond the per-layer temporaries.
    """
    J = layout.weights(flat)
    spins = layout.spins(flat)
    dJ = layout.weights(out)
    dS = layout.spins(out)
    energies = torch.empty(layout.S, layout.K, layout.L, dtype=flat.dtype, device=flat.device)
    S, K = layout.S, layout.K
    for l in range(layout.L, 0, -1):
        below = spins[l - 2] if l >= 2 else None
        pre = below @ J[l - 1].transpose(-1, -2) if below is not None else _first_layer_preactivation(boundary.x, J[0])
        t = torch.tanh(pre)
        target = spins[l - 1] if l < layout.L else boundary.y.unsqueeze(1)
        r = target - t
        e = r.square().sum(dim=(-2, -1))
        e.sqrt_()
        energies[..., l - 1] = e
        inv = torch.where(e > 0, 1.0 / e.clamp_min(torch.finfo(e.dtype).tiny), torch.zeros_like(e))
        u = r.mul_(inv[..., None, None])  # dE_l/dS_l
        if l < layout.L:
            dS[l - 1].add_(u)  # the layer above has already written its back-propagated part
        g = t.square_().sub_(1.0).mul_(u)  # dE_l/d(pre) = -u (1 - t^2)
        if below is not None:
            torch.matmul(g.transpose(-1, -2), below, out=dJ[l - 1])
            torch.matmul(g, J[l - 1], out=dS[l - 2])  # first write into dS_{l-1}
        else:
            n_out, n_in = layout.weight_shape(1)
            g_flat = g.permute(0, 2, 1, 3).reshape(S, layout.M, K * n_out)
            dJ[0].copy_(torch.bmm(g_flat.transpose(1, 2), boundary.x).view(S, K, n_out, n_in))
    return energies
