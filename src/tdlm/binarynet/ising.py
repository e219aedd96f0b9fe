"""Pairwise Ising model of one block of binary weights: moments, pseudo-likelihood fit, sampling.

P(s) ~ exp(sum_{i<j} J_ij s_i s_j + sum_i h_i s_i), s_i = +-1, J symmetric with zero diagonal. The
fit maximises the pseudo-likelihood (product of the conditionals P(s_i | rest)), which is consistent
and needs no partition function; L-BFGS on the full batch with a small L2 penalty keeps couplings
and the fields of frozen weights finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize


@dataclass(frozen=True)
class IsingModel:
    """Couplings J (n, n; symmetric, zero diagonal) and fields h (n,), float64."""

    J: np.ndarray
    h: np.ndarray

    @property
    def n(self) -> int:
        return len(self.h)

    def scaled(self, factor: float) -> IsingModel:
        """The model at inverse temperature `factor` (both J and h multiplied)."""
        return IsingModel(self.J * factor, self.h * factor)

    def with_field(self, extra: np.ndarray) -> IsingModel:
        return IsingModel(self.J, self.h + extra)


def moments(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means m_i, second moments C_ij = <s_i s_j> and connected correlations c_ij = C_ij - m_i m_j."""
    s = np.asarray(samples, dtype=np.float64)
    m = s.mean(0)
    C = s.T @ s / len(s)
    return m, C, C - np.outer(m, m)


def _symmetric(upper: np.ndarray, n: int) -> np.ndarray:
    J = np.zeros((n, n))
    J[np.triu_indices(n, 1)] = upper
    return J + J.T


def fit_pseudolikelihood(
    samples: np.ndarray, l2: float = 0.3, l2_h: float = 1e-3, max_iter: int = 200, tol: float = 1e-4
) -> IsingModel:
    """Fit (J, h) to +-1 samples (M, n) by L2-penalised pseudo-likelihood (scipy L-BFGS, analytic gradient).

    Objective: -(1/M) sum_mu sum_i log P(s_i^mu | rest) + l2 sum_{i<j} J_ij^2 + l2_h sum_i h_i^2.
    Starts from the independent-spin solution h = atanh(m), J = 0; stops when the largest gradient
    component is below tol or after max_iter iterations.
    """
    s_np = np.asarray(samples, dtype=np.float64)
    n_samples, n = s_np.shape
    iu = np.triu_indices(n, 1)
    x0 = np.concatenate([np.arctanh(np.clip(s_np.mean(0), -0.99, 0.99)), np.zeros(len(iu[0]))])
    s = torch.from_numpy(s_np)  # torch for its fast vectorised tanh / logaddexp; the gradient is analytic

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        h, upper = x[:n], x[n:]
        field = torch.from_numpy(h + 0.0) + s @ torch.from_numpy(_symmetric(upper, n))
        nll = float((torch.logaddexp(field, -field) - s * field).sum()) / n_samples
        g = (torch.tanh(field) - s) / n_samples
        a = (s.T @ g).numpy()
        grad = np.concatenate([g.sum(0).numpy() + 2 * l2_h * h, (a + a.T)[iu] + 2 * l2 * upper])
        return nll + l2 * upper @ upper + l2_h * h @ h, grad

    res = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12})
    return IsingModel(_symmetric(res.x[n:], n), res.x[:n])


def metropolis(
    model: IsingModel,
    n_chains: int,
    burn_in: int,
    n_records: int,
    every: int = 1,
    seed: int = 0,
    beta: np.ndarray | None = None,
) -> np.ndarray:
    """Single-spin-flip Metropolis, all chains in parallel; returns (n_records, n_chains, n) states.

    Chains start from independent uniform states; one sweep visits every spin once in order. After
    `burn_in` sweeps a record is taken every `every` sweeps. `beta` (n_chains,) optionally gives each
    chain its own inverse temperature (model multiplied by beta), so a temperature ladder runs in one pass.
    """
    rng = np.random.default_rng(seed)
    beta = np.ones(n_chains) if beta is None else np.asarray(beta, dtype=np.float64)
    s = rng.choice([-1.0, 1.0], size=(n_chains, model.n))
    field = model.h + s @ model.J
    records = np.empty((n_records, n_chains, model.n))
    for sweep in range(1, burn_in + n_records * every + 1):
        log_u = np.log(rng.random((model.n, n_chains)))
        for i in range(model.n):
            flip = np.flatnonzero(log_u[i] < -2 * beta * s[:, i] * field[:, i])
            s[flip, i] *= -1
            field[flip] += np.outer(2 * s[flip, i], model.J[i])
        if sweep > burn_in and (sweep - burn_in) % every == 0:
            records[(sweep - burn_in) // every - 1] = s
    return records


def all_states(n: int) -> np.ndarray:
    """All 2^n configurations of n +-1 spins, shape (2^n, n)."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return (2 * bits - 1).astype(np.float64)


def exact_distribution(model: IsingModel) -> tuple[np.ndarray, np.ndarray]:
    """Exact enumeration (n <= 20): all states and their Boltzmann probabilities."""
    if model.n > 20:
        raise ValueError(f"exact enumeration needs n <= 20 spins, got {model.n}")
    states = all_states(model.n)
    log_w = 0.5 * np.einsum("ki,ij,kj->k", states, model.J, states) + states @ model.h
    p = np.exp(log_w - log_w.max())
    return states, p / p.sum()


def exact_samples(model: IsingModel, n_samples: int, seed: int = 0) -> np.ndarray:
    """Independent exact samples by drawing from the enumerated distribution."""
    states, p = exact_distribution(model)
    return states[np.random.default_rng(seed).choice(len(p), size=n_samples, p=p)]
