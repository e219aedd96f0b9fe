"""`tdlm binary-simulate`: one parameter point of the binary-network effective model to a netCDF file.

Parameters come from config.FIELDS defaults, then the YAML file (--config), then flags (one per
key, e.g. --n-runs 1000 --widths 20,15,15,10 or --widths 20 15 15 10, --widths null). Bad input raises ConfigError naming
the field and its allowed values. The result is written to a temporary file in the target folder
and renamed into place (tdlm.storage.write_atomic), so a reader never sees a half-written file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from tdlm.binarynet.config import ALIASES, FIELDS, MEMORY_FIELDS, point_memory_mb, validate
from tdlm.commands import add_command, combining, fail, figure_parser, gather_parser
from tdlm.device import check_fits_memory
from tdlm.fields import ConfigError, load_yaml

COMMAND = "binary-simulate"


def _simulate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML file of parameters (flat mapping; keys below)")
    p.add_argument("--out", type=Path, required=True, help="output netCDF file")
    FIELDS.add_flags(p)
    old = p.add_argument_group("deprecated flags (old names; a warning is logged)")
    for name, new in ALIASES.items():
        flag = "--" + name.replace("_", "-")
        old.add_argument(flag, dest=name, default=argparse.SUPPRESS, help=f"old name of {FIELDS.by_name[new].flag}")


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib
    import xarray as xr

    matplotlib.use("Agg")  # files only; tdlm.plot chooses no backend (it also serves notebooks)
    from tdlm.figure_files import save
    from tdlm.plot.binary import binary_phase_diagram

    with xr.open_dataset(args.inputs[0], engine="netcdf4") as measures:
        drawn = binary_phase_diagram(measures.load())
    save(drawn.figure, args.out, drawn.table())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the binary family's subcommands: one point, the gather of its points, its alpha-L figure."""
    add_command(
        subparsers, COMMAND, "train binary networks, fit the per-layer effective model, write netCDF", _simulate_parser, simulate
    )
    add_command(
        subparsers,
        "binary-gather",
        "combine binary-family point files into measures.nc",
        gather_parser,
        combining("tdlm.binarynet.sweep", "gather"),
    )
    add_command(subparsers, "binary-plot", "draw the binary family's alpha-L diagram (measures.nc)", figure_parser, _cmd_plot)


def resolve_params(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults <- YAML file <- flags given on the command line, validated."""
    params = FIELDS.flatten(load_yaml(args.config)) if args.config is not None else {}
    flags = {**FIELDS.from_args(args), **{name: getattr(args, name) for name in ALIASES if hasattr(args, name)}}
    same = {**ALIASES, **{new: name for name, new in ALIASES.items()}}  # each name to its other name
    for key, value in flags.items():
        params.pop(same.get(key, key), None)  # a flag overrides the file under either name
        params[key] = value
    return validate(params)


def simulate(args: argparse.Namespace) -> int:
    """Handler of `binary-simulate`: resolve parameters, run one point, write the result atomically."""
    from tdlm.binarynet.measures import run_effective_model  # heavy: imported only when a point runs
    from tdlm.storage import check_writable, write_atomic

    try:
        params = resolve_params(args)
        check_fits_memory(point_memory_mb(params), MEMORY_FIELDS, "the point")
        if args.out.suffix != ".nc":
            raise ConfigError(f"--out: got {str(args.out)!r}; allowed values: a path ending in .nc")
        check_writable(args.out)
    except (ConfigError, ValueError) as err:
        return fail(COMMAND, err)
    try:
        ds = run_effective_model(params)
    except (ConfigError, ValueError, FileNotFoundError) as err:  # found with the data (classes, pool, acceptance)
        return fail(COMMAND, err)
    write_atomic(ds, args.out, kind="binary-point")
    logging.getLogger("tdlm.binarynet").info("wrote %s (%.1f s)", args.out, ds.attrs["wall_time_s"])
    return 0
