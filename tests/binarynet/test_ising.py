import numpy as np

from tdlm.binarynet.ising import IsingModel, exact_distribution, exact_samples, fit_pseudolikelihood, metropolis, moments


def planted(n: int = 12, seed: int = 0) -> IsingModel:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, 0.3 / np.sqrt(n), (n, n)), 1)
    return IsingModel(J + J.T, rng.normal(0.0, 0.2, n))


def test_moments_of_known_samples() -> None:
    s = np.array([[1, 1], [1, -1], [-1, -1], [1, 1]], dtype=float)
    m, C, c = moments(s)
    np.testing.assert_allclose(m, [0.5, 0.0])
    np.testing.assert_allclose(C, [[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(c, [[0.75, 0.5], [0.5, 1.0]])


def test_pseudolikelihood_recovers_planted_model() -> None:
    """n = 12, J ~ N(0, 0.3^2/n), 40000 exact samples: statistical error about 0.005-0.01 per parameter,
    tolerance 0.04 on the largest error of J and h."""
    true = planted()
    fit = fit_pseudolikelihood(exact_samples(true, 40000, seed=1), l2=1e-5, l2_h=1e-5)
    np.testing.assert_allclose(fit.J, fit.J.T)
    assert np.all(np.diag(fit.J) == 0)
    assert np.abs(fit.J - true.J).max() < 0.04
    assert np.abs(fit.h - true.h).max() < 0.04
    # and the fit is informative: far better than the independent-spin guess J = 0
    assert np.abs(fit.J - true.J).mean() < 0.3 * np.abs(true.J).mean()


def test_metropolis_reproduces_moments_of_fit() -> None:
    """Metropolis of the fitted model vs the data it was fitted to: tolerance 0.03 on m and C
    (20000 data samples and 400 chains x 25 records give errors around 0.01)."""
    data = exact_samples(planted(seed=2), 20000, seed=3)
    fit = fit_pseudolikelihood(data, l2=1e-5, l2_h=1e-5)
    mc = metropolis(fit, n_chains=400, burn_in=50, n_records=25, every=2, seed=4)
    assert mc.shape == (25, 400, 12)
    m_data, C_data, _ = moments(data)
    m_mc, C_mc, _ = moments(mc.reshape(-1, 12))
    assert np.abs(m_mc - m_data).max() < 0.03
    assert np.abs(C_mc - C_data).max() < 0.03


def test_metropolis_matches_exact_enumeration_with_per_chain_beta() -> None:
    """Two temperatures in one ladder, each against exact enumeration (tolerance 0.04; error about 0.01)."""
    model = planted(n=8, seed=5).scaled(3.0)
    betas = (0.3, 1.0)
    mc = metropolis(model, 600, burn_in=50, n_records=40, every=2, seed=6, beta=np.repeat(betas, 300))
    for k, beta in enumerate(betas):
        states, p = exact_distribution(model.scaled(beta))
        m, C, _ = moments(mc[:, 300 * k : 300 * (k + 1)].reshape(-1, 8))
        np.testing.assert_allclose(m, p @ states, atol=0.04)
        np.testing.assert_allclose(C, (states * p[:, None]).T @ states, atol=0.04)
