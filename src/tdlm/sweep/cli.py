"""The sweep's subcommands: gather job files, classify the layers, draw the phase diagram, check a config."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from tdlm.cli import EXIT_BAD_INPUT, add_command, combining, fail
from tdlm.fields import ConfigError, Field, at_least, flag_type, interval

if TYPE_CHECKING:
    import pandas as pd


def gather_parser(p: argparse.ArgumentParser) -> None:
    """Flags of a command that combines job or point files into one."""
    p.add_argument("jobs", nargs="+", help="per-job netCDF files of one parameter point")
    p.add_argument("--out", required=True)


def _classify_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("overlaps", help="overlaps.nc from `tdlm gather`")
    p.add_argument("--out", required=True, help="phase.nc")
    _classify_options(p)


def _classify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        type=flag_type(Field("threshold", float, None, "", interval(0, 1, "()"))),
        default=math.exp(-1),
        help="q* below this is liquid (0 < threshold < 1)",
    )
    p.add_argument(
        "--t-w",
        type=flag_type(Field("t_w", int, None, "", at_least(0))),
        default=None,
        help="waiting time to classify at (default: the largest)",
    )
    p.add_argument(
        "--n-sigma",
        type=flag_type(Field("n_sigma", float, None, "", at_least(0, integer=False))),
        default=2.0,
        help="uncertain when |q* - threshold| <= n_sigma * SEM",
    )
    p.add_argument(
        "--overlap",
        choices=("q_norm", "q"),
        default="q_norm",
        help="the overlap that classifies: q_norm (normalised by the self-overlaps, default) or q (raw)",
    )


def _cmd_classify(args: argparse.Namespace) -> int:
    from tdlm.sweep.classify import classify_file

    try:
        classify_file(args.overlaps, args.out, args.threshold, args.t_w, args.n_sigma, args.overlap)
    except (OSError, KeyError, ValueError) as err:  # a missing or foreign overlaps file, a t_w it lacks
        return fail("classify", err)
    return 0


def _plot_phase_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("phase", help="phase.nc from `tdlm classify`")
    p.add_argument("--outdir", required=True, help="folder for phase_diagram.{png,pdf} and q_star_L<L>.{png,pdf}")
    p.add_argument(
        "--T",
        type=flag_type(Field("T", float, None, "", at_least(0, integer=False))),
        default=None,
        help="temperature to draw (default: the lowest)",
    )
    p.add_argument("--boundaries", default=None, help="boundary.csv of a refined sweep: drawn on the phase diagram")


def _cmd_plot_phase(args: argparse.Namespace) -> int:
    from pathlib import Path

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")  # files only; the figure functions choose no backend (they also serve notebooks)
    from tdlm.figure_files import save
    from tdlm.files import open_input
    from tdlm.plot.phase import phase_diagram, q_star_heatmap

    phase = open_input(args.phase, "phase", "phase", load=True)
    if args.T is not None and not np.isclose(phase.T.values, args.T, rtol=1e-5).any():
        return fail(
            "plot-phase", f"--T: got {args.T:g}; allowed values: the temperatures of {args.phase}: {phase.T.values.tolist()}"
        )
    outdir = Path(args.outdir)
    boundaries = None
    if args.boundaries:
        boundaries = read_boundaries(args.boundaries)
    drawn = [phase_diagram(phase, args.T, boundaries=boundaries)]
    drawn += [q_star_heatmap(phase, int(L), args.T) for L in phase.L.values]
    for figure in drawn:
        save(figure.figure, outdir / figure.name, figure.table())
    return 0


def read_boundaries(path: str) -> pd.DataFrame:
    """boundary.csv of `tdlm boundaries`; FileError when it is missing, garbage or lacks its columns."""
    import pandas as pd

    from tdlm.files import FileError
    from tdlm.sweep.rounds import BOUNDARY_COLUMNS

    try:
        table = pd.read_csv(path)
    except OSError as err:
        raise FileError(f"--boundaries: cannot read {path}: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:  # pandas' EmptyDataError and ParserError are ValueErrors
        raise FileError(f"--boundaries: {path} is not a CSV file ({err})") from None
    missing = sorted(set(BOUNDARY_COLUMNS) - set(table.columns))
    if missing:
        raise FileError(f"--boundaries: {path} is not a boundary.csv of `tdlm boundaries` (no columns {', '.join(missing)})")
    return table


def _tables_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("phase", help="phase.nc from `tdlm classify`")
    p.add_argument("--outdir", required=True, help="folder for phase.csv and xi.csv")


def _cmd_tables(args: argparse.Namespace) -> int:
    from tdlm.sweep.tables import write_tables

    try:
        write_tables(args.phase, args.outdir)
    except (OSError, KeyError, ValueError) as err:
        return fail("tables", err)
    return 0


def figure_parser(p: argparse.ArgumentParser) -> None:
    """Flags of a figure drawn from netCDF inputs: the inputs and the figure's stem."""
    p.add_argument("inputs", nargs="+", help="input netCDF files")
    p.add_argument("--out", required=True, help="figure stem (writes <stem>.png and <stem>.pdf)")


def _cmd_compare(args: argparse.Namespace) -> int:
    import matplotlib
    import xarray as xr

    matplotlib.use("Agg")  # files only; tdlm.plot chooses no backend (it also serves notebooks)
    from tdlm.figure_files import save
    from tdlm.plot.families import compare_families

    if len(args.inputs) != 2:
        return fail("compare-families", "inputs: give phase.nc and measures.nc")
    with (
        xr.open_dataset(args.inputs[0], engine="netcdf4") as phase,
        xr.open_dataset(args.inputs[1], engine="netcdf4") as measures,
    ):
        drawn = compare_families(phase.load(), measures.load())
    save(drawn.figure, args.out, drawn.table())
    return 0


def _gather_sweep_parser(p: argparse.ArgumentParser) -> None:
    gather_parser(p)
    p.add_argument("--plan", default=None, help="refine/plan~k.json: record the round that added each point")


def _refine_settings_parser(p: argparse.ArgumentParser) -> None:
    """The refine section of the config, as flags (the workflow passes them from the config)."""
    p.add_argument("--boundaries", nargs="+", choices=("layer", "onset"), default=["layer", "onset"])
    p.add_argument(
        "--resolution", type=flag_type(Field("refine.resolution", float, None, "", interval(0, math.inf, "()"))), default=0.15
    )
    p.add_argument("--vary", choices=("M", "N"), default="M")
    p.add_argument("--max-samples", type=flag_type(Field("refine.max_samples", int, None, "", at_least(1))), required=True)
    p.add_argument(
        "--m-step",
        type=flag_type(Field("m_step", int, None, "", at_least(1))),
        default=1,
        help="new M are multiples of this (the classes)",
    )


def _refine_plan_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="+", help="the job files of every point of the previous plan")
    p.add_argument("--previous", default=None, help="the previous plan (refine/plan~k.json); none for round 1")
    p.add_argument("--out", required=True, help="refine/plan~k+1.json")
    p.add_argument("--samples", type=flag_type(Field("samples", int, None, "", at_least(1))), required=True)
    p.add_argument("--samples-per-job", type=flag_type(Field("samples_per_job", int, None, "", at_least(1))), required=True)
    _refine_settings_parser(p)
    _classify_options(p)


def _settings(args: argparse.Namespace) -> dict:
    return {
        "boundaries": args.boundaries,
        "resolution": args.resolution,
        "vary": args.vary,
        "max_samples": args.max_samples,
        "m_step": args.m_step,
    }


def _cmd_refine_plan(args: argparse.Namespace) -> int:
    import json

    from tdlm.files import read_json
    from tdlm.sweep.rounds import next_plan, write_json

    classify_args = {"threshold": args.threshold, "t_w": args.t_w, "n_sigma": args.n_sigma, "overlap": args.overlap}
    try:
        previous = read_json(args.previous, "--previous") if args.previous else None
        plan = next_plan(args.jobs, previous, _settings(args), classify_args, args.samples, args.samples_per_job)
    except (OSError, KeyError, ValueError) as err:
        return fail("refine-plan", err)
    write_json(plan, args.out)
    print(json.dumps(plan["history"][-1]))
    return 0


def _boundaries_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("phase", help="phase.nc of every round")
    p.add_argument("--plan", required=True, help="the last refine/plan~k.json")
    p.add_argument("--out", required=True, help="boundary.nc; boundary.csv and refine.csv are written beside it")
    _refine_settings_parser(p)


def _cmd_boundaries(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tdlm.sweep.rounds import write_boundaries

    out = Path(args.out)
    try:
        write_boundaries(args.phase, args.plan, _settings(args), out, out.with_suffix(".csv"), out.with_name("refine.csv"))
    except (OSError, KeyError, ValueError) as err:
        return fail("boundaries", err)
    return 0


def _sweep_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="workflow config YAML (config/config.yaml)")
    p.add_argument(
        "--schema",
        default="workflow/schemas/config.schema.yaml",
        help="JSON schema the workflow validates against (relative to the working directory)",
    )
    p.add_argument(
        "--base",
        default="config/config.yaml",
        help="the Snakefile's configfile, which the workflow merges under CONFIG as Snakemake does ('' for none)",
    )


def _cmd_sweep_check(args: argparse.Namespace) -> int:
    from tdlm.fields import read_yaml
    from tdlm.sweep.table import check_run_named, coerce_exponents, config_value_errors, schema_errors

    config: dict = {}
    for flag, path in (("--base", args.base), ("config", args.config)):
        if not path:
            continue
        data = read_yaml(path, flag) or {}
        if not isinstance(data, dict):
            return fail("sweep-check", f"{flag}: {path}: expected a mapping of config keys to values, got {type(data).__name__}")
        merge(config, data)
    coerce_exponents(config)
    problems = schema_errors(config, args.schema)
    messages = [f"config does not match {args.schema}:\n  " + "\n  ".join(problems)] if problems else []
    messages += config_value_errors(config)
    if args.base:
        try:
            check_run_named([args.config], {})
        except ConfigError as err:
            messages.append(str(err))
    table = None
    for family, check in _family_checks(config):
        try:
            found = check(config)
        except (ConfigError, KeyError, TypeError, ValueError) as err:
            # with schema violations the deeper checks may trip over the same fields: report what they found
            messages.append(f"{family}: {err}" if isinstance(err, ConfigError) or not messages else "")
            continue
        table = found if table is None else table
    messages = [m for m in messages if m]
    if messages:
        print("tdlm sweep-check: error: " + "\n".join(messages), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(table.to_string(index=False))
    return 0


def merge(base: dict, update: dict) -> dict:
    """`update` merged into `base` key by key, nested mappings recursively (Snakemake's config update)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def _family_checks(config: dict) -> list[tuple[str, object]]:
    """The pre-submission check of every family the config selects (each returns its point or job table)."""
    from tdlm.binarynet import sweep as binary_sweep
    from tdlm.sweep import table

    families = config.get("families", ["thermal"]) if isinstance(config, dict) else ["thermal"]
    checks = {"thermal": table.check, "binary": binary_sweep.check}
    return [(family, checks[family]) for family in checks if family in families]


FIELD_SETS = {"simulate": "tdlm.md.params", "binary-simulate": "tdlm.binarynet.config"}


def _params_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("command", choices=tuple(FIELD_SETS), help="the command whose parameters to show")
    p.add_argument("--format", choices=("markdown", "schema"), default="markdown", help="README table, or JSON-schema properties")


def _cmd_params(args: argparse.Namespace) -> int:
    import importlib
    import json

    from tdlm.fields import schema_of

    fields = importlib.import_module(FIELD_SETS[args.command]).FIELDS
    print(fields.markdown() if args.format == "markdown" else json.dumps(schema_of(fields), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, help_text, configure, handler in (
        (
            "gather-point",
            "combine the jobs (samples) of one parameter point",
            gather_parser,
            combining("tdlm.sweep.gather", "gather_point"),
        ),
        (
            "gather",
            "combine point files into the sweep's overlaps.nc",
            _gather_sweep_parser,
            combining("tdlm.sweep.gather", "gather_sweep", ("plan",)),
        ),
        (
            "refine-plan",
            "plan the next refinement round from the job files of the last one",
            _refine_plan_parser,
            _cmd_refine_plan,
        ),
        (
            "boundaries",
            "boundary.nc/.csv (brackets, estimates) and refine.csv of a refined sweep",
            _boundaries_parser,
            _cmd_boundaries,
        ),
        ("classify", "classify every layer as solid, liquid or uncertain", _classify_parser, _cmd_classify),
        ("plot-phase", "draw the alpha-L phase diagram and q* heat maps", _plot_phase_parser, _cmd_plot_phase),
        (
            "tables",
            "phase.csv (point x layer: q*, its SEM, phase) and xi.csv (point: depths) from phase.nc",
            _tables_parser,
            _cmd_tables,
        ),
        ("compare-families", "thermal q*_l/Q*_l beside the binary family's per-layer measures", figure_parser, _cmd_compare),
        (
            "sweep-check",
            "validate a workflow config (every family it selects) and list its jobs",
            _sweep_parser,
            _cmd_sweep_check,
        ),
        ("params", "the parameter table of simulate or binary-simulate (as the READMEs show it)", _params_parser, _cmd_params),
    ):
        add_command(subparsers, name, help_text, configure, handler)
