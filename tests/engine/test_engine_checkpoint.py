"""Checksummed checkpoints: a damaged file (flipped bytes, truncated, empty, foreign) is recognised, moved
aside and logged, and the job starts over from t = 0 with the uninterrupted run's result; a checkpoint of
other parameters is still refused."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

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
