"""The CUDA path (skipped without a CUDA device): forces against autograd, determinism across a
checkpoint split, and the CUDA-graph step bit for bit equal to the eager one."""

from __future__ import annotations

import pytest
import torch
from test_engine_forces import CASES, LAYOUTS, _transposed, analytic, autograd_reference, random_case, rel_err

from tdlm.md.energy import Boundary, ForceField
from tdlm.md.integrate import Integrator, MDState, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")


@pytest.mark.parametrize("widths, M, S, K", CASES)
@pytest.mark.parametrize("layouts", LAYOUTS)
def test_gradient_on_cuda_matches_autograd(widths, M, S, K, layouts):
    J, spins, x, y = random_case(widths, M, S, K, seed=0)
    ref_E, ref_g = autograd_reference(J, spins, x, y)
    on = [t.to(CUDA) for t in J], [t.to(CUDA) for t in spins], x.to(CUDA), y.to(CUDA)
    _, _, out, energies = analytic(*on, _transposed(layouts, len(J)))
    assert out.is_cuda and torch.isfinite(out).all()
    assert rel_err(out.cpu(), ref_g) < 1e-10
    assert rel_err(energies.cpu(), ref_E) < 1e-12


def _run(steps: int, split: int | None = None, cuda_graph: bool = False) -> tuple[MDState, torch.Tensor, list[Integrator]]:
    """A hot (walls are hit) float32 run on the GPU; at `split` the state goes through host memory, as a checkpoint."""
    widths, M, S, K = (30, 8, 8, 8, 2), 40, 2, 3
    J, spins, x, y = random_case(widths, M, S, K, seed=5, dtype=torch.float32)
    layout, boundary = Layout(widths, M, S, K), Boundary(x.to(CUDA), y.to(CUDA))
    flat = torch.cat([t.reshape(-1) for t in J + spins]).to(CUDA)
    T = 1e-2
    rng = torch.Generator(device=CUDA).manual_seed(11)
    state = MDState(flat, maxwell_boltzmann(layout.total, T, rng, torch.float32, CUDA).mul_(30.0), rng)

    def integrator(like: torch.Tensor) -> Integrator:
        return Integrator(
            ForceField(layout, boundary), 1e-2, Thermostat.from_params("per_step", 1e-2, 1e-2, T), like, cuda_graph=cuda_graph
        )

    integrators, energies = [integrator(flat)], []
    for i in range(steps):
        if i == split:
            rng2 = torch.Generator(device=CUDA)
            rng2.set_state(state.rng.get_state())
            state = MDState(state.position.cpu().to(CUDA), state.velocity.cpu().to(CUDA), rng2, state.step)
            integrators.append(integrator(state.position))
        energies.append(integrators[-1].step(state))
    return state, torch.stack(energies), integrators


def _same(a: tuple, b: tuple) -> bool:
    return torch.equal(a[0].position, b[0].position) and torch.equal(a[0].velocity, b[0].velocity) and torch.equal(a[1], b[1])


def test_cuda_steps_are_deterministic_across_a_checkpoint_split():
    a, b, c = _run(20), _run(20), _run(20, split=9)
    assert _same(a, b) and _same(a, c)
    assert float(a[0].position.abs().max()) <= 1.0 and a[0].step == 20


def test_cuda_graph_step_equals_the_eager_step():
    eager, graphed, split = _run(20), _run(20, cuda_graph=True), _run(20, split=9, cuda_graph=True)
    assert all(i.graph_active and i.graph_error is None for i in graphed[2] + split[2])
    assert _same(eager, graphed) and _same(eager, split)
