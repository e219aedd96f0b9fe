"""The fast path (bmm training without host syncs, centred and preconditioned float32 pseudo-likelihood)
gives the ensemble statistics of the old path (einsum training, plain float64 L-BFGS) for a fixed seed.

tests/binarynet/data/old_path_small.json was written by the old path (commit 6678f5b) for the small
point stored in it. Tolerances: training and draws are bit-identical (the same random stream), so
moments and accuracies must agree exactly; the fits stop at the same tolerance from different
variables, so their statistics agree to 1e-3 (s/ln 2, |J|); the null is now the mean of several
shuffles, the first of which is the old one, so it agrees only to its own spread (0.02).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from tdlm.binarynet.ising import fit_pseudolikelihood
from tdlm.binarynet.measures import run_effective_model

OLD = json.loads((Path(__file__).parent / "data" / "old_path_small.json").read_text())


@pytest.fixture(scope="module")
def new():
    return run_effective_model(OLD["params"])


@pytest.mark.parametrize(
    ("name", "atol"),
    [
        ("mean_abs_m", 1e-12),
        ("mean_abs_c", 1e-12),
        ("overlap_Q", 1e-12),
        ("test_accuracy", 1e-12),
        ("s_over_ln2", 1e-3),
        ("mean_abs_J", 1e-3),
        ("max_abs_J", 1e-3),
        ("landscape_d", 1e-2),
        ("s_null_over_ln2", 2e-2),
    ],
)
def test_same_statistics_as_the_old_path(new, name: str, atol: float) -> None:
    np.testing.assert_allclose(new[name].values, np.array(OLD[name]), rtol=0, atol=atol)


def test_fit_reaches_the_plain_optimum() -> None:
    """Centring and preconditioning change the path, not the optimum: the objective's gradient in the
    original variables vanishes at the fitted (J, h) of correlated, biased samples."""
    rng = np.random.default_rng(0)
    s = np.where(rng.random((4000, 12)) < 0.8, 1.0, -1.0)
    s[:, 1] = s[:, 0] * np.where(rng.random(4000) < 0.9, 1, -1)
    l2, l2_h = 0.01, 1e-3
    model = fit_pseudolikelihood(s, l2=l2, l2_h=l2_h, tol=1e-7, max_iter=500)
    field = model.h + s @ model.J
    g = (np.tanh(field) - s) / len(s)
    grad_h = g.sum(0) + 2 * l2_h * model.h
    a = s.T @ g
    grad_J = (a + a.T)[np.triu_indices(12, 1)] + 2 * l2 * model.J[np.triu_indices(12, 1)]
    assert np.abs(grad_h).max() < 1e-4 and np.abs(grad_J).max() < 1e-4
    assert model.J[0, 1] > 0.5  # the planted pair is found
