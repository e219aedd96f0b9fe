"""The one table of variables (tdlm.variables) and of modelling choices (tdlm.md.params): the job writer,
the gather, the range checks and docs/model.md all follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import xarray as xr

from tdlm.files import FileError
from tdlm.md import params as simulate
from tdlm.md.checks import Divergence, check_observables
from tdlm.md.simulate import run
from tdlm.sweep.classify import check_range
from tdlm.sweep.gather import gather_point
from tdlm.variables import BY_NAME, JOB_COORD_ATTRS, LEFT, PAIRS, REPLICAS, UNIT, VARIABLES, bounded, markdown

REPO = Path(__file__).resolve().parents[1]
MODEL = (REPO / "docs" / "model.md").read_text()
GENERATED = (
    r"<!-- generated from {}; tests/test_storage_variables.py fails when it differs -->\n(.*?)\n<!-- end of generated table -->"
)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """(parameters, path) of one small job with every variable (spins stored)."""
    params = simulate.build({"M": 20, "N": 4, "L": 3, "t_w": [5], "t_star": 40, "n_replicas": 3, "samples": [0, 1]})
    out = tmp_path_factory.mktemp("job") / "job~0.nc"
    run(params, out)
    return params, out


@pytest.mark.parametrize(
    ("source", "generate"),
    [("tdlm.variables.markdown()", markdown), ("tdlm.md.params.choices_markdown()", simulate.choices_markdown)],
)
def test_model_md_tables_are_the_generated_ones(source, generate):
    found = re.search(GENERATED.format(re.escape(source)), MODEL, re.S)
    assert found, f"docs/model.md: no table generated from {source}"
    assert found.group(1) == generate(), f"docs/model.md: paste the output of {source}"


def test_the_job_file_holds_the_table(job):
    params, path = job
    ds = xr.load_dataset(path)
    assert list(ds.data_vars) and set(ds.data_vars) == set(BY_NAME)
    for v in VARIABLES:
        assert ds[v.name].dims == v.dims, v.name
        assert (ds[v.name].attrs["long_name"], ds[v.name].attrs["units"]) == (v.long_name, v.units), v.name
    for name, attrs in JOB_COORD_ATTRS.items():
        assert {k: ds[name].attrs[k] for k in attrs} == attrs, name
    # the modelling choices: every fixed one and every choice field's value, in the words of the field table
    choices = params.choices()
    assert set(simulate.FIXED_CHOICES) < set(choices) and {"noise", "thermostat", "init_velocities"} < set(choices)
    assert {k: ds.attrs[k] for k in choices} == choices
    assert ds.attrs["thermostat"] == simulate.FIELDS.by_name["thermostat"].choice["per_step"]


def test_a_recorded_divergence_names_the_choices_too(tmp_path):
    params = simulate.build({"M": 20, "N": 4, "L": 3, "t_w": [5], "t_star": 200, "n_replicas": 2, "dt": 1.0})
    run(params, tmp_path / "job.nc", record_divergence=True)
    ds = xr.load_dataset(tmp_path / "job.nc")
    assert ds.attrs["diverged"] == 1 and not ds.data_vars
    assert {k: ds.attrs[k] for k in params.choices()} == params.choices()


def test_choices_follow_the_parameters():
    literal = simulate.build({"thermostat": "literal", "noise": "uniform"}).choices()
    fields = simulate.FIELDS.by_name
    assert literal["thermostat"] == fields["thermostat"].choice["literal"] != fields["thermostat"].choice["per_step"]
    assert literal["noise"] == fields["noise"].choice["uniform"]
    for f in simulate.FIELDS:  # every value a choice field allows has its words
        if f.choice:
            assert set(f.choice) == set(f.rule.schema["enum"]), f.name


def test_the_gather_reduces_as_the_table_says(job, tmp_path):
    _, path = job
    point = gather_point([path], tmp_path / "point.nc")
    assert set(point.data_vars) == {v.name for v in VARIABLES if v.gather != LEFT}
    reduced = {REPLICAS: "replica", PAIRS: "pair"}
    for v in VARIABLES:
        if v.gather != LEFT:
            expected = ("alpha", "L", "T") + tuple(d for d in v.dims if d != reduced.get(v.gather))
            assert point[v.name].dims == expected, v.name
            assert point[v.name].attrs["long_name"] == v.long_name


def test_every_bound_of_the_table_is_checked():
    names = [v.name for v in bounded()]
    assert {"q_norm", "Q", "c", "kinetic_temperature"} <= set(names)
    for v in bounded():
        if v.gather == LEFT:  # the final coordinates: tdlm.md.checks.check_positions (tests/engine)
            continue
        shape = (1, 2) if "layer" in v.dims else (2,)
        check_observables(5, {v.name: torch.zeros(shape)})
        if v.bound.abs_max is not None:
            inside = v.bound.abs_max + v.bound.tolerance / 2
            check_observables(5, {v.name: torch.full(shape, inside)})
            with pytest.raises(Divergence, match=rf"{v.name} out of its physical range at step 5"):
                check_observables(5, {v.name: torch.full(shape, 1.5 * v.bound.abs_max)})
        if v.bound.finite:
            with pytest.raises(Divergence, match="non-finite .* at step 5"):
                check_observables(5, {v.name: torch.full(shape, float("inf"))})
    assert UNIT.tolerance < 1e-3
    check_observables(5, {"accuracy": torch.full((2,), 7.0)})  # no bound in the table: not checked


def test_classify_refuses_only_what_the_run_would_have_refused():
    """An overlap the run's check let through (rounding above 1 within the tolerance) is no damaged file."""
    check_range(xr.DataArray([0.5, 1 + UNIT.tolerance / 2, float("nan")], dims="layer"), "q_norm", 10, 100)
    with pytest.raises(FileError, match="q_norm at t_w = 10"):
        check_range(xr.DataArray([0.5, 1 + 2 * UNIT.tolerance], dims="layer"), "q_norm", 10, 100)
