"""The sweep's subcommands: gather job files, classify the layers, draw the phase diagram, check a config."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tdlm.commands import add_command, combining, fail, figure_parser, gather_parser
from tdlm.fields import Field, FieldSet, add_flag, at_least, flag_type
from tdlm.sweep.settings import CLASSIFY, REFINE, refine_settings

if TYPE_CHECKING:
    import pandas as pd


def _classify_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("overlaps", help="overlaps.nc from `tdlm gather`")
    p.add_argument("--out", required=True, help="phase.nc")
    _classify_options(p)


def _options(p: argparse.ArgumentParser, fields: FieldSet) -> None:
    """One flag per field of a workflow section (`tdlm.sweep.settings`), checked at parse time, its
    default the field's."""
    for f in fields:
        add_flag(p, f)


def _classify_options(p: argparse.ArgumentParser) -> None:
    _options(p, CLASSIFY)


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
    _options(p, FieldSet("refine", tuple(f for f in REFINE if f.name != "rounds")))
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
    """The refine flags as `tdlm.sweep.settings.refine_settings` resolves the config's nulls (boundary.nc
    records them; `rounds` is the workflow's, not a flag)."""
    given = ("boundaries", "resolution", "vary", "max_samples")
    config = {"refine": {k: getattr(args, k) for k in given}, "samples": getattr(args, "samples", None)}
    settings = refine_settings(config)
    return {**{k: settings[k] for k in given}, "m_step": args.m_step}


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
    ):
        add_command(subparsers, name, help_text, configure, handler)
