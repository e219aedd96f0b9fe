import numpy as np
import torch

from tdlm.binarynet.align import align_ensemble, match_hidden, permute_hidden
from tdlm.binarynet.lrnet import LRNetConfig, binary_logits

WIDTHS = (6, 5, 4, 3)


def _random_nets(n_nets: int, rng: np.random.Generator, widths: tuple[int, ...] = WIDTHS) -> list[np.ndarray]:
    return [rng.choice([-1.0, 1.0], size=(n_nets, o, i)) for i, o in zip(widths[:-1], widths[1:])]


def _random_perms(n_nets: int, rng: np.random.Generator, widths: tuple[int, ...] = WIDTHS) -> list[np.ndarray]:
    return [np.stack([rng.permutation(w) for _ in range(n_nets)]) for w in widths[1:-1]]


def test_permuted_network_aligns_back_exactly_and_keeps_its_function() -> None:
    rng = np.random.default_rng(0)
    ref = _random_nets(1, rng)
    copies = [np.repeat(w, 20, axis=0) for w in ref]
    permuted = permute_hidden(copies, _random_perms(20, rng))
    assert not all(np.array_equal(a, b) for a, b in zip(permuted, copies))  # the relabelling did something

    aligned = permute_hidden(permuted, match_hidden(permuted, [w[0] for w in ref]))
    for a, b in zip(aligned, copies):
        np.testing.assert_array_equal(a, b)

    cfg = LRNetConfig(widths=WIDTHS)
    x = torch.randn(50, WIDTHS[0])
    before = binary_logits([torch.tensor(w, dtype=torch.float32) for w in permuted], x, cfg)
    after = binary_logits([torch.tensor(w, dtype=torch.float32) for w in aligned], x, cfg)
    torch.testing.assert_close(before, after)


def test_align_ensemble_recovers_a_noisy_common_structure() -> None:
    rng = np.random.default_rng(1)
    widths = (40, 20, 20, 3)  # rows long enough that 10% flips never swap two units' identities
    ref = _random_nets(1, rng, widths)
    noisy = [np.repeat(w, 30, axis=0) * np.where(rng.random((30, *w.shape[1:])) < 0.1, -1.0, 1.0) for w in ref]
    scrambled = permute_hidden(noisy, _random_perms(30, rng, widths))
    for reference in ("first", "consensus"):
        aligned = align_ensemble(scrambled, reference)
        # aligned, the networks agree weight by weight: |ensemble mean| near 1 - 2 * 0.1 = 0.8 (unaligned: about 0.15)
        agreement = [float(np.abs(a.mean(0)).mean()) for a in aligned]
        assert min(agreement) > 0.7, (reference, agreement)
    assert float(np.abs(scrambled[1].mean(0)).mean()) < 0.45  # the middle block is scrambled on both sides
