"""Measurements on a batch of configurations: energies, correlations, replica overlaps, accuracy.

Configurations are grouped as (S samples, B branches, R replicas); overlaps are taken
between replicas of the same branch, correlations against the branch's snapshot at t_w.
Spin quantities live on layers 1..L-1 and are NaN at layer L so that every per-layer
variable shares one `layer` axis 1..L.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tdlm.md.energy import Boundary, layer_energies
from tdlm.md.layout import Layout


def pair_index(R: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replica pairs a < b in row-major order."""
    return torch.triu_indices(R, R, offset=1).unbind(0)


def _gram(blocks: list[torch.Tensor], B: int, R: int) -> torch.Tensor:
    """(S, B, R, R, n_layers) per-layer Gram matrices sum_x a x_a x_b."""
    grams = []
    for block in blocks:
        S = block.shape[0]
        flat = block.reshape(S, B, R, -1)
        grams.append(flat @ flat.transpose(-1, -2))
    return torch.stack(grams, dim=-1)


def _pairs(gram: torch.Tensor, sizes: torch.Tensor, R: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw and normalised overlaps over pairs a < b: (S, B, n_pairs, n_layers)."""
    a, b = pair_index(R)
    diag = torch.diagonal(gram, dim1=2, dim2=3).transpose(-1, -2)  # (S, B, R, n_layers)
    cross = gram[:, :, a, b]
    raw = cross / sizes
    norm = cross / (diag[:, :, a] * diag[:, :, b]).sqrt()
    return raw, norm


def _autocorrelation(blocks: list[torch.Tensor], refs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw and normalised correlation with the reference, (S, K, n_layers)."""
    raw, norm = [], []
    for x, r in zip(blocks, refs):
        cross = (x * r).sum(dim=(-2, -1))
        raw.append(cross / (x.shape[-1] * x.shape[-2]))
        norm.append(cross / (x.square().sum(dim=(-2, -1)) * r.square().sum(dim=(-2, -1))).sqrt())
    return torch.stack(raw, -1), torch.stack(norm, -1)


def _pad_spin_layer(t: torch.Tensor) -> torch.Tensor:
    """Append a NaN layer L to a spin quantity defined on layers 1..L-1."""
    return torch.cat([t, torch.full_like(t[..., :1], float("nan"))], dim=-1)


def forward(J: list[torch.Tensor], x: torch.Tensor, activation: str, gains: Sequence[float] | None = None) -> list[torch.Tensor]:
    """Hidden states and output pre-activation of the network with weights J on inputs x (S, n, N_0).

    'sign' is the paper's read-out S_l = sgn(J_l S_{l-1}); 'tanh' is the machine's own T -> 0 map.
    sgn(0) is taken as +1. `gains` (Layout.gains, per layer) multiply the pre-activations as in the
    energy (preactivation: fan_in); a positive factor changes neither a sign nor an argmax, so only
    the tanh read-out depends on it.
    """
    h = x.unsqueeze(1)  # (S, 1, n, N_0): inputs shared by all configurations of a sample
    states = []
    for l, weight in enumerate(J, start=1):
        pre = h @ weight.transpose(-1, -2)
        if gains is not None and gains[l - 1] != 1.0:
            pre = pre * gains[l - 1]
        if l == len(J):
            states.append(pre)
            break
        h = torch.where(pre >= 0, 1.0, -1.0).to(pre.dtype) if activation == "sign" else torch.tanh(pre)
        states.append(h)
    return states


def accuracy(
    J: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, activation: str, gains: Sequence[float] | None = None
) -> torch.Tensor:
    """Fraction of test inputs whose argmax output matches the label, (S, K)."""
    return hits(forward(J, x, activation, gains)[-1], y)


def hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of inputs whose output pre-activation (S, K, n, N_L) has its argmax at the label's (S, n, N_L), (S, K)."""
    return (out.argmax(-1) == y.argmax(-1).unsqueeze(1)).to(out.dtype).mean(-1)


def kinetic_temperature(layout: Layout, velocity: torch.Tensor) -> torch.Tensor:
    """<v^2> per configuration (m = k_B = 1), (S, K)."""
    return sum(b.square().sum(dim=(-2, -1)) for b in layout.blocks(velocity)) / layout.per_config


def measure_branches(
    layout: Layout,
    position: torch.Tensor,
    velocity: torch.Tensor,
    reference: torch.Tensor,
    train: Boundary,
    test: Boundary,
    B: int,
    R: int,
) -> dict[str, torch.Tensor]:
    """All observables of the branched phase at one time; arrays shaped (S, B, R|pair, [layer])."""
    S = layout.S
    J, spins = layout.weights(position), layout.spins(position)
    J_ref, spins_ref = layout.weights(reference), layout.spins(reference)
    by_config = lambda t: t.reshape(S, B, R, *t.shape[2:])  # noqa: E731
    energies = layer_energies(position, layout, train)
    c, c_norm = _autocorrelation(spins, spins_ref)
    C, C_norm = _autocorrelation(J, J_ref)
    spin_sizes = torch.tensor([s.shape[-2] * s.shape[-1] for s in spins], dtype=position.dtype, device=position.device)
    weight_sizes = torch.tensor([w.shape[-2] * w.shape[-1] for w in J], dtype=position.dtype, device=position.device)
    q, q_norm = _pairs(_gram(spins, B, R), spin_sizes, R)
    Q, Q_norm = _pairs(_gram(J, B, R), weight_sizes, R)
    # one forward pass per network gives both its accuracy and its hidden states' overlaps
    sign, tanh = (forward(J, test.x, activation, layout.gains) for activation in ("sign", "tanh"))
    test_sizes = torch.tensor([h.shape[-2] * h.shape[-1] for h in sign[:-1]], dtype=position.dtype, device=position.device)
    q_test, _ = _pairs(_gram(sign[:-1], B, R), test_sizes, R)
    # the tanh network's states are analogue: normalised, as the classification's q_norm
    _, q_test_tanh = _pairs(_gram(tanh[:-1], B, R), test_sizes, R)
    return {
        "energy_layer": by_config(energies),
        "kinetic_temperature": by_config(kinetic_temperature(layout, velocity)),
        "accuracy": by_config(hits(sign[-1], test.y)),
        "accuracy_tanh": by_config(hits(tanh[-1], test.y)),
        "c": by_config(_pad_spin_layer(c)),
        "c_norm": by_config(_pad_spin_layer(c_norm)),
        "C": by_config(C),
        "C_norm": by_config(C_norm),
        "q": _pad_spin_layer(q),
        "q_norm": _pad_spin_layer(q_norm),
        "Q": Q,
        "Q_norm": Q_norm,
        "q_test": _pad_spin_layer(q_test),
        "q_test_tanh": _pad_spin_layer(q_test_tanh),
    }


def measure_history(layout: Layout, position: torch.Tensor, train: Boundary, test: Boundary) -> dict[str, torch.Tensor]:
    """Observables of the single trajectory before branching, (S, [layer])."""
    J = layout.weights(position)
    return {
        "history_energy_layer": layer_energies(position, layout, train)[:, 0],
        "history_accuracy": accuracy(J, test.x, test.y, "sign", layout.gains)[:, 0],
        "history_accuracy_tanh": accuracy(J, test.x, test.y, "tanh", layout.gains)[:, 0],
    }
