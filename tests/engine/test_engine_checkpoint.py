"""Checksummed checkpoints: a damaged file (flipped bytes, truncated, empty, foreign) is recognised, moved
aside and logged, and the job starts over from t = 0 with the uninterrupted run's result; a checkpoint of
other parameters is still refused; a checkpoint of the code before the run loop's redesign resumes."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from tdlm import device
from tdlm.md import checkpoint
from tdlm.md.params import build
from tdlm.md.simulate import run

PAYLOAD = {"key": "abc", "step": 7, "position": torch.linspace(-1, 1, 1000), "rng": torch.Generator().get_state()}


def _flip(path: Path, offset: int, n: int = 8) -> None:
    raw = bytearray(path.read_bytes())
    for i in range(offset, offset + n):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def _damages(path: Path) -> dict:
    size = path.stat().st_size
    return {
        "flip-digest": lambda: _flip(path, len(checkpoint.MAGIC)),
        "flip-body-start": lambda: _flip(path, len(checkpoint.MAGIC) + checkpoint.DIGEST_BYTES + 64),
        "flip-body-middle": lambda: _flip(path, size // 2),
        "flip-body-end": lambda: _flip(path, size - 40),
        "truncated": lambda: path.write_bytes(path.read_bytes()[: size // 3]),
        "empty": lambda: path.write_bytes(b""),
        "random": lambda: path.write_bytes(np.random.default_rng(0).bytes(size)),
        "old-format": lambda: torch.save(PAYLOAD, path),
    }


def test_round_trip(tmp_path):
    path = tmp_path / "a.ckpt"
    checkpoint.save(path, PAYLOAD)
    back = checkpoint.load(path, "abc")
    assert back["step"] == 7 and torch.equal(back["position"], PAYLOAD["position"])
    assert torch.equal(back["rng"], PAYLOAD["rng"])


DAMAGES = ("flip-digest", "flip-body-start", "flip-body-middle", "flip-body-end", "truncated", "empty", "random", "old-format")


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_checkpoint_is_moved_aside_and_named(damage, tmp_path, caplog):
    path = tmp_path / "a.ckpt"
    checkpoint.save(path, PAYLOAD)
    _damages(path)[damage]()
    with pytest.raises(checkpoint.CheckpointDamaged, match=str(path)):
        checkpoint.read(path)
    with caplog.at_level(logging.WARNING, logger="tdlm"):
        assert checkpoint.load(path, "abc") is None
    assert not path.exists() and (tmp_path / "a.ckpt.damaged").exists()
    assert str(path) in caplog.text and "starting over from t = 0" in caplog.text


def test_other_parameters_are_still_refused(tmp_path):
    path = tmp_path / "a.ckpt"
    checkpoint.save(path, PAYLOAD)
    with pytest.raises(checkpoint.CheckpointMismatch, match="different parameters"):
        checkpoint.load(path, "other")
    assert path.exists()


@pytest.fixture(scope="module")
def reference_and_checkpoint(tmp_path_factory):
    """An uninterrupted tiny run, and a copy of one of its checkpoints from the branched phase."""
    folder = tmp_path_factory.mktemp("ckpt")
    params = build(
        {"M": 20, "N": 4, "L": 3, "t_w": [5, 20], "t_star": 60, "n_replicas": 3, "device": "cpu", "checkpoint_steps": 10}
    )
    saved = folder / "saved.ckpt"
    original_save = checkpoint.save

    def keep_one(path, payload):
        original_save(path, payload)
        if payload["phase"] == "branch" and not saved.exists():
            shutil.copy(path, saved)

    checkpoint.save = keep_one
    try:
        run(params, folder / "reference.nc")
    finally:
        checkpoint.save = original_save
    assert saved.exists()
    return params, folder / "reference.nc", saved


@pytest.mark.parametrize("damage", ["flip-body-middle", "truncated", "empty"])
def test_a_rerun_over_a_damaged_checkpoint_heals(damage, reference_and_checkpoint, tmp_path, load_nc, assert_same_output, caplog):
    params, reference, saved = reference_and_checkpoint
    out = tmp_path / "job.nc"
    ckpt = tmp_path / "job.nc.ckpt"
    shutil.copy(saved, ckpt)
    _damages(ckpt)[damage]()
    with caplog.at_level(logging.INFO, logger="tdlm"):
        run(params, out)
    assert "starting over from t = 0" in caplog.text and "resumed from" not in caplog.text
    assert_same_output(load_nc(out), load_nc(reference), ignore_attrs=("wall_time_s", "steps_per_second"))
    assert not ckpt.exists()


def test_an_intact_checkpoint_still_resumes(reference_and_checkpoint, tmp_path, load_nc, assert_same_output, caplog):
    params, reference, saved = reference_and_checkpoint
    out = tmp_path / "job.nc"
    shutil.copy(saved, tmp_path / "job.nc.ckpt")
    with caplog.at_level(logging.INFO, logger="tdlm"):
        run(params, out)
    assert "resumed from" in caplog.text
    assert_same_output(load_nc(out), load_nc(reference), ignore_attrs=("wall_time_s", "steps_per_second"))
    assert os.listdir(tmp_path) == ["job.nc"]


CUDA_RECORD = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "device_capability": "9.0"}
OTHER_CPU = {"device": "cpu", "device_name": "Some Other CPU @ 2.0GHz", "device_capability": "none"}


def _rewritten(saved: Path, path: Path, **changes) -> bytes:
    """A copy of `saved` at `path` with payload entries replaced (a checkpoint as another device writes it)."""
    payload = checkpoint.read(saved)
    payload.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del payload[key]
    checkpoint.save(path, payload)
    return path.read_bytes()


CUDA_RNG = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator state: Philox seed and offset


@pytest.mark.parametrize("recorded", [True, False], ids=["device-recorded", "written-before-devices-were-recorded"])
def test_a_checkpoint_of_another_device_type_is_refused_by_name(recorded, reference_and_checkpoint, tmp_path, capsys):
    """A CUDA checkpoint met by a CPU run: exit 2 with the way out, checkpoint untouched, nothing written."""
    from tdlm import cli
    from tdlm.md.params import FIELDS

    params, _, saved = reference_and_checkpoint
    out, ckpt = tmp_path / "job.nc", tmp_path / "job.nc.ckpt"
    before = _rewritten(saved, ckpt, devices=[CUDA_RECORD] if recorded else None, rng=CUDA_RNG)
    with pytest.raises(checkpoint.CheckpointDeviceMismatch, match="--device cuda" if recorded else "generator state"):
        run(params, out)
    assert cli.main(["simulate", "--out", str(out), *shlex.split(FIELDS.to_flags(params.flat()))]) == 2
    err = capsys.readouterr().err
    assert str(ckpt) in err and "delete it to start this job over on cpu" in err and "Traceback" not in err, err
    assert ckpt.read_bytes() == before and not out.exists()


def test_a_resume_on_another_model_warns_and_is_recorded(reference_and_checkpoint, tmp_path, load_nc, caplog):
    """Same device type, another model: resumed with a warning; the output lists both devices (here the
    same CPU computed both parts, so the numbers equal the uninterrupted run's)."""
    params, reference, saved = reference_and_checkpoint
    out = tmp_path / "job.nc"
    _rewritten(saved, tmp_path / "job.nc.ckpt", devices=[OTHER_CPU])
    with caplog.at_level(logging.INFO, logger="tdlm"):
        run(params, out)
    assert "resumed from" in caplog.text and "Some Other CPU" in caplog.text and "may continue differently" in caplog.text
    resumed, uninterrupted = load_nc(out), load_nc(reference)
    devices = json.loads(resumed.attrs["devices_json"])
    assert devices == [OTHER_CPU, json.loads(uninterrupted.attrs["devices_json"])[0]]
    assert resumed.attrs["device_name"] == devices[-1]["device_name"] != OTHER_CPU["device_name"]
    xr.testing.assert_identical(resumed.drop_attrs(deep=False), uninterrupted.drop_attrs(deep=False))


EARLIER = Path(__file__).parent / "data"  # checkpoints written by 8838e78 (before the run loop's redesign)


@pytest.mark.parametrize("phase, step", [("wait", 10), ("branch", 30)])
def test_a_checkpoint_of_the_earlier_code_resumes(phase, step, tiny, tiny_run, tmp_path, load_nc, assert_same_output, caplog):
    """The tiny job as 8838e78 checkpointed it (checkpoint_steps 10, stopped after the checkpoint at `step` of
    `phase`) resumes with this code to the uninterrupted run's output: bit for bit on the CPU model that wrote it
    (tdlm.md.checkpoint: another model continues a different, equally valid trajectory), close elsewhere."""
    fixture = EARLIER / f"tiny_8838e78_{phase}.ckpt"
    out = tmp_path / "job.nc"
    shutil.copy(fixture, tmp_path / "job.nc.ckpt")
    with caplog.at_level(logging.INFO, logger="tdlm"):
        run(build({**tiny, "checkpoint_steps": 10}), out)
    assert f"phase {phase}, step {step}" in caplog.text
    resumed, reference = load_nc(out), load_nc(tiny_run[1])
    # a variable added after 8838e78 is missing from the records the checkpoint carries: NaN at the branch
    # times before the resume (none when it resumes in the wait phase), recorded from then on
    later = ["q_test_tanh"]
    for name in later:
        got, want = resumed[name], reference[name]
        unrecorded = (got.isnull() & want.notnull()).any([d for d in got.dims if d != "t"]).values
        assert unrecorded.any() == (phase == "branch"), name
        assert not np.any(np.diff(unrecorded.astype(int)) > 0), f"{name}: unrecorded times must come first"
        resumed[name] = got.where(got.notnull(), want)
    if checkpoint.read(fixture)["devices"] == [device.describe(torch.device("cpu"))]:
        assert_same_output(resumed, reference, ignore_attrs=("param_checkpoint_steps", "params_json"))
    else:
        for name, values in reference.data_vars.items():
            np.testing.assert_allclose(resumed[name].values, values.values, rtol=1e-3, atol=1e-4, err_msg=name)
