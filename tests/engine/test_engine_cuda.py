"""The CUDA path (skipped without a CUDA device): forces against autograd, determinism across a
checkpoint split, and the CUDA-graph step bit for bit equal to the eager one; then the job path,
`tdlm simulate --device cuda` with and without the graph: setup, records, observables, a real checkpoint
with a CUDA generator state, the graph across the wait -> branch change, a SIGTERM in the branch phase and
the resume, compared bit for bit with an uninterrupted run; a float64 job; and a capture that fails at the
CUDA level (a host sync inside the captured step), which must end the job by name, without a second crash.

benchmarks/gpu_smoke.sh runs this file on the first GPU available and reports."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_engine_forces import CASES, LAYOUTS, _transposed, analytic, autograd_reference, random_case, rel_err

from tdlm import cli
from tdlm.md import checkpoint, run, signals
from tdlm.md.energy import Boundary, ForceField
from tdlm.md.integrate import Integrator, Thermostat, maxwell_boltzmann
from tdlm.md.layout import Layout
from tdlm.md.params import FIELDS, build
from tdlm.md.setup import log_grid
from tdlm.md.simulate import run as simulate
from tdlm.md.state import MDState

from helpers.workflow import subprocess_env

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


# ------------------------------------------------------------------------------------------ the job path

# the engine tests' tiny job (conftest.TINY) with a longer branch phase, checkpoints every 10 steps
JOB = {"M": 20, "N": 4, "L": 3, "t_w": [5, 20], "t_star": 200, "n_replicas": 3, "seed": 11, "checkpoint_steps": 10}
BOOKKEEPING = ("param_checkpoint_steps", "params_json")


def _flags(**values) -> list[str]:
    return shlex.split(FIELDS.to_flags({**JOB, "device": "cuda", **values}))


def _interrupted_in_branch_phase(out: Path, monkeypatch, **values) -> dict:
    """`tdlm simulate` SIGTERMed (a real signal, to this process) while it records the branch phase at
    t >= 20, then the checkpoint it wrote; the signal handler of the run is checked to be installed first."""
    times = log_grid(JOB["t_star"], 10)
    stop_at = int((times >= 20).argmax())  # the record index at which the signal comes
    real, calls = run.measure_branches, []

    def measure_then_signal(*args, **kwargs):
        measured = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == stop_at + 1:
            handler = signal.getsignal(signal.SIGTERM)
            assert getattr(handler, "__func__", None) is signals.SignalGuard._request_stop, "no stop handler installed"
            signal.raise_signal(signal.SIGTERM)
        return measured

    monkeypatch.setattr(run, "measure_branches", measure_then_signal)
    assert cli.main(["simulate", "--out", str(out), *_flags(**values)]) == 128 + signal.SIGTERM
    monkeypatch.setattr(run, "measure_branches", real)
    payload = checkpoint.read(out.with_name(out.name + ".ckpt"))
    assert payload["phase"] == "branch" and payload["step"] == times[stop_at] + 1 and not out.exists()
    return payload


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """Uninterrupted CUDA jobs, eager and graphed."""
    folder = tmp_path_factory.mktemp("cuda-jobs")
    outs = {}
    for graph in (False, True):
        outs[graph] = folder / f"graph-{graph}.nc"
        simulate(build({**JOB, "device": "cuda", "cuda_graph": graph}), outs[graph])
    return outs


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "cuda-graph"])
def test_cuda_job_sigterm_in_branch_phase_then_resume_is_bit_identical(
    graph, uninterrupted, tmp_path, monkeypatch, load_nc, assert_same_output
):
    out = tmp_path / "job.nc"
    payload = _interrupted_in_branch_phase(out, monkeypatch, cuda_graph=graph)
    assert payload["rng"].numel() == 16, "a CUDA generator state (Philox seed and offset)"
    here = {
        "device": "cuda",
        "device_name": torch.cuda.get_device_name(),
        "device_capability": "{}.{}".format(*torch.cuda.get_device_capability()),
    }
    assert payload["devices"] == [here] and payload["graph_replayed"] == graph
    assert cli.main(["simulate", "--out", str(out), *_flags(cuda_graph=graph, checkpoint_steps=1000)]) == 0
    resumed, reference = load_nc(out), load_nc(uninterrupted[graph])
    assert_same_output(resumed, reference, ignore_attrs=BOOKKEEPING)
    a = resumed.attrs
    assert (a["device"], a["device_name"], a["device_capability"]) == tuple(here.values())
    assert json.loads(a["devices_json"]) == [here] and a["tf32"] == "false"
    assert a["cuda_graph_replayed"] == ("true" if graph else "false")
    assert a["cuda_version"] == torch.version.cuda


def test_graphed_job_equals_eager_job(uninterrupted, load_nc):
    """The graph across both phases (wait, then the branched state's new tensors) draws the eager numbers."""
    eager, graphed = load_nc(uninterrupted[False]), load_nc(uninterrupted[True])
    assert graphed.attrs["cuda_graph_replayed"] == "true"
    import xarray as xr

    xr.testing.assert_identical(eager.drop_attrs(deep=False), graphed.drop_attrs(deep=False))
    assert bool(eager["energy"].notnull().all()) and float(abs(eager["q"]).max()) <= 1.0


def test_float64_cuda_job(tmp_path, load_nc):
    """float64 state on CUDA, with the graph: finite records, float64 data, and the eager numbers."""
    outs = {graph: tmp_path / f"f64-{graph}.nc" for graph in (False, True)}
    for graph, out in outs.items():
        simulate(build({**JOB, "device": "cuda", "dtype": "float64", "cuda_graph": graph, "t_star": 60}), out)
    eager, graphed = load_nc(outs[False]), load_nc(outs[True])
    assert eager["J_final"].dtype == "float64" and eager["energy"].dtype == "float64"
    assert bool(eager["energy"].notnull().all()) and bool(eager["kinetic_temperature"].notnull().all())
    import xarray as xr

    xr.testing.assert_identical(eager.drop_attrs(deep=False), graphed.drop_attrs(deep=False))


FAILING_CAPTURE = textwrap.dedent(
    """
    import sys
    import torch
    from tdlm import cli
    from tdlm.md import run

    real = run.force_field

    def syncing(layout, boundary, dtype, device, **options):
        forces = real(layout, boundary, dtype, device, **options)
        if layout.K == 1:
            return forces

        def with_host_sync(position, out):
            energies = forces(position, out)
            energies.sum().item()  # a host sync: not allowed while a stream is capturing
            return energies

        return with_host_sync

    run.force_field = syncing
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_a_capture_that_fails_at_the_cuda_level_ends_the_job_by_name(uninterrupted, tmp_path, load_nc, assert_same_output):
    """The branch phase's capture fails inside CUDA (a host sync in the step): exit 2 with one named error line,
    no traceback and no second error (torch's capture state is never touched again); the wait phase's
    checkpoint is kept, and the rerun with cuda_graph false resumes it to the uninterrupted numbers."""
    out = tmp_path / "job.nc"
    argv = ["simulate", "--out", str(out), *_flags(cuda_graph=True)]
    proc = subprocess.run(
        [sys.executable, "-c", FAILING_CAPTURE, *argv], env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower() and "tdlm simulate" in ln]
    assert len(lines) == 1 and "set cuda_graph: false" in lines[0] and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert checkpoint.read(out.with_name(out.name + ".ckpt"))["phase"] == "wait" and not out.exists()
    assert cli.main(["simulate", "--out", str(out), *_flags(cuda_graph=False)]) == 0
    # the wait phase was replayed from a graph before the failure: cuda_graph_replayed says so
    ignore = (*BOOKKEEPING, "param_cuda_graph", "cuda_graph_replayed")
    assert_same_output(load_nc(out), load_nc(uninterrupted[False]), ignore_attrs=ignore)
