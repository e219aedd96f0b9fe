"""The workflow's config as a whole: its schema generated from the field tables, and the checks of every
family it selects.

This module sits above the families (beside `tdlm.cli`): it is the one place that knows both the thermal
machine's tables (`tdlm.md.params`, `tdlm.sweep.settings`) and the binary family's
(`tdlm.binarynet.config`), so the families never import each other to check a config.

`workflow/schemas/config.schema.yaml` is written by `tdlm schema` (committed; tests/test_fields.py fails
when it is stale): every leaf key is a `Field` (its JSON-schema keywords and a description made of its
help, allowed values and default); only the shapes no field describes (the grids, the alpha forms) are
written here. Defaults are not schema keywords: every reader takes them from the field tables
(`tdlm.sweep.settings.section`), so Snakemake and `tdlm sweep-check` see the same values.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from tdlm.binarynet import config as binary_params
from tdlm.commands import EXIT_BAD_INPUT, add_command, fail
from tdlm.fields import ConfigError, Field, FieldSet, read_yaml
from tdlm.md import params as job_params
from tdlm.sweep import settings

SCHEMA_PATH = "workflow/schemas/config.schema.yaml"
# simulate fields that are no workflow key of the same meaning: grid axes, the sample count (the workflow's
# `samples` is a number of samples, a job's is a list of indices), and the checkpoint path set per job
NOT_WORKFLOW_KEYS = {"M", "N", "L", "T", "samples", "checkpoint_path"}
# workflow keys without a default of their own that every sweep needs (the base config/config.yaml gives them)
REQUIRED = ("run", "data", "grids", "samples", "n_replicas", "t_w", "t_star", "resources")

BINARY = FieldSet("binary", FieldSet("", settings.RESOURCE_FIELDS).under("binary.resources"))
# the workflow settings (the jobs' parameters are the simulate table's): `tdlm params workflow`
FIELDS = FieldSet("workflow", (*settings.SWEEP, *BINARY))


def _list_of(f: Field, minimum_items: int = 1) -> Field:
    """A list of values of the field `f` (a grid's axis)."""
    return Field(f.name, list, None, f.help, f.rule, item=f.kind, min_items=minimum_items, unique=True)


def describe(f: Field) -> str:
    """A field's schema description: its help, allowed values and default (schema errors quote it)."""
    default = "" if f.default is None else f"; default: {json.dumps(f.default)}"
    return f"{f.help}; allowed values: {f.allowed}{default}"


def _object(properties: dict[str, Any], required: Iterable[str] = (), description: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "object", "additionalProperties": False}
    node.update({"description": description} if description else {})
    node["properties"] = properties
    if required:
        node["required"] = list(required)
    return node


def properties(fields: Iterable[Field]) -> dict[str, Any]:
    """Schema properties of fields nested by their dotted names; a field without a default is required."""
    root: dict[str, Any] = _object({})
    for f in fields:
        *parents, leaf = f.name.split(".")
        node = root
        for part in parents:
            node = node["properties"].setdefault(part, _object({}))
        node["properties"][leaf] = {**f.schema(), "description": describe(f)}
        if f.default is None and not f.nullable:
            node.setdefault("required", []).append(leaf)
    return root["properties"]


def _alpha() -> dict[str, Any]:
    """The three forms of a grid's alpha points (tdlm.sweep.jobs.alpha_points)."""
    M, N = (job_params.FIELDS.by_name[k] for k in ("M", "N"))
    one = {k: f.schema() for k, f in (("M", M), ("N", N))}
    many = {k: _list_of(f).schema() for k, f in (("M", M), ("N", N))}
    pair = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2}
    return {
        "description": "allowed values: one of {M: int, N: [..]} (fixed M), {N: int, M: [..]} (fixed N), {pairs: [[M, N], ..]}",
        "oneOf": [
            _object({"M": one["M"], "N": many["N"]}, ("M", "N")),
            _object({"N": one["N"], "M": many["M"]}, ("M", "N")),
            _object({"pairs": {"type": "array", "minItems": 1, "items": pair}}, ("pairs",)),
        ],
    }


def _grids(axes: dict[str, dict[str, Any]], required: tuple[str, ...], what: str) -> dict[str, Any]:
    grid = _object({"name": {"type": "string", "description": "a free label"}, **axes}, required)
    return {"type": "array", "minItems": 1, "items": grid, "description": what}


def _binary_params() -> dict[str, Any]:
    """binary-simulate's parameters as a workflow config gives them: nested (`data: {source: ..}`) or dotted
    (`data.source`), and the old names (the table's `aliases`) with their field's rule."""
    fields = binary_params.FIELDS
    flat = {f.name: {**f.schema(), "description": describe(f)} for f in fields}
    old = {alias: flat[name] for alias, name in fields.aliases.items()}
    return _object(
        {**properties(f for f in fields if "." in f.name), **flat, **old},
        description="tdlm binary-simulate parameters shared by every binary point (src/tdlm/binarynet/README.md)",
    )


def schema() -> dict[str, Any]:
    """The workflow's JSON schema: job fields, workflow settings, the binary family's parameters, grids."""
    job = properties(f for f in job_params.FIELDS if f.name not in NOT_WORKFLOW_KEYS)
    job_by_name = job_params.FIELDS.by_name
    ours = properties(FIELDS)
    thermal_axes = {
        "alpha": _alpha(),
        "L": _list_of(job_by_name["L"]).schema(),
        "T": _list_of(job_by_name["T"]).schema(),
    }
    binary_axes = {k: _list_of(binary_params.BY_NAME[k]).schema() for k in ("M", "L")}
    binary = ours.pop("binary")
    binary["properties"] = {
        "grids": _grids({"P": binary_axes["M"], "L": binary_axes["L"]}, ("P", "L"), "the binary family's (P, L) grids"),
        "params": _binary_params(),
        **binary["properties"],
    }
    binary["required"] = ["grids", "resources"]
    top = {
        "families": ours.pop("families"),
        "binary": binary,
        "run": ours.pop("run"),
        "data": job.pop("data"),
        "grids": _grids(thermal_axes, ("alpha", "L"), "the sweep is the union of these grids"),
        **ours,
        **job,
    }
    top["resources"]["required"] = ["simulate"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": f"Sweep config of the tdlm workflow (config/README.md). GENERATED by `tdlm schema > {SCHEMA_PATH}`",
        **_object(top, REQUIRED),
    }


def schema_text() -> str:
    """`schema()` as the YAML file the workflow validates against."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # a shared rule is written out where it applies
            return True

    header = f"# GENERATED from the field tables by `tdlm schema > {SCHEMA_PATH}`: do not edit (tests/test_fields.py)\n"
    return header + yaml.dump(schema(), Dumper=Dumper, sort_keys=False, width=120, default_flow_style=None)


# ------------------------------------------------------------------------------------------------ checks


def family_checks(config: dict[str, Any]) -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    """The pre-submission check of every family the config selects (each returns its job or point table)."""
    from tdlm.binarynet import sweep as binary_sweep  # both import pandas: on use only
    from tdlm.sweep import jobs as sweep_jobs

    selected = settings.families(config)
    checks = {"thermal": sweep_jobs.check, "binary": binary_sweep.check}
    return [(family, check) for family, check in checks.items() if family in selected]


def overrides(entries: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` words as `snakemake --config` reads them (Snakemake's own parser)."""
    from snakemake.cli import parse_config

    try:
        return parse_config(entries)
    except ValueError as err:
        raise ConfigError(f"--config: {err}") from None


def merged(paths: list[tuple[str, str]], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config files merged in order, then the `--config` values over them, as Snakemake merges
    `configfile:`, `--configfile` and `--config` (its own `update_config`); each file is read with the
    loader that refuses duplicate keys; `paths` are (flag, path)."""
    from snakemake.utils import update_config

    config: dict[str, Any] = {}
    for flag, path in paths:
        data = read_yaml(path, flag) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{flag}: {path}: expected a mapping of config keys to values, got {type(data).__name__}")
        update_config(config, data)
    update_config(config, given or {})
    return config


def problems(config: dict[str, Any], schema_path: str) -> tuple[list[str], Any]:
    """(every problem of a merged config: schema, values, each selected family's checks; the first
    family's job table)."""
    settings.coerce_exponents(config)
    found = settings.schema_errors(config, schema_path)
    messages = [f"config does not match {schema_path}:\n  " + "\n  ".join(found)] if found else []
    messages += settings.config_value_errors(config)
    table = None
    for family, check in family_checks(config):
        try:
            result = check(config)
        except ConfigError as err:
            messages.append(f"{family}: {err}")
            continue
        except (KeyError, TypeError, ValueError, ArithmeticError) as err:
            # with schema violations the deeper checks may trip over the same fields: those are reported
            messages += [] if messages else [f"{family}: {err}"]
            continue
        table = result if table is None else table
    return messages, table


def _sweep_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="workflow config YAML (config/config.yaml)")
    p.add_argument(
        "--schema",
        default=SCHEMA_PATH,
        help="JSON schema the workflow validates against (relative to the working directory)",
    )
    p.add_argument(
        "--base",
        default="config/config.yaml",
        help="the Snakefile's configfile, which the workflow merges under CONFIG as Snakemake does ('' for none)",
    )
    p.add_argument(
        "--config",
        dest="overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="values over the files, as `snakemake --config` takes them",
    )


def _cmd_sweep_check(args: argparse.Namespace) -> int:
    try:
        given = overrides(args.overrides)
        config = merged([(flag, path) for flag, path in (("--base", args.base), ("config", args.config)) if path], given)
        if args.base:
            settings.check_run_named([args.config], given)
    except ConfigError as err:
        return fail("sweep-check", err)
    messages, table = problems(config, args.schema)
    if messages:
        print("tdlm sweep-check: error: " + "\n".join(messages), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(table.to_string(index=False))
    return 0


TABLES = {"simulate": job_params.FIELDS, "binary-simulate": binary_params.FIELDS, "workflow": FIELDS}


def _params_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("command", choices=tuple(TABLES), help="simulate, binary-simulate, or the workflow's settings")
    p.add_argument("--format", choices=("markdown", "schema"), default="markdown", help="README table, or JSON-schema properties")


def _cmd_params(args: argparse.Namespace) -> int:
    from tdlm.fields import schema_of

    fields = TABLES[args.command]
    print(fields.markdown() if args.format == "markdown" else json.dumps(schema_of(fields), indent=2))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers,
        "sweep-check",
        "validate a workflow config (every family it selects) and list its jobs",
        _sweep_parser,
        _cmd_sweep_check,
    )
    add_command(subparsers, "params", "a parameter table as the READMEs show it", _params_parser, _cmd_params)
    add_command(
        subparsers,
        "schema",
        f"the workflow config's JSON schema, generated from the field tables ({SCHEMA_PATH})",
        lambda p: None,
        _cmd_schema,
    )
