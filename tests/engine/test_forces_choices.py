"""The model choices of issue 24 as parameters: `preactivation` (fan_in: tanh(J S / sqrt(N_{l-1}))) and
`init_velocities` (zero).

The fan_in forces are checked against autograd of a reference energy written here (the spec's Hamiltonian
with the gain inside tanh), in float64 for every working layout and in float32 through the compiled pass
of the uniform noise; the read-outs take the same gain; a job with the choices is deterministic, records
them, and a bad value is refused naming the field.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_engine_forces import CASES, LAYOUTS, _transposed, pack, random_case, rel_err

from tdlm.fields import ConfigError
from tdlm.md import native
from tdlm.md.energy import Boundary, ForceField, layer_energies
from tdlm.md.layout import Layout
from tdlm.md.observables import accuracy, forward
from tdlm.md.params import build
from tdlm.md.setup import initial_state, prepare


def fan_in_terms(J, spins, x, y) -> list[torch.Tensor]:
    """[E_1, ..., E_L] with tanh(S_{l-1} J_l^T / sqrt(N_{l-1})), each (S, K)."""
    energies, below = [], x.unsqueeze(1)
    for l in range(len(J)):
        pre = torch.matmul(below, J[l].transpose(-1, -2)) / math.sqrt(J[l].shape[-1])
        target = spins[l] if l < len(spins) else y.unsqueeze(1)
        energies.append(torch.sqrt(torch.sum((target - torch.tanh(pre)) ** 2, dim=(-2, -1))))
        if l < len(spins):
            below = spins[l]
    return energies


def fan_in_reference(J, spins, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    leaves = [t.detach().clone().requires_grad_(True) for t in J + spins]
    terms = fan_in_terms(leaves[: len(J)], leaves[len(J) :], x, y)
    sum(E.sum() for E in terms).backward()
    return torch.stack([E.detach() for E in terms], dim=-1), pack([t.grad for t in leaves])


def fan_in_layout(J, x) -> Layout:
    S, K = J[0].shape[:2]
    return Layout((x.shape[-1],) + tuple(j.shape[-2] for j in J), x.shape[1], S, K, "fan_in")


@pytest.mark.parametrize("widths, M, S, K", CASES)
@pytest.mark.parametrize("layouts", LAYOUTS)
def test_fan_in_forces_match_autograd(widths, M, S, K, layouts):
    J, spins, x, y = random_case(widths, M, S, K, seed=4)
    ref_E, ref_g = fan_in_reference(J, spins, x, y)
    layout = fan_in_layout(J, x)
    flat = pack(J + spins)
    out = torch.full_like(flat, float("nan"))
    energies = ForceField(layout, Boundary(x, y), transposed=_transposed(layouts, len(J)))(flat, out)
    assert rel_err(out, ref_g) < 1e-10
    assert rel_err(energies, ref_E) < 1e-12
    assert rel_err(layer_energies(flat, layout, Boundary(x, y)), ref_E) < 1e-12
    # the choice is not vacuous: the plain forces of the same configuration differ
    plain = torch.empty_like(flat)
    ForceField(Layout(layout.widths, M, S, K), Boundary(x, y))(flat, plain)
    assert rel_err(plain, ref_g) > 1e-3


@pytest.mark.parametrize("widths, M, S, K", CASES[:4])
def test_fan_in_fused_float32_forces_match_autograd(widths, M, S, K):
    """The compiled pass of `noise: uniform` (ForceField(fused=True)) serves fan_in: float32 forces as
    close to the float64 reference as for the plain choice."""
    if native.library() is None:
        pytest.skip("no C compiler: fused=True runs torch's passes (tested above)")
    J, spins, x, y = random_case(widths, M, S, K, seed=6)
    ref_E, ref_g = fan_in_reference(J, spins, x, y)
    flat = pack([t.float() for t in J + spins])
    ff = ForceField(fan_in_layout(J, x), Boundary(x.float(), y.float()), fused=True)
    assert ff.fused
    out = torch.full_like(flat, float("nan"))
    energies = ff(flat, out)
    assert rel_err(out.double(), ref_g) < 2e-6 and rel_err(energies.double(), ref_E) < 2e-6


def test_read_outs_take_the_gain():
    """tanh read-out: the network of J / sqrt(N_{l-1}); sign read-out and its hidden states: unchanged."""
    J, _, x, y = random_case((16, 6, 6, 2), 10, 2, 3, seed=8)
    gains = fan_in_layout(J, x).gains
    assert gains == tuple(1 / math.sqrt(n) for n in (16, 6, 6))
    scaled = [j * g for j, g in zip(J, gains)]
    assert torch.allclose(forward(J, x, "tanh", gains)[-1], forward(scaled, x, "tanh")[-1], atol=1e-12)
    assert not torch.allclose(forward(J, x, "tanh", gains)[-1], forward(J, x, "tanh")[-1])
    for a, b in zip(forward(J, x, "sign", gains)[:-1], forward(J, x, "sign")[:-1]):
        assert torch.equal(a, b)
    assert torch.equal(accuracy(J, x, y, "sign", gains), accuracy(J, x, y, "sign"))


def test_zero_initial_velocities(tiny):
    setup = prepare(build({**tiny, "init_velocities": "zero"}))
    state = initial_state(setup)
    assert torch.count_nonzero(state.velocity) == 0
    default = initial_state(prepare(build(tiny)))
    assert torch.equal(state.position, default.position)  # the positions do not depend on the choice
    assert float(default.velocity.square().mean()) == pytest.approx(1e-5, rel=0.2)


def test_choices_are_recorded_deterministic_and_keyed(tiny, tiny_run, tmp_path, load_nc, assert_same_output):
    from tdlm.md.simulate import run

    values = {**tiny, "preactivation": "fan_in", "init_velocities": "zero", "noise": "uniform"}
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    run(build(values), a)
    run(build(values), b)
    first, second = load_nc(a), load_nc(b)
    assert_same_output(first, second)
    assert first.attrs["param_preactivation"] == "fan_in"
    assert first.attrs["param_init_velocities"] == "zero"
    assert "Maxwell-Boltzmann" not in first.attrs["initial_state"]  # the words do not contradict the choice
    default = load_nc(tiny_run[1])
    assert default.attrs["param_preactivation"] == "plain"
    assert default.attrs["param_init_velocities"] == "maxwell_boltzmann"
    assert not first["history_energy_layer"].equals(default["history_energy_layer"])
    # the checkpoint key: unchanged by the new fields at their defaults (older checkpoints resume), changed otherwise
    keys = {build({**tiny, **extra}).physics_key() for extra in ({}, {"preactivation": "fan_in"}, {"init_velocities": "zero"})}
    assert len(keys) == 3


@pytest.mark.parametrize("field", ["preactivation", "init_velocities"])
def test_bad_value_is_refused_naming_the_field(tiny, field):
    with pytest.raises(ConfigError) as err:
        build({**tiny, field: "sqrt"})
    assert field in str(err.value) and "allowed values" in str(err.value)
    with pytest.raises(ValueError, match="preactivation"):
        Layout((4, 3, 2), 5, 1, 1, "sqrt")
