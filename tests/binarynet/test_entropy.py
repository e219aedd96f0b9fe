import numpy as np
import pytest

from tdlm.binarynet.entropy import bethe, detect_jump, entropy_landscape, exact_entropy, random_bound, thermodynamic_integration
from tdlm.binarynet.ising import IsingModel


def sk(n: int, g: float, seed: int) -> IsingModel:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, g / np.sqrt(n), (n, n)), 1)
    return IsingModel(J + J.T, rng.normal(0.0, 0.2, n))


def curie_weiss(n: int, j0: float) -> IsingModel:
    return IsingModel((np.ones((n, n)) - np.eye(n)) * j0 / n, np.zeros(n))


def test_bethe_is_exact_for_independent_spins() -> None:
    model = IsingModel(np.zeros((5, 5)), np.array([0.1, 0.5, -1.0, 2.0, 0.0]))
    res = bethe(model)
    assert res.converged
    p = (1 + np.tanh(model.h)) / 2
    expected = -(p * np.log(p) + (1 - p) * np.log(1 - p)).mean()
    assert res.entropy == pytest.approx(expected, abs=1e-12)
    assert exact_entropy(model) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n", [12, 14])
def test_bethe_matches_exact_enumeration(n: int) -> None:
    """Weakly coupled dense model (J ~ 0.3/sqrt(n)): Bethe error measured about 0.002 nats; tolerance 0.01."""
    model = sk(n, 0.3, seed=n)
    res = bethe(model)
    assert res.converged
    assert res.entropy == pytest.approx(exact_entropy(model), abs=0.01)
    assert res.entropy < np.log(2) - 0.02  # the couplings and fields do lower the entropy


def test_thermodynamic_integration_matches_exact_enumeration() -> None:
    """Monte Carlo TI on n = 12 (J ~ 0.5/sqrt(n)): statistical error about 0.002; tolerance 0.01."""
    model = sk(12, 0.5, seed=3)
    ti = thermodynamic_integration(model, n_chains=200, burn_in=100, n_records=50, seed=1)
    assert ti == pytest.approx(exact_entropy(model), abs=0.01)


def test_bethe_matches_thermodynamic_integration_beyond_enumeration() -> None:
    """n = 40 is out of reach of enumeration; Bethe and Monte Carlo TI agree within 0.01 nats."""
    model = sk(40, 0.3, seed=4)
    res = bethe(model)
    ti = thermodynamic_integration(model, n_chains=100, burn_in=100, n_records=30, seed=2)
    assert res.converged
    assert res.entropy == pytest.approx(ti, abs=0.01)


def test_landscape_of_free_spins_is_the_random_bound() -> None:
    """With J = h = 0 the tilted model is a product measure: d = (1 - tanh x)/2 and s = random bound exactly."""
    model = IsingModel(np.zeros((10, 10)), np.zeros(10))
    sigma = np.where(np.arange(10) % 3 == 0, 1.0, -1.0)
    xs = np.linspace(0, 2, 5)
    ls = entropy_landscape(model, sigma, xs)
    np.testing.assert_allclose(ls.d, np.broadcast_to((1 - np.tanh(xs)) / 2, (2, 5)), atol=1e-9)
    np.testing.assert_allclose(ls.s, random_bound(ls.d), atol=1e-9)
    assert not detect_jump(ls).detected


def test_landscape_never_exceeds_random_bound() -> None:
    model = sk(30, 0.5, seed=5)
    ls = entropy_landscape(model, np.sign(np.random.default_rng(0).normal(size=30)), np.linspace(-2, 3, 11))
    assert ls.converged.all()
    assert np.all(ls.s <= random_bound(ls.d) + 1e-9)


def test_jump_detector_finds_first_order_hysteresis() -> None:
    """Curie-Weiss ferromagnet tilted towards all-up: J0 = 1.5 is ordered (BP keeps the metastable branch in each
    sweep direction, so d jumps with hysteresis near the spinodal); J0 = 0.5 is paramagnetic (smooth)."""
    xs = np.linspace(-0.5, 0.5, 21)
    up = np.ones(50)
    ordered = detect_jump(entropy_landscape(curie_weiss(50, 1.5), up, xs))
    assert ordered.detected
    assert ordered.size > 0.5
    assert ordered.hysteresis > 0.5
    assert 0.05 < abs(ordered.x) < 0.4
    smooth = detect_jump(entropy_landscape(curie_weiss(50, 0.5), up, xs))
    assert not smooth.detected
    assert smooth.size < 0.06  # slope dd/dx = chi/2 = 1 times the grid step 0.05
    assert smooth.hysteresis < 1e-4
