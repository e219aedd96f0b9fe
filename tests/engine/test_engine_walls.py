"""Elastic walls of the box (-1, 1): space.reflect_ and a long hot MD run (spec section 4)."""

from __future__ import annotations

import pytest
import torch

from tdlm.md.energy import Boundary, gradient
from tdlm.md.integrate import Integrator, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout
from tdlm.md.space import reflect_
from tdlm.md.state import MDState

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_work", [False, True], ids=["allocating", "work-buffer"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_reflect_folds_and_reverses(dtype, with_work, device):
    x = torch.tensor([1.5, -1.5, 0.3, -0.999, 1.001, 2.9, -2.9, 0.0, 1.0, -1.0, 0.999999], dtype=dtype, device=device)
    v = torch.linspace(-2.0, 3.0, len(x), dtype=dtype, device=device)
    x0, v0 = x.clone(), v.clone()
    reflect_(x, v, work=torch.full_like(x, float("nan")) if with_work else None)
    over, under = x0 > 1, x0 < -1
    outside = over | under
    expected_x = torch.where(over, 2 - x0, torch.where(under, -2 - x0, x0))
    expected_v = torch.where(outside, -v0, v0)
    assert torch.equal(x[~outside], x0[~outside]), "points inside (or on) the walls must be untouched"
    assert torch.equal(v[~outside], v0[~outside])
    assert torch.allclose(x[outside], expected_x[outside], rtol=0, atol=4 * torch.finfo(dtype).eps)
    assert torch.equal(v, expected_v)
    assert (x.abs() <= 1).all()


def test_reflect_random_bulk():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(100_000, generator=g, dtype=torch.float64) * 5.8 - 2.9  # one fold brings all of them back
    v0 = torch.randn(100_000, generator=g, dtype=torch.float64)
    x, v = x0.clone(), v0.clone()
    reflect_(x, v)
    outside = x0.abs() > 1
    assert 0.5 < outside.double().mean() < 0.8  # both regimes exercised
    assert torch.equal(x[~outside], x0[~outside])
    assert torch.allclose(x[outside], torch.sign(x0[outside]) * 2 - x0[outside], rtol=0, atol=1e-15)
    assert torch.equal(v, torch.where(outside, -v0, v0))
    # the fold conserves kinetic energy
    assert torch.equal(v.square(), v0.square())


def test_reflect_works_on_views_of_a_flat_buffer():
    """Walls act in place on (possibly non-leading) slices of the coordinate buffer."""
    x = torch.zeros(10, dtype=torch.float64)
    v = torch.ones(10, dtype=torch.float64)
    x[4:7] = torch.tensor([1.25, -0.5, -1.75], dtype=torch.float64)
    reflect_(x[4:7], v[4:7])
    assert torch.equal(x[4:7], torch.tensor([0.75, -0.5, -0.25], dtype=torch.float64))
    assert torch.equal(v, torch.tensor([1, 1, 1, 1, -1, 1, -1, 1, 1, 1], dtype=torch.float64))
    assert torch.equal(x[:4], torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize(
    ("noise", "dtype"), [("gaussian", torch.float64), ("uniform", torch.float32)], ids=["gaussian", "uniform-compiled"]
)
def test_hot_md_run_never_leaves_the_box(noise, dtype):
    """Langevin MD with real forces at T = 1 (hot: thermal steps of 0.1) hits the walls often but stays inside."""
    widths, M, S, K = (6, 5, 5, 2), 6, 1, 4
    layout = Layout(widths, M, S, K)
    g = torch.Generator().manual_seed(3)
    x_in = (torch.randint(0, 2, (S, M, widths[0]), generator=g) * 2 - 1).to(dtype)
    labels = torch.randint(0, 2, (S, M), generator=g)
    y = torch.where(torch.nn.functional.one_hot(labels, 2) == 1, 1.0, -1.0).to(dtype)
    boundary = Boundary(x_in, y)
    T, dt = 1.0, 0.1
    position = torch.rand(layout.total, generator=g, dtype=dtype) * 2 - 1
    rng = torch.Generator().manual_seed(4)
    state = MDState(position, maxwell_boltzmann(layout.total, T, rng, dtype, torch.device("cpu")), rng)
    integ = Integrator(
        lambda x, out: gradient(x, layout, boundary, out),
        dt,
        Thermostat.from_params("per_step", 0.05, dt, T),
        position,
        noise=noise,
    )
    near_wall = torch.zeros(layout.total, dtype=torch.bool)
    n_steps = 1500
    for _ in range(n_steps):
        energies = integ.step(state)
        assert (state.position.abs() < 1).all(), f"left the box at step {state.step}"
        near_wall |= state.position.abs() > 0.98
    assert state.step == n_steps
    assert torch.isfinite(energies).all()
    assert near_wall.double().mean() > 0.9, "the run should have exercised the walls"
