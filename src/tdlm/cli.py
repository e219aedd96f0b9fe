"""The `tdlm` command: the workflow's rules call only these subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any

from tdlm import __version__
from tdlm.params import FIELDS, ConfigError, Field

EXIT_DIVERGED = 3
EXIT_BAD_INPUT = 2


def _flag(f: Field) -> str:
    return "--" + f.name.replace(".", "-").replace("_", "-")


def add_param_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per parameter, documented from the field table; unset flags do not override the YAML."""
    group = parser.add_argument_group("parameters (override the YAML file)")
    for f in FIELDS:
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": f"{f.help} (default: {f.default})"}
        if f.kind is list:
            kwargs["nargs"] = "+"
        group.add_argument(_flag(f), **kwargs)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tdlm import params as P
    from tdlm.checkpoint import CheckpointMismatch
    from tdlm.protocol import Divergence, Interrupted
    from tdlm.simulate import run

    overrides = {f.name: getattr(args, f.name) for f in FIELDS if hasattr(args, f.name)}
    try:
        params = P.load(args.config, overrides)
        run(params, args.out)
    except (ConfigError, CheckpointMismatch, FileNotFoundError, ValueError) as err:
        print(f"tdlm simulate: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Divergence as err:
        print(f"tdlm simulate: diverged: {err}; the last good checkpoint is kept", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as err:
        print(f"tdlm simulate: {err}; run the same command again to resume", file=sys.stderr)
        return 128 + err.signum
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def _simulate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of parameters (nested `data:` mapping allowed)")
    p.add_argument("--out", required=True, help="output netCDF file (written atomically)")
    add_param_flags(p)


COMMANDS["simulate"] = ("run one MD job (one parameter point, one or more samples)", _simulate_parser, _cmd_simulate)


def _gather_point_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="+", help="per-job netCDF files of one parameter point")
    p.add_argument("--out", required=True)


def _combine(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    """Handler of a command that combines netCDF files into one; the module is imported on use only."""

    def handler(args: argparse.Namespace) -> int:
        getattr(importlib.import_module(module), function)(args.jobs, args.out)
        return 0

    return handler


COMMANDS["gather-point"] = (
    "combine the jobs (samples) of one parameter point",
    _gather_point_parser,
    _combine("tdlm.gather", "gather_point"),
)
COMMANDS["gather"] = (
    "combine point files into the sweep's overlaps.nc",
    _gather_point_parser,
    _combine("tdlm.gather", "gather_sweep"),
)


def _classify_parser(p: argparse.ArgumentParser) -> None:
    import math

    p.add_argument("overlaps", help="overlaps.nc from `tdlm gather`")
    p.add_argument("--out", required=True, help="phase.nc")
    p.add_argument("--threshold", type=float, default=math.exp(-1), help="q* below this is liquid")
    p.add_argument("--t-w", type=int, default=None, help="waiting time to classify at (default: the largest)")
    p.add_argument("--n-sigma", type=float, default=2.0, help="uncertain when |q* - threshold| <= n_sigma * SEM")
    p.add_argument(
        "--overlap",
        choices=("q_norm", "q"),
        default="q_norm",
        help="the overlap that classifies: q_norm (normalised by the self-overlaps, default) or q (raw)",
    )


def _cmd_classify(args: argparse.Namespace) -> int:
    from tdlm.classify import classify_file

    classify_file(args.overlaps, args.out, args.threshold, args.t_w, args.n_sigma, args.overlap)
    return 0


COMMANDS["classify"] = ("classify every layer as solid, liquid or uncertain", _classify_parser, _cmd_classify)


def _plot_phase_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("phase", help="phase.nc from `tdlm classify`")
    p.add_argument("--outdir", required=True, help="folder for phase_diagram.{png,pdf} and q_star_L<L>.{png,pdf}")
    p.add_argument("--T", type=float, default=None, help="temperature to draw (default: the lowest)")


def _cmd_plot_phase(args: argparse.Namespace) -> int:
    from pathlib import Path

    import xarray as xr

    from tdlm.figures import phase_diagram, q_star_heatmap

    with xr.open_dataset(args.phase, engine="netcdf4") as phase:
        phase.load()
    outdir = Path(args.outdir)
    phase_diagram(phase, outdir / "phase_diagram", args.T)
    for L in phase.L.values:
        q_star_heatmap(phase, int(L), outdir / f"q_star_L{int(L)}", args.T)
    return 0


COMMANDS["plot-phase"] = ("draw the alpha-L phase diagram and q* heat maps", _plot_phase_parser, _cmd_plot_phase)


COMMANDS["binary-gather"] = (
    "combine binary-family point files into measures.nc",
    _gather_point_parser,
    _combine("tdlm.binarynet.sweep", "gather"),
)


def _figure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="input netCDF files")
    p.add_argument("--out", required=True, help="figure stem (writes <stem>.png and <stem>.pdf)")


def _cmd_binary_plot(args: argparse.Namespace) -> int:
    import xarray as xr

    from tdlm.figures import binary_phase_diagram

    with xr.open_dataset(args.inputs[0], engine="netcdf4") as measures:
        binary_phase_diagram(measures.load(), args.out)
    return 0


COMMANDS["binary-plot"] = ("draw the binary family's alpha-L diagram (measures.nc)", _figure_parser, _cmd_binary_plot)


def _cmd_compare(args: argparse.Namespace) -> int:
    import xarray as xr

    from tdlm.figures import compare_families

    if len(args.inputs) != 2:
        print("tdlm compare-families: error: inputs: give phase.nc and measures.nc", file=sys.stderr)
        return EXIT_BAD_INPUT
    with (
        xr.open_dataset(args.inputs[0], engine="netcdf4") as phase,
        xr.open_dataset(args.inputs[1], engine="netcdf4") as measures,
    ):
        compare_families(phase.load(), measures.load(), args.out)
    return 0


COMMANDS["compare-families"] = ("thermal q*_l/Q*_l beside the binary family's per-layer measures", _figure_parser, _cmd_compare)


def _sweep_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="workflow config YAML (config/config.yaml)")
    p.add_argument(
        "--schema",
        default="workflow/schemas/config.schema.yaml",
        help="JSON schema the workflow validates against (relative to the working directory)",
    )


def schema_errors(config: dict, schema_path: str) -> list[str]:
    """The workflow's JSON schema applied as Snakemake's validate() does; every violation named by its key path."""
    import jsonschema
    import yaml

    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<top level>'}: {e.message}" for e in errors]


def _cmd_sweep_check(args: argparse.Namespace) -> int:
    import yaml

    from tdlm.sweep import check

    with open(args.config) as fh:
        config = yaml.safe_load(fh)
    try:
        problems = schema_errors(config, args.schema)
    except FileNotFoundError as err:
        print(f"tdlm sweep-check: error: --schema: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    messages = [f"config does not match {args.schema}:\n  " + "\n  ".join(problems)] if problems else []
    try:
        table = check(config)
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        # with schema violations the deeper checks may trip over the same fields: report what they found
        messages.append(str(err) if isinstance(err, ConfigError) or not problems else "")
    messages = [m for m in messages if m]
    if messages:
        print("tdlm sweep-check: error: " + "\n".join(messages), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(table.to_string(index=False))
    return 0


COMMANDS["sweep-check"] = ("validate a workflow config and list its jobs", _sweep_parser, _cmd_sweep_check)


# subpackages that add their own subcommands through `register(subparsers)`
PLUGINS = ("tdlm.binarynet.cli", "tdlm.paper.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdlm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"tdlm {__version__}")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice; set it to the cores a job owns to avoid oversubscription)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, configure, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        configure(p)
        p.set_defaults(handler=handler)
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name not in (name, name.rsplit(".", 1)[0]):
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
