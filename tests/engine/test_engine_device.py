"""Device choice and the CUDA-graph failure path, on the CPU (the CUDA halves are in test_engine_cuda.py).

`auto` in a job that was given GPUs CUDA cannot use is a named error for both families (exit 2, no
output), never a silent CPU run; a SLURM job given no GPU keeps off the GPUs it can see. A CUDA-graph
capture that fails ends the job with a named error that says to set `cuda_graph: false`, keeps the last
checkpoint, and the rerun without the graph resumes from it to the uninterrupted run's numbers.
"""

from __future__ import annotations

import logging
import shlex

import pytest
import torch

from tdlm import cli
from tdlm.device import given_gpus, resolve_device
from tdlm.fields import ConfigError
from tdlm.md import cuda_graph
from tdlm.md.cuda_graph import CaptureFailed, GraphedStep
from tdlm.md.params import FIELDS
from tdlm.md.run import Runner
from tdlm.md.state import MDState

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour where CUDA is unavailable")


@pytest.mark.parametrize(
    "env, given",
    [
        ({}, {}),
        ({"CUDA_VISIBLE_DEVICES": ""}, {}),
        ({"CUDA_VISIBLE_DEVICES": "-1", "SLURM_GPUS_ON_NODE": "0"}, {}),
        ({"SLURM_JOB_GPUS": "3"}, {"SLURM_JOB_GPUS": "3"}),
        ({"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_ID": "7"}, {"CUDA_VISIBLE_DEVICES": "0,1"}),
    ],
)
def test_given_gpus_reads_what_slurm_and_the_user_assign(env, given):
    assert given_gpus(env) == given


@NO_CUDA
@pytest.mark.parametrize("env", [{"SLURM_JOB_ID": "7", "SLURM_JOB_GPUS": "0"}, {"CUDA_VISIBLE_DEVICES": "GPU-5f1c"}])
def test_auto_in_a_job_given_gpus_without_cuda_is_a_named_error(env):
    with pytest.raises(ConfigError, match=r"device: got 'auto' in a job that was given GPUs") as err:
        resolve_device("auto", env=env)
    name, value = next(iter(given_gpus(env).items()))
    assert f"{name}={value}" in str(err.value) and "--device cpu" in str(err.value)
    assert "CPU-only build" in str(err.value) or "cannot start CUDA" in str(err.value) or "no CUDA device" in str(err.value)


@NO_CUDA
def test_auto_without_gpus_and_explicit_devices(caplog):
    assert resolve_device("auto", env={}) == torch.device("cpu")
    assert resolve_device("auto", env={"SLURM_JOB_ID": "7"}) == torch.device("cpu")
    with caplog.at_level(logging.WARNING, logger="tdlm"):
        assert resolve_device("cpu", env={"SLURM_JOB_ID": "7", "SLURM_JOB_GPUS": "0"}) == torch.device("cpu")
    assert "they stay unused" in caplog.text
    with pytest.raises(ConfigError, match="device: got 'cuda' but CUDA is unavailable"):
        resolve_device("cuda", env={})


def test_a_slurm_job_given_no_gpu_keeps_off_visible_gpus(monkeypatch, caplog):
    """Nodes that do not fence devices let every job see every GPU; auto takes one only if it was given one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with caplog.at_level(logging.WARNING, logger="tdlm"):
        assert resolve_device("auto", env={"SLURM_JOB_ID": "7"}) == torch.device("cpu")
    assert "given no GPU" in caplog.text
    assert resolve_device("auto", env={"SLURM_JOB_ID": "7", "SLURM_JOB_GPUS": "1"}) == torch.device("cuda")
    assert resolve_device("auto", env={}) == torch.device("cuda")


@NO_CUDA
@pytest.mark.parametrize("family", ["simulate", "binary-simulate"])
def test_both_families_refuse_auto_in_a_gpu_job_without_cuda(family, tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_JOB_GPUS", "0")
    out = tmp_path / "job.nc"
    flags = shlex.split(FIELDS.to_flags({**tiny, "device": "auto"})) if family == "simulate" else ["--device", "auto"]
    assert cli.main([family, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert "device: got 'auto' in a job that was given GPUs (SLURM_JOB_GPUS=0)" in err and "Traceback" not in err, err
    assert not out.exists()


# ------------------------------------------------------------------------------------------ capture failure

CAPTURE_ERROR = "CUDA error: operation not permitted when stream is capturing"


@pytest.fixture
def failing_capture(monkeypatch):
    """GraphedStep on the CPU: warm-up steps eager, the capture raising as a CUDA-level failure does."""

    def capture(self, state, key):
        raise RuntimeError(CAPTURE_ERROR)

    monkeypatch.setattr(GraphedStep, "_warm_up", lambda self, state: self._step(state))
    monkeypatch.setattr(GraphedStep, "_capture_and_replay", capture)


def test_a_failed_capture_raises_by_name_and_never_steps_again(failing_capture):
    calls = []

    def step(state: MDState) -> torch.Tensor:
        calls.append(state.step)
        return torch.zeros(2)

    graphed = GraphedStep(step)
    state = MDState(torch.zeros(3), torch.zeros(3), torch.Generator(), 0)
    for _ in range(cuda_graph.GRAPH_WARMUP_STEPS):
        graphed(state)
    for _ in range(2):  # the failed capture, then any later call: the same named error, no eager step
        with pytest.raises(CaptureFailed, match=r"set cuda_graph: false \(--cuda-graph false\)") as err:
            graphed(state)
        assert CAPTURE_ERROR in str(err.value)
    assert len(calls) == cuda_graph.GRAPH_WARMUP_STEPS and not graphed.active


def test_a_failed_capture_ends_the_job_and_the_rerun_resumes(
    failing_capture, tiny_run, tmp_path, monkeypatch, capsys, caplog, load_nc, assert_same_output
):
    """The graph of the branch phase fails to capture: exit 2 with one named error line (no traceback, no
    second error), the wait phase's checkpoint kept; `--cuda-graph false` resumes it to the numbers of the
    uninterrupted run (tiny_run)."""
    params, reference = tiny_run
    out, ckpt = tmp_path / "job.nc", tmp_path / "job.nc.ckpt"
    real = Runner._integrator

    def graphed_in_branch_phase(self, layout, like):
        integrator = real(self, layout, like)
        if layout.K > 1:  # as on CUDA with cuda_graph: true
            integrator._graphed = GraphedStep(integrator._eager)
        return integrator

    monkeypatch.setattr(Runner, "_integrator", graphed_in_branch_phase)

    def flags(graph: bool) -> list[str]:
        return shlex.split(FIELDS.to_flags(dict(params.flat(), checkpoint_steps=10, cuda_graph=graph)))

    assert cli.main(["simulate", "--out", str(out), *flags(True)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "set cuda_graph: false" in err, err
    assert err.startswith("tdlm simulate: error: cuda_graph:") and CAPTURE_ERROR in err
    assert ckpt.exists() and not out.exists()

    monkeypatch.setattr(Runner, "_integrator", real)
    with caplog.at_level(logging.INFO, logger="tdlm"):
        assert cli.main(["simulate", "--out", str(out), *flags(False)]) == 0
    assert "resumed from" in caplog.text and "phase wait, step 20" in caplog.text
    assert_same_output(load_nc(out), load_nc(reference), ignore_attrs=("param_checkpoint_steps", "params_json"))
