"""Same parameters and seed -> bit-identical output; samples are independent of how jobs are packed."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from tdlm.md.params import build
from tdlm.md.simulate import run


def test_same_seed_is_bit_identical(tiny, tiny_run, tmp_path, load_nc, assert_same_output):
    params, first = tiny_run
    assert build(tiny) == params
    run(build(tiny), tmp_path / "again.nc")
    a, b = load_nc(first), load_nc(tmp_path / "again.nc")
    assert_same_output(a, b)
    for name in ("energy", "c", "Q", "J_final", "S_final"):
        assert name in a.data_vars


def test_other_seed_differs(tiny, tiny_run, tmp_path, load_nc):
    _, first = tiny_run
    run(build({**tiny, "seed": tiny["seed"] + 1}), tmp_path / "other.nc")
    a, b = load_nc(first), load_nc(tmp_path / "other.nc")
    for name in ("history_energy", "energy", "J_final", "train_index"):
        assert not np.array_equal(a[name].values, b[name].values), name
    assert a.attrs["data_seeds"] != b.attrs["data_seeds"] and a.attrs["noise_seed"] != b.attrs["noise_seed"]


def test_sample_does_not_depend_on_its_job_mates(tiny, tmp_path, load_nc):
    run(build({**tiny, "samples": [1]}), tmp_path / "alone.nc")
    run(build({**tiny, "samples": [0, 1]}), tmp_path / "shared.nc")
    alone, shared = load_nc(tmp_path / "alone.nc"), load_nc(tmp_path / "shared.nc")
    assert list(shared["sample"].values) == [0, 1]
    one, mate = alone.sel(sample=1), shared.sel(sample=1)
    np.testing.assert_array_equal(one["train_index"].values, mate["train_index"].values)
    np.testing.assert_array_equal(one["test_index"].values, mate["test_index"].values)
    # same initial state: the energy before any MD step is the same (up to the product's rounding)
    e_alone = one["history_energy_layer"].sel(history_time=0).values
    e_shared = mate["history_energy_layer"].sel(history_time=0).values
    np.testing.assert_allclose(e_alone, e_shared, rtol=1e-6, atol=0)
    # and sample 0 is a different draw
    assert not np.array_equal(shared.sel(sample=0)["train_index"].values, mate["train_index"].values)
    assert not np.allclose(shared["history_energy_layer"].sel(sample=0, history_time=0).values, e_shared)


def test_run_in_a_worker_thread_gives_the_same_output(tiny, tiny_run, tmp_path, load_nc, assert_same_output):
    _, first = tiny_run
    errors: list[BaseException] = []

    def job() -> None:
        torch.set_num_threads(1)
        try:
            run(build(tiny), tmp_path / "thread.nc")
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(e)

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    assert_same_output(load_nc(tmp_path / "thread.nc"), load_nc(first))


class _Stop(RuntimeError):
    pass


def test_uniform_noise_run_is_bit_identical_and_resumes_exactly(tiny, tmp_path, load_nc, assert_same_output, monkeypatch):
    """noise: uniform (the compiled CPU update): the same seed gives the same output, the Gaussian noise another
    trajectory, and a run stopped after a checkpoint and started again gives the uninterrupted output."""
    from tdlm.md import checkpoint

    params = build({**tiny, "noise": "uniform", "dtype": "float32", "checkpoint_steps": 10})
    run(params, tmp_path / "a.nc")
    run(params, tmp_path / "b.nc")
    a = load_nc(tmp_path / "a.nc")
    assert_same_output(a, load_nc(tmp_path / "b.nc"))
    assert a.attrs["param_noise"] == "uniform" and "SplitMix64" in a.attrs["noise"]
    run(build({**tiny, "dtype": "float32"}), tmp_path / "gauss.nc")
    assert not np.array_equal(a["J_final"].values, load_nc(tmp_path / "gauss.nc")["J_final"].values)

    save, saves = checkpoint.save, []

    def save_then_stop(path, payload):
        save(path, payload)
        saves.append(payload["step"])
        if len(saves) == 4:  # in the branched phase of the tiny job (t_w = 5, 20)
            raise _Stop

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(_Stop):
        run(params, tmp_path / "resumed.nc")
    monkeypatch.setattr(checkpoint, "save", save)
    assert (tmp_path / "resumed.nc.ckpt").exists()
    run(params, tmp_path / "resumed.nc")
    assert_same_output(a, load_nc(tmp_path / "resumed.nc"))
