"""Langevin thermostat without forces: equilibrium <v^2> = T, relaxation rate, exact decay at T = 0 (spec 4)."""

from __future__ import annotations

import functools
import math
import os
import shutil

import pytest
import torch

from tdlm.md import native
from tdlm.md.integrate import Integrator, Thermostat, maxwell_boltzmann
from tdlm.md.state import MDState

CPU = torch.device("cpu")
F64 = torch.float64


def no_force(position: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    out.zero_()
    return torch.zeros(1, 1, 1, dtype=position.dtype)


def free_particles(
    n: int, v0: torch.Tensor | None, kind: str, eta: float, dt: float, T: float, seed: int = 0, noise: str = "gaussian", dtype=F64
):
    rng = torch.Generator().manual_seed(seed)
    position = torch.zeros(n, dtype=dtype)
    velocity = torch.zeros(n, dtype=dtype) if v0 is None else v0.clone().to(dtype)
    state = MDState(position, velocity, rng)
    return state, Integrator(no_force, dt, Thermostat.from_params(kind, eta, dt, T), position, noise=noise)


# every noise choice; the uniform one in float32 (the compiled pass) and float64 (its torch form)
NOISES = [
    pytest.param("gaussian", F64, id="gaussian"),
    pytest.param("uniform", torch.float32, id="uniform-f32"),
    pytest.param("uniform", F64, id="uniform-f64"),
]


# (kind, eta, dt, gamma expected from the spec: per_step -> eta, literal -> eta * dt)
THERMOSTATS = [
    pytest.param("per_step", 0.04, 0.04, 0.04, id="per_step"),
    pytest.param("literal", 0.5, 0.04, 0.02, id="literal"),
]


@pytest.mark.parametrize("kind, eta, dt, gamma", THERMOSTATS)
def test_from_params_friction_and_noise(kind, eta, dt, gamma):
    th = Thermostat.from_params(kind, eta, dt, 0.3)
    assert th.friction == pytest.approx(gamma, rel=1e-14)
    # stationary variance of v <- (1 - g) v + a xi is a^2 / (1 - (1 - g)^2); it must equal T
    assert th.noise**2 / (1 - (1 - th.friction) ** 2) == pytest.approx(0.3, rel=1e-12)
    assert Thermostat.from_params(kind, eta, dt, 0.0).noise == 0.0


@pytest.fixture(params=["one piece", "many pieces"])
def pieces(request, monkeypatch):
    """Run the Integrator with its default pieces, or with many small pieces (one noise stream each)."""
    if request.param == "many pieces":
        monkeypatch.setattr("tdlm.md.noise.CPU_CHUNK", 4096)
        monkeypatch.setattr("tdlm.md.noise.NOISE_CHUNK", 1024)
    return request.param


@pytest.mark.parametrize("kind, eta, dt, gamma", THERMOSTATS)
@pytest.mark.parametrize("start", ["cold", "hot"])
def test_kinetic_temperature_converges_to_T(kind, eta, dt, gamma, start, pieces):
    _relaxes_to_T(kind, eta, dt, gamma, start, "gaussian", F64)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["f32-compiled", "f64-torch"])
@pytest.mark.parametrize(
    ("thermostat", "start"), [(THERMOSTATS[0], "cold"), (THERMOSTATS[1], "hot")], ids=["per_step", "literal"]
)
def test_uniform_noise_gives_the_same_kinetic_temperature(thermostat, start, dtype, pieces):
    """Equipartition with the uniform numbers: the same relaxation and the same <v^2> = T as the Gaussian ones."""
    _relaxes_to_T(*thermostat.values, start, "uniform", dtype)


def _relaxes_to_T(kind: str, eta: float, dt: float, gamma: float, start: str, noise: str, dtype: torch.dtype) -> None:
    n, T = 20_000, 0.5
    v0 = None if start == "cold" else torch.randn(n, generator=torch.Generator().manual_seed(9), dtype=F64) * math.sqrt(4 * T)
    state, integ = free_particles(n, v0, kind, eta, dt, T, noise=noise, dtype=dtype)
    v2_start = 0.0 if v0 is None else 4 * T

    # mid-relaxation: <v^2>(k) = T + (v2_start - T) (1 - gamma)^(2k), distinguishes eta from eta * dt
    k_mid = round(0.35 / gamma)
    for _ in range(k_mid):
        integ.step(state)
    expected_mid = T + (v2_start - T) * (1 - gamma) ** (2 * k_mid)
    assert state.velocity.square().mean().item() == pytest.approx(expected_mid, rel=0.04)

    # equilibrium after > 20 relaxation times: time average of the kinetic temperature
    for _ in range(round(12 / gamma)):
        integ.step(state)
    samples = []
    for i in range(round(4 / gamma)):
        integ.step(state)
        if i % 10 == 0:
            samples.append(state.velocity.square().mean().item())
    assert sum(samples) / len(samples) == pytest.approx(T, rel=0.02)
    assert torch.isfinite(state.position).all() and (state.position.abs() < 1).all()


@pytest.mark.parametrize("noise", ["gaussian", "uniform"])
@pytest.mark.parametrize("kind, eta, dt, gamma", THERMOSTATS)
def test_zero_temperature_decay_is_exact(kind, eta, dt, gamma, noise):
    n = 1000
    g = torch.Generator().manual_seed(2)
    v0 = torch.randn(n, generator=g, dtype=F64) * 1e-2  # slow: hardly any wall hits, and those keep |v|
    state, integ = free_particles(n, v0, kind, eta, dt, 0.0, noise=noise)
    for k in range(1, 301):
        integ.step(state)
        if k in (1, 10, 300):
            expected = v0.abs() * (1 - gamma) ** k
            assert torch.allclose(state.velocity.abs(), expected, rtol=1e-12, atol=0)
    assert state.step == 300
    # no noise drawn at T = 0: positions are the exact sum of the drifts (no walls reached)
    assert (state.position.abs() < 1).all()
    drift = dt * v0 * sum((1 - gamma) ** k for k in range(1, 301))
    assert torch.allclose(state.position, drift, rtol=1e-10, atol=1e-15)


def test_maxwell_boltzmann_has_temperature_T():
    g = torch.Generator().manual_seed(1)
    v = maxwell_boltzmann(200_000, 0.25, g, F64, CPU)
    assert v.shape == (200_000,) and v.dtype == F64
    assert v.square().mean().item() == pytest.approx(0.25, rel=0.02)
    assert abs(v.mean().item()) < 5 * math.sqrt(0.25 / 200_000)
    v32 = maxwell_boltzmann(10, 1e-5, torch.Generator().manual_seed(1), torch.float32, CPU)
    assert v32.dtype == torch.float32


@pytest.mark.parametrize("noise, dtype", NOISES)
def test_step_is_leapfrog_with_friction_noise_then_drift(noise, dtype):
    """One step from a known state with a constant force: v' = (1-g) v - dt F' + a xi, x' = x + dt v'."""
    n, dt, eta, T = 50, 0.01, 0.1, 0.0
    g = torch.Generator().manual_seed(5)
    x0 = (torch.rand(n, generator=g, dtype=F64) * 0.5 - 0.25).to(dtype)
    v0 = torch.randn(n, generator=g, dtype=F64).to(dtype)
    grad = torch.randn(n, generator=g, dtype=F64).to(dtype)

    def const(position, out):
        out.copy_(grad)
        return torch.zeros(1, 1, 1, dtype=dtype)

    state = MDState(x0.clone(), v0.clone(), torch.Generator().manual_seed(0))
    Integrator(const, dt, Thermostat.from_params("per_step", eta, dt, T), state.position, noise=noise).step(state)
    v1 = (1 - eta) * v0.double() - dt * grad.double()
    tol = {"rtol": 1e-14, "atol": 1e-16} if dtype == F64 else {"rtol": 1e-6, "atol": 1e-7}
    assert torch.allclose(state.velocity.double(), v1, **tol)
    assert torch.allclose(state.position.double(), x0.double() + dt * v1, **tol)
    assert state.step == 1


def test_unknown_noise_is_named():
    with pytest.raises(ValueError, match="noise: got 'pink'; allowed values: gaussian, uniform"):
        Integrator(no_force, 0.1, Thermostat(0.1, 0.1), torch.zeros(3), noise="pink")


def test_optional_noise_overlap_keeps_the_trajectory():
    """If the Integrator offers `overlap_noise` (noise drawn on a helper thread), the trajectory is bit-identical."""
    import inspect

    if "overlap_noise" not in inspect.signature(Integrator.__init__).parameters:
        pytest.skip("this Integrator has no overlap_noise option")
    from tdlm.md.energy import Boundary, gradient
    from tdlm.md.layout import Layout

    layout = Layout((6, 5, 5, 2), 6, 1, 3)
    g = torch.Generator().manual_seed(3)
    x = (torch.randint(0, 2, (1, 6, 6), generator=g) * 2 - 1).to(F64)
    y = torch.tensor([[1.0, -1.0]] * 3 + [[-1.0, 1.0]] * 3, dtype=F64).unsqueeze(0)
    boundary = Boundary(x, y)
    start = torch.rand(layout.total, generator=g, dtype=F64) * 2 - 1
    finals = []
    for overlap in (False, True):
        rng = torch.Generator().manual_seed(4)
        state = MDState(start.clone(), maxwell_boltzmann(layout.total, 0.01, rng, F64, CPU), rng)
        integ = Integrator(
            lambda p, out: gradient(p, layout, boundary, out),
            0.05,
            Thermostat.from_params("per_step", 0.1, 0.05, 0.01),
            state.position,
            overlap_noise=overlap,
        )
        for _ in range(50):
            integ.step(state)
        finals.append((state.position.clone(), state.velocity.clone(), state.rng.get_state()))
    assert torch.equal(finals[0][0], finals[1][0]) and torch.equal(finals[0][1], finals[1][1])
    assert torch.equal(finals[0][2], finals[1][2])


def _free_run(
    n: int,
    steps: int,
    workers: int | None,
    split: int | None = None,
    overlap: bool = False,
    noise: str = "gaussian",
    dtype: torch.dtype = F64,
    dt: float = 0.05,
):
    """Free particles at T = 0.3 for `steps` steps; at `split` the state goes through a checkpoint (rng state)."""
    rng = torch.Generator().manual_seed(21)
    state = MDState(torch.zeros(n, dtype=dtype), maxwell_boltzmann(n, 0.3, rng, dtype, CPU), rng)

    def make(s):
        return Integrator(
            no_force,
            dt,
            Thermostat.from_params("per_step", 0.1, dt, 0.3),
            s.position,
            noise_workers=workers,
            overlap_noise=overlap,
            noise=noise,
        )

    integ = make(state)
    for i in range(steps):
        if i == split:
            rng2 = torch.Generator()
            rng2.set_state(state.rng.get_state())
            state = MDState(state.position.clone(), state.velocity.clone(), rng2, state.step)
            integ.close()
            integ = make(state)
        integ.step(state)
    integ.close()
    return state


def test_noise_streams_of_pieces_do_not_depend_on_workers(monkeypatch):
    """Many streams (two per piece of the update): drawn piece by piece (1 worker), ahead by 2 or 3 workers,
    overlapped with the forces, or across a checkpoint split: one trajectory."""
    monkeypatch.setattr("tdlm.md.noise.CPU_CHUNK", 512)
    monkeypatch.setattr("tdlm.md.noise.NOISE_CHUNK", 256)
    n = 256 * 7 + 100
    ref = _free_run(n, 30, workers=1)
    for other in (
        _free_run(n, 30, workers=2),
        _free_run(n, 30, workers=3),
        _free_run(n, 30, workers=2, split=13),
        _free_run(n, 30, workers=1, overlap=True),
    ):
        assert torch.equal(ref.position, other.position) and torch.equal(ref.velocity, other.velocity)
        assert torch.equal(ref.rng.get_state(), other.rng.get_state())


def test_uniform_noise_does_not_depend_on_workers_or_pieces(monkeypatch):
    """The counter-based numbers belong to the coordinates: pieces of the compiled update on 1, 2 or 3
    workers, or across a checkpoint split, give one trajectory (hot: the walls are hit)."""
    monkeypatch.setattr("tdlm.md.noise.CPU_CHUNK", 512)
    n, run = 512 * 5 + 77, functools.partial(_free_run, noise="uniform", dtype=torch.float32, dt=0.5)
    ref = run(n, 40, workers=1)
    assert (ref.position.abs() <= 1).all() and ref.velocity.square().mean() > 0.1
    for other in (run(n, 40, workers=2), run(n, 40, workers=3), run(n, 40, workers=2, split=17)):
        assert torch.equal(ref.position, other.position) and torch.equal(ref.velocity, other.velocity)
        assert torch.equal(ref.rng.get_state(), other.rng.get_state())


def test_noise_streams_of_pieces_are_independent_normals(monkeypatch):
    """The streams' numbers of one step: N(0, 1) each, and uncorrelated between streams and between steps."""
    monkeypatch.setattr("tdlm.md.noise.CPU_CHUNK", 100_000)
    monkeypatch.setattr("tdlm.md.noise.NOISE_CHUNK", 50_000)
    n = 200_000
    rng = torch.Generator().manual_seed(3)
    state = MDState(torch.zeros(n, dtype=F64), torch.zeros(n, dtype=F64), rng)
    integ = Integrator(no_force, 0.0, Thermostat(friction=0.0, noise=1.0), state.position, noise_workers=2)
    integ.step(state)
    first = state.velocity.clone()  # v = xi of step 1 (no friction, dt = 0: no drift, no walls)
    integ.step(state)
    second = state.velocity - first
    tol = 5 / math.sqrt(50_000)
    for xi in (first, second):
        parts = xi.view(4, 50_000)
        assert parts.mean(dim=1).abs().max() < tol
        assert (parts.var(dim=1) - 1).abs().max() < 5 * math.sqrt(2 / 50_000)
        corr = torch.corrcoef(parts)
        assert (corr - torch.eye(4, dtype=F64)).abs().max() < tol
    assert abs(torch.corrcoef(torch.stack([first, second]))[0, 1]) < 5 / math.sqrt(n)
    integ.close()


def test_uniform_numbers_are_uniform_with_unit_variance_and_independent():
    """The counter-based numbers of two step keys: U(-sqrt 3, sqrt 3) each (mean, variance, flat histogram,
    the range), uncorrelated between neighbours and between the keys (steps)."""
    n = 400_000
    a = native.uniform_numbers(0, n, key=12345).double() * native.UNIFORM_SCALE
    b = native.uniform_numbers(0, n, key=12346).double() * native.UNIFORM_SCALE
    tol = 5 / math.sqrt(n)
    for xi in (a, b):
        assert abs(xi.mean().item()) < tol * 1.0
        assert abs(xi.var().item() - 1) < 5 * math.sqrt(0.8 / n)  # var of U^2 is 4/5 for unit variance
        counts = torch.histc(xi, bins=20, min=-math.sqrt(3), max=math.sqrt(3))
        assert ((counts - n / 20).abs() < 5 * math.sqrt(n / 20)).all()
        assert xi.abs().max().item() < math.sqrt(3)
        assert abs(torch.corrcoef(torch.stack([xi[1:], xi[:-1]]))[0, 1]) < tol
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1]) < tol
    # a piece's numbers are those of its coordinates in the whole state
    assert torch.equal(native.uniform_numbers(1000, 50, key=12345), native.uniform_numbers(0, 1050, key=12345)[1000:])


def test_compiled_library_is_built_once_per_host_and_without_a_writable_cache(tmp_path, monkeypatch):
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler: only the torch forms run here")
    monkeypatch.setenv("TDLM_CACHE", str(tmp_path / "cache"))
    assert native.library.__wrapped__() is not None
    (built,) = (tmp_path / "cache").glob("native-*.so")
    stamp = built.stat().st_mtime_ns
    assert native.library.__wrapped__() is not None and built.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TDLM_CACHE", str(tmp_path / "file" / "cache"))  # cannot be created
    assert native.library.__wrapped__() is not None


def test_compiled_uniform_update_equals_its_torch_form():
    """The C pass and its torch form agree bit for bit, walls, NaN and a piece offset included (the
    trajectory does not depend on whether a compiler was found). A machine with `cc` must compile it."""
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler: only the torch form runs here")
    assert native.library() is not None, "cc is there but the compiled pass was not built"
    g = torch.Generator().manual_seed(7)
    n = 10_007
    x = torch.rand(n, generator=g) * 2.4 - 1.2  # beyond both walls too
    v = torch.randn(n, generator=g)
    grad = torch.randn(n, generator=g)
    x[3], v[4] = float("nan"), float("inf")
    args = (777, 2**61 + 12345, 0.999, -0.01, 1e-3 * native.UNIFORM_SCALE, 0.01)
    xc, vc, xt, vt = x.clone(), v.clone(), x.clone(), v.clone()
    native.langevin_uniform_(xc, vc, grad, *args)
    native.langevin_uniform_torch(xt, vt, grad, *args)
    assert torch.equal(xc.nan_to_num(), xt.nan_to_num()) and torch.equal(vc.nan_to_num(), vt.nan_to_num())
    assert torch.isnan(xc[3]) and torch.isnan(xt[3])
    reflected = (x + 0.01 * v).abs() > 1
    assert 0.05 < reflected.double().mean() < 0.5  # the walls were exercised
    inside = torch.isfinite(xc)
    assert (xc[inside].abs() <= 1).all()


def test_noise_source_draws_uniform_numbers_of_unit_variance():
    """The streams' uniform numbers (the CUDA uniform noise; the same code on any device): U(-sqrt 3, sqrt 3)."""
    from tdlm.md.noise import NoiseSource

    source = NoiseSource(torch.zeros(300_000), kind="uniform", workers=1)
    source.draw(torch.Generator().manual_seed(5))
    xi = source.buffer.double()
    assert abs(xi.mean().item()) < 5 / math.sqrt(xi.numel())
    assert abs(xi.var().item() - 1) < 5 * math.sqrt(0.8 / xi.numel())
    assert xi.abs().max().item() <= math.sqrt(3)
    source.close()
