"""The one parameter framework: both families parse the same way, and the workflow schema and the README
tables agree with the field tables."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pytest
import yaml

from tdlm import workflow_config
from tdlm.binarynet import config as binary
from tdlm.fields import ConfigError
from tdlm.md import params as simulate
from tdlm.sweep import settings

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / workflow_config.SCHEMA_PATH
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())
COMPARED = ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "uniqueItems")


def _constraints(node: dict) -> dict:
    out = {k: node[k] for k in COMPARED if k in node}
    if "items" in out:
        out["items"] = _constraints(out["items"])
    return out


def _flat(properties: dict, prefix: str = "") -> dict[str, dict]:
    out = {}
    for key, node in properties.items():
        if node.get("type") == "object" and "properties" in node:
            out.update(_flat(node["properties"], f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = node
    return out


def test_the_committed_workflow_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text() == workflow_config.schema_text(), (
        f"{workflow_config.SCHEMA_PATH} is stale: run `tdlm schema > {workflow_config.SCHEMA_PATH}`"
    )


@pytest.mark.parametrize(
    ("where", "fields", "skip"),
    [
        ("", simulate.FIELDS, workflow_config.NOT_WORKFLOW_KEYS),
        ("", workflow_config.FIELDS, set()),
        ("binary.params.", binary.FIELDS, set()),
    ],
)
def test_every_field_is_a_key_of_the_workflow_schema_with_its_rule(where, fields, skip):
    """Job fields, workflow settings and the binary family's parameters: each a schema key with the
    field's constraints (a changed range in a table changes the schema, and the staleness test fails)."""
    workflow = _flat(SCHEMA["properties"])
    compared = [f for f in fields if f.name not in skip]
    assert len(compared) >= 18
    for f in compared:
        assert f"{where}{f.name}" in workflow, f"{f.name}: a field the workflow schema does not know"
        assert _constraints(workflow[f"{where}{f.name}"]) == _constraints(f.schema()), f.name


def test_old_binary_names_take_their_fields_rule():
    params = SCHEMA["properties"]["binary"]["properties"]["params"]["properties"]
    for old, new in binary.ALIASES.items():
        assert _constraints(params[old]) == _constraints(binary.BY_NAME[new].schema()), old


def test_the_schema_comparison_can_fail():
    """The constraints compared are not vacuous: eta's open interval, 1/e's, and a changed bound differs."""
    flat = _flat(SCHEMA["properties"])
    assert _constraints(flat["eta"]) == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    assert flat["classify.threshold"]["description"].endswith(f"default: {math.exp(-1)!r}")
    assert _constraints({**flat["eta"], "exclusiveMaximum": 2}) != _constraints(simulate.FIELDS.by_name["eta"].schema())


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "binarynet.yaml"))
def test_every_shipped_config_passes_the_generated_schema(name):
    """The workflow configs of config/, on the base as Snakemake merges them, pass the generated schema
    (binarynet.yaml is one binary point's parameters, not a workflow config)."""
    config = workflow_config.merged([("--base", str(REPO / "config" / "config.yaml")), ("config", str(REPO / "config" / name))])
    settings.coerce_exponents(config)
    assert settings.schema_errors(config, str(SCHEMA_FILE)) == []


@pytest.mark.parametrize(
    ("readme", "fields"),
    [
        ("README.md", simulate.FIELDS),
        ("src/tdlm/binarynet/README.md", binary.FIELDS),
        ("config/README.md", workflow_config.FIELDS),
    ],
)
def test_readme_tables_are_the_generated_ones(readme, fields):
    text = (REPO / readme).read_text()
    found = re.search(r"fails when it differs -->\n(.*?)\n<!-- end of generated table -->", text, re.S)
    assert found, f"{readme}: no generated parameter table"
    assert found.group(1) == fields.markdown(), f"{readme}: run `tdlm params {fields.what}` and paste its table"
    assert len(found.group(1).splitlines()) == len(fields.fields) + 2


def test_config_readme_documents_every_workflow_key():
    text = (REPO / "config" / "README.md").read_text()
    documented = set(re.findall(r"^\| ([^|]+) \|", text, re.M))
    keys = {k.strip().strip("`") for cell in documented for k in cell.split(",")}
    for key in SCHEMA["properties"]:
        assert any(k == key or k.startswith(f"{key}.") for k in keys), f"config/README.md: no row for {key!r}"
    for section in ("data", "classify"):
        for sub in SCHEMA["properties"][section]["properties"]:
            assert f"{section}.{sub}" in keys, f"config/README.md: no row for {section}.{sub}"


def _parser(fields) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    fields.add_flags(p)
    return p


@pytest.mark.parametrize(
    ("fields", "flag", "words", "key", "expected"),
    [
        (simulate.FIELDS, "--t-w", ["10", "100"], "t_w", [10, 100]),
        (simulate.FIELDS, "--t-w", ["10,100"], "t_w", [10, 100]),
        (simulate.FIELDS, "--t-w", ["10,100", "1e3"], "t_w", [10, 100, 1000]),
        (binary.FIELDS, "--widths", ["20,15,10"], "widths", [20, 15, 10]),
        (binary.FIELDS, "--widths", ["20", "15", "10"], "widths", [20, 15, 10]),
        (binary.FIELDS, "--widths", ["null"], "widths", None),
        (simulate.FIELDS, "--t-star", ["1e5"], "t_star", 100000),
        (binary.FIELDS, "--n-runs", ["1e3"], "n_runs", 1000),
        (simulate.FIELDS, "--store-spins", ["false"], "store_spins", False),
        (binary.FIELDS, "--scale-output", ["True"], "scale_output", True),
    ],
)
def test_one_list_and_number_syntax_for_both_commands(fields, flag, words, key, expected):
    args = _parser(fields).parse_args([flag, *words])
    assert fields.from_args(args) == {key: expected}


def test_yaml_values_parse_the_same_in_both_families():
    """1e5 is an int in both tables (it used to be refused by the binary one); a bool is never a number."""
    assert simulate.build({"t_star": 1e5}).t_star == 100000
    assert binary.validate({"n_runs": 1e3})["n_runs"] == 1000
    for check, key in ((simulate.build, "t_star"), (binary.validate, "epochs")):
        with pytest.raises(ConfigError, match=f"{key}: got True \\(bool\\)"):
            check({key: True})
        with pytest.raises(ConfigError, match=f"{key}: got 2.5"):
            check({key: 2.5})


def test_every_bad_field_is_reported_at_once_in_both_families():
    with pytest.raises(ConfigError) as err:
        binary.validate({"n_runs": 1, "lr": -1.0, "dataset": "cifar"})
    assert all(f"\n  {k}:" in str(err.value) for k in ("n_runs", "lr", "dataset"))
    assert str(err.value).startswith("invalid binary-simulate parameters:")


def test_to_flags_round_trips_through_the_flags():
    values = {"widths": [20, 15, 10], "L": 2, "scale_output": True, "lr": 0.25, "data.path": None}
    text = binary.FIELDS.to_flags(values)
    assert "--widths 20 15 10" in text and "--data-path" not in text
    parsed = binary.FIELDS.from_args(_parser(binary.FIELDS).parse_args(text.split()))
    assert binary.validate(parsed) == binary.validate(values)


def test_nan_is_out_of_every_range():
    with pytest.raises(ConfigError, match="dt: got nan"):
        simulate.build({"dt": float("nan")})
