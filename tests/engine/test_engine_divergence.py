"""Non-finite energies stop a job with Divergence naming the step and the layer; the CLI exits 3."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tdlm.data
from tdlm import cli
from tdlm.md.checks import Divergence
from tdlm.md.params import build
from tdlm.md.simulate import run


def _poison(fn, col: int = 0):
    """Wrap a data function (applied to the whole pool) so that one column of its result is NaN."""

    def poisoned(*args, **kwargs):
        out = np.array(fn(*args, **kwargs), dtype=np.float64)
        out[:, col] = np.nan
        return out

    return poisoned


def _step_and_layer(message: str) -> tuple[int, int]:
    step = re.search(r"step (\d+)", message)
    layer = re.search(r"layer (\d+)", message)
    assert step, f"no step in {message!r}"
    assert layer, f"no layer in {message!r}"
    return int(step.group(1)), int(layer.group(1))


def _assert_nothing_written(folder):
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []


def test_nan_in_labels_is_caught_in_the_output_layer(tiny, tmp_path, monkeypatch):
    """Labels enter only E_L, so the first (and only) bad layer is L, already at t = 0."""
    monkeypatch.setattr(tdlm.data, "one_hot", _poison(tdlm.data.one_hot))
    with pytest.raises(Divergence) as err:
        run(build(tiny), tmp_path / "job.nc")
    assert _step_and_layer(str(err.value)) == (0, tiny["L"])
    _assert_nothing_written(tmp_path)


def test_nan_in_inputs_is_caught_in_layer_1(tiny, tmp_path, monkeypatch):
    """Inputs enter only E_1."""
    monkeypatch.setattr(tdlm.data, "binarise", _poison(tdlm.data.binarise))
    with pytest.raises(Divergence) as err:
        run(build(tiny), tmp_path / "job.nc")
    assert _step_and_layer(str(err.value)) == (0, 1)
    _assert_nothing_written(tmp_path)


HUGE_DT = {"dt": 1e30, "dtype": "float32"}  # the first drift overflows float32: positions become +/-inf


def test_huge_time_step_diverges_at_the_first_steps(tiny, tmp_path):
    params = build({**tiny, **HUGE_DT, "checkpoint_steps": 0, "checkpoint_seconds": 0})
    with pytest.raises(Divergence) as err:
        run(params, tmp_path / "job.nc")
    step, layer = _step_and_layer(str(err.value))
    assert 1 <= step <= 2  # t = 0 is finite (uniform start), one step of dt = 1e30 is not
    assert 1 <= layer <= tiny["L"]
    _assert_nothing_written(tmp_path)


def test_divergence_found_at_checkpoint_time_names_the_layer(tiny, tmp_path):
    params = build({**tiny, **HUGE_DT, "checkpoint_steps": 1})
    with pytest.raises(Divergence) as err:
        run(params, tmp_path / "job.nc")
    step, layer = _step_and_layer(str(err.value))
    assert 1 <= layer <= tiny["L"]


def test_cli_exit_code_3(tiny, tmp_path, capsys):
    out = tmp_path / "job.nc"
    flags = "--M 20 --N 4 --L 3 --t-w 5 20 --t-star 60 --n-replicas 3 --device cpu --dt 1e30 --dtype float32"
    argv = ["simulate", "--out", str(out), *flags.split()]
    assert cli.main(argv) == cli.EXIT_DIVERGED == 3
    err = capsys.readouterr().err
    assert "diverged" in err and re.search(r"step \d+", err)
    _assert_nothing_written(tmp_path)


# --- coordinates that leave the box, observables out of their range ----------------------------------

BOX_ESCAPES = {
    # a time step of the order of the box: the one fold per step of the walls cannot bring it back
    "dt = 1": {"dt": 1.0},
    # thermal velocities ~ sqrt(T) = 100: a step of dt v ~ 1-3
    "T = 1e4": {"T": 1e4},
    # friction ~ 1 and T = 1e36: velocities ~ 1e18 from the first step
    "eta ~ 1, T = 1e36": {"eta": 0.999999, "T": 1e36},
}


@pytest.mark.parametrize("case", list(BOX_ESCAPES))
def test_coordinate_out_of_the_box_is_a_named_divergence(case, tmp_path, capsys):
    """Once the walls let a coordinate out, the run stops with exit 3 naming the step, the block and |x|;
    nothing is written (before this check such runs exited 0 with |J| ~ 3e4 and q up to 897)."""
    out = tmp_path / "job.nc"
    flags = "--M 20 --N 4 --L 3 --t-w 10 100 --t-star 2000 --n-replicas 2 --n-test 50 --device cpu".split()
    for key, value in BOX_ESCAPES[case].items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    assert cli.main(["simulate", "--out", str(out), *flags]) == cli.EXIT_DIVERGED
    err = capsys.readouterr().err
    assert "coordinate out of the box" in err, err
    step, layer = _step_and_layer(err)
    assert step >= 1 and 1 <= layer <= 3
    assert re.search(r"\|x\| = [0-9.e+]+ > 1", err)
    _assert_nothing_written(tmp_path)


def test_observables_beyond_their_physical_range_are_refused():
    import torch

    from tdlm.md.checks import check_observables as _check_observables

    fine = {"q_norm": torch.tensor([[[0.5, 1.0 + 1e-6, float("nan")]]]), "kinetic_temperature": torch.tensor([1e-5])}
    _check_observables(7, fine)  # rounding above 1 and NaN padding are no error
    with pytest.raises(Divergence, match=r"q out of its physical range at step 7 in layer 2: \|q\| = 897 > 1"):
        _check_observables(7, {"q": torch.tensor([[[0.2, 897.0, float("nan")]]])})
    with pytest.raises(Divergence, match=r"C_norm out of its physical range at step 3 in layer 1"):
        _check_observables(3, {"C_norm": torch.tensor([[-1.5, 0.2]])})
    with pytest.raises(Divergence, match=r"non-finite kinetic temperature at step 9"):
        _check_observables(9, {"kinetic_temperature": torch.tensor([float("inf")])})
