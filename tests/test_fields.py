"""The one parameter framework: both families parse the same way, and the workflow schema and the README
tables agree with the field tables."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from tdlm.binarynet import config as binary
from tdlm.fields import ConfigError, schema_of
from tdlm.md import params as simulate

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
# simulate fields whose workflow key means something else: grid axes (M, N, L, T), the sample count
# (samples), and the checkpoint path the workflow sets per job
NOT_WORKFLOW_KEYS = {"M", "N", "L", "T", "samples", "checkpoint_path"}
COMPARED = ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "uniqueItems")


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _constraints(node: dict) -> dict:
    node = _resolve(node)
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


def test_simulate_fields_agree_with_the_workflow_schema():
    generated = _flat(schema_of(simulate.FIELDS))
    workflow = _flat(SCHEMA["properties"])
    compared = [name for name in generated if name not in NOT_WORKFLOW_KEYS]
    assert len(compared) >= 18
    for name in compared:
        assert name in workflow, f"{name}: a simulate field the workflow schema does not know"
        assert _constraints(workflow[name]) == _constraints(generated[name]), name


def test_agreement_check_can_fail():
    """A changed range in a field table would be caught: the comparison is not vacuous."""
    eta = _flat(schema_of(simulate.FIELDS))["eta"]
    assert _constraints(eta) == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    assert _constraints({**eta, "exclusiveMaximum": 2}) != _constraints(_flat(SCHEMA["properties"])["eta"])


@pytest.mark.parametrize(
    ("readme", "fields"),
    [("README.md", simulate.FIELDS), ("src/tdlm/binarynet/README.md", binary.FIELDS)],
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
