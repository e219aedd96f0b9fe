"""Hidden-unit alignment: undo the permutation symmetry before pooling networks into one ensemble.

Relabelling the units of a hidden layer permutes the rows of the weight matrix feeding it and the
columns of the matrix leaving it, and leaves the network's function unchanged. Pooled raw, these
relabellings wash out structure; aligned, unit k of every network plays the role of unit k of a
reference. Matching is layer by layer from the input: the rows of layer l (after its columns follow
the previous layer's permutation) are matched to the reference rows by maximum total overlap
(Hungarian algorithm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REFERENCES = ("first", "consensus")


def permute_hidden(weights: Sequence[np.ndarray], perms: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Relabel hidden units: new unit k of hidden layer l is old unit perms[l][s, k] of network s.

    weights[l] has shape (S, out, in); perms has one (S, width) array per hidden layer (L - 1 arrays).
    """
    out = []
    for layer, w in enumerate(weights):
        if layer < len(perms):
            w = np.take_along_axis(w, perms[layer][:, :, None], axis=1)
        if layer > 0:
            w = np.take_along_axis(w, perms[layer - 1][:, None, :], axis=2)
        out.append(w)
    return out


def match_hidden(weights: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Permutations (one (S, width) array per hidden layer) that best align each network to `reference`.

    reference[l] has shape (out, in) and may be real-valued (e.g. an ensemble mean).
    """
    from scipy.optimize import linear_sum_assignment  # slow import: only when aligning

    n_nets = weights[0].shape[0]
    perms: list[np.ndarray] = []
    prev = None
    for layer in range(len(weights) - 1):
        w = weights[layer]
        if prev is not None:
            w = np.take_along_axis(w, prev[:, None, :], axis=2)
        overlaps = np.einsum("soi,pi->sop", w, reference[layer])
        perm = np.empty((n_nets, w.shape[1]), dtype=np.int64)
        for s in range(n_nets):
            rows, cols = linear_sum_assignment(overlaps[s], maximize=True)
            perm[s, cols] = rows
        perms.append(perm)
        prev = perm
    return perms


def align_ensemble(weights: Sequence[np.ndarray], reference: str = "first", max_iter: int = 20) -> list[np.ndarray]:
    """Align every network to network 0 ("first"), or iterate to the aligned ensemble mean ("consensus").

    Consensus starts from the "first" alignment and re-matches to the mean of the aligned ensemble
    until no permutation changes (at most max_iter passes), which removes the dependence on one network.
    """
    if reference not in REFERENCES:
        raise ValueError(f"align_reference: got {reference!r}; allowed values: {', '.join(REFERENCES)}")
    perms = match_hidden(weights, [w[0] for w in weights])
    aligned = permute_hidden(weights, perms)
    if reference == "first":
        return aligned
    for _ in range(max_iter):
        new = match_hidden(weights, [w.mean(0) for w in aligned])
        if all(np.array_equal(a, b) for a, b in zip(new, perms)):
            break
        perms, aligned = new, permute_hidden(weights, new)
    return aligned
