"""Entropy of a fitted Ising model and its entropy landscape around a reference configuration.

The entropy S = ln Z - <E> (E = -sum J s s - sum h s) measures how many weight configurations the
model spreads over; S/n = ln 2 means every weight is free. Dense models are solved by belief
propagation (Bethe approximation) with damping; thermodynamic integration by Monte Carlo and exact
enumeration (n <= 20) check it. The landscape tilts the model by a field x coupling to the overlap
q = (1/n) sum_i sigma_i s_i with a reference sigma; d = (1 - q)/2 is the distance and s(d) the
Shannon entropy per spin of the tilted model, never above the count of configurations at distance d,
-d ln d - (1-d) ln(1-d). Sweeping x up and then down, each BP warm-started from the previous x,
exposes a first-order (discontinuous, hysteretic) jump of d when the weight space is broken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import simpson

from tdlm.binarynet.ising import IsingModel, exact_distribution, metropolis


def _log2cosh(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, -x)


@dataclass(frozen=True)
class BetheResult:
    """Bethe entropy and free entropy per spin, marginals m_i, final messages and convergence."""

    entropy: float
    free_entropy: float
    m: np.ndarray
    messages: np.ndarray  # messages[k, i]: cavity field sent by spin k to spin i
    converged: bool
    iterations: int


def bethe(
    model: IsingModel,
    damping: float = 0.5,
    tol: float = 1e-9,
    max_iter: int = 5000,
    messages: np.ndarray | None = None,
) -> BetheResult:
    """Damped BP on the dense pairwise model; entropy = (ln Z_Bethe - <E>_Bethe) / n.

    Message update u_{i->j} = atanh(tanh J_ij tanh h_{i\\j}) with cavity field h_{i\\j} = h_i + sum_{k != j} u_{k->i};
    new = (1 - damping) * update + damping * old, until the largest change is below tol.
    """
    J, h, n = model.J, model.h, model.n
    tJ = np.tanh(J)
    u = np.zeros((n, n)) if messages is None else messages.copy()
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count of iterations is returned
        cavity = (h + u.sum(0))[:, None] - u.T  # cavity[i, j] = h_{i\j}
        new = (1 - damping) * np.arctanh(np.clip(tJ * np.tanh(cavity), -1 + 1e-15, 1 - 1e-15)) + damping * u
        change = np.abs(new - u).max()
        u = new
        if change < tol:
            converged = True
            break
    full = h + u.sum(0)
    cavity = full[:, None] - u.T
    t = np.tanh(cavity)
    iu = np.triu_indices(n, 1)
    tij, tji, tJu, Ju = t[iu], t.T[iu], tJ[iu], J[iu]
    log_z = (
        _log2cosh(full).sum()
        - (_log2cosh(u) - np.log(2)).sum()
        + (_log2cosh(Ju) - np.log(2)).sum()
        - np.log1p(tJu * tij * tji).sum()
    )
    m = np.tanh(full)
    pair = (tJu + tij * tji) / (1 + tJu * tij * tji)
    mean_g = h @ m + Ju @ pair  # <-E>
    return BetheResult((log_z - mean_g) / n, log_z / n, m, u, converged, it)


def exact_entropy(model: IsingModel) -> float:
    """Entropy per spin by exact enumeration (n <= 20)."""
    _, p = exact_distribution(model)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / model.n)


def thermodynamic_integration(
    model: IsingModel,
    n_lambda: int = 11,
    n_chains: int = 200,
    burn_in: int = 200,
    n_records: int = 50,
    every: int = 2,
    seed: int = 0,
) -> float:
    """Entropy per spin by Monte Carlo thermodynamic integration along lambda in [0, 1].

    With G = -E and Z(lambda) = sum exp(lambda G): ln Z(1) = n ln 2 + int_0^1 <G>_lambda dlambda
    (Simpson rule on n_lambda points; all lambdas run as one Metropolis ladder), and S = ln Z(1) - <G>_1.
    """
    lambdas = np.linspace(0.0, 1.0, n_lambda)
    beta = np.repeat(lambdas, n_chains)
    s = metropolis(model, n_lambda * n_chains, burn_in, n_records, every, seed=seed, beta=beta)
    g = 0.5 * np.einsum("rki,ij,rkj->rk", s, model.J, s) + s @ model.h
    mean_g = g.mean(0).reshape(n_lambda, n_chains).mean(1)
    log_z = model.n * np.log(2) + simpson(mean_g, x=lambdas)
    return float((log_z - mean_g[-1]) / model.n)


def random_bound(d: np.ndarray) -> np.ndarray:
    """Entropy per spin of all configurations at distance d: -d ln d - (1-d) ln(1-d)."""
    d = np.clip(np.asarray(d, dtype=np.float64), 1e-300, 1.0)
    return -d * np.log(d) - (1 - d) * np.log(np.clip(1 - d, 1e-300, 1.0))


@dataclass(frozen=True)
class Landscape:
    """Entropy landscape along x, for the upward (index 0) and downward (index 1) sweep, shape (2, n_x)."""

    x: np.ndarray
    d: np.ndarray
    s: np.ndarray
    converged: np.ndarray


def entropy_landscape(
    model: IsingModel,
    reference: np.ndarray,
    xs: np.ndarray,
    damping: float = 0.5,
    tol: float = 1e-9,
    max_iter: int = 5000,
) -> Landscape:
    """Sweep the tilt field x over ascending `xs`, then back down, warm-starting BP at every step."""
    xs = np.sort(np.asarray(xs, dtype=np.float64))
    sigma = np.asarray(reference, dtype=np.float64)
    d = np.empty((2, len(xs)))
    s = np.empty((2, len(xs)))
    conv = np.empty((2, len(xs)), dtype=bool)
    messages = None
    for direction, order in enumerate((range(len(xs)), reversed(range(len(xs))))):
        for k in order:
            res = bethe(model.with_field(xs[k] * sigma), damping, tol, max_iter, messages)
            messages = res.messages
            d[direction, k] = (1 - np.mean(sigma * res.m)) / 2
            s[direction, k] = res.entropy
            conv[direction, k] = res.converged
    return Landscape(xs, d, s, conv)


@dataclass(frozen=True)
class Jump:
    """Largest step of d between neighbouring x in either sweep, where it is, and the sweeps' largest gap."""

    detected: bool
    size: float
    x: float
    hysteresis: float


def detect_jump(landscape: Landscape, jump_threshold: float = 0.1, hysteresis_threshold: float = 0.02) -> Jump:
    """A discontinuity with hysteresis: some step |Delta d| >= jump_threshold between neighbouring x in a
    sweep, and the up and down sweeps disagree somewhere by >= hysteresis_threshold in d.

    The location is the midpoint of the x interval holding the largest step.
    """
    steps = np.abs(np.diff(landscape.d, axis=1))
    direction, k = np.unravel_index(np.argmax(steps), steps.shape)
    size = float(steps[direction, k])
    gap = float(np.abs(landscape.d[0] - landscape.d[1]).max())
    x = float((landscape.x[k] + landscape.x[k + 1]) / 2)
    return Jump(size >= jump_threshold and gap >= hysteresis_threshold, size, x, gap)
