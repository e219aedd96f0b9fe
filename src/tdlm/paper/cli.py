"""Subcommands of the paper subpackage (registered by tdlm.cli): paper-figures, design-space, cost."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tdlm.commands import add_command, fail
from tdlm.fields import ConfigError, Field, Rule, above, at_least, flag_type, load_yaml


def _flag(name: str, kind: type, low: float, bound: Callable[[float], Rule] | None = None) -> Callable[[str], Any]:
    """argparse type of a number flag: finite, of `kind`, >= low (or > low with `bound=above`)."""
    rule = bound(low) if bound else at_least(low, integer=kind is int)
    return flag_type(Field(name, kind, None, "", rule))


def _figures_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("overlaps", help="overlaps.nc from `tdlm gather`")
    p.add_argument("phase", help="phase.nc from `tdlm classify`")
    p.add_argument("design", help="design_space.nc from `tdlm design-space`")
    p.add_argument("--outdir", required=True, help="folder for <figure>.{png,pdf} and plotted_data.json")
    p.add_argument(
        "--M", type=_flag("M", int, 1), default=None, help="reference point: training examples (default: median alpha)"
    )
    p.add_argument("--N", type=_flag("N", int, 1), default=None, help="reference point: hidden width")
    p.add_argument("--L", type=_flag("L", int, 2), default=None, help="reference point: depth (default: nearest to --phase-L)")
    p.add_argument("--T", type=_flag("T", float, 0), default=None, help="reference point: temperature (default: the lowest)")
    p.add_argument("--phase-L", type=_flag("phase_L", int, 2), default=10, help="depth of the phase-diagram heat map")


def _cmd_figures(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only; tdlm.plot chooses no backend (it also serves notebooks)
    from tdlm.paper.render import render_files

    render_files(args.overlaps, args.phase, args.design, args.outdir, args.M, args.N, args.L, args.T, args.phase_L)
    return 0


def _design_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="+", help="per-job netCDF files of ONE parameter point (all samples)")
    p.add_argument("--out", required=True, help="design_space.nc (written atomically)")
    p.add_argument("--phase", default=None, help="phase.nc: picks a liquid and a solid layer (unless --layers)")
    p.add_argument("--layers", type=_flag("layers", int, 1), nargs="+", default=None, help="layers to analyse instead")
    p.add_argument("--t-w", type=_flag("t_w", int, 0), default=None, help="waiting time of the snapshots (default: the largest)")
    p.add_argument("--bins", type=_flag("bins", int, 1), default=40, help="histogram bins of P(Q)")


def _cmd_design(args: argparse.Namespace) -> int:
    from tdlm.paper.design import design_space_file

    try:
        design_space_file(args.jobs, args.out, args.phase, args.layers, args.t_w, args.bins)
    except (ValueError, KeyError) as err:
        return fail("design-space", err)
    return 0


def _cost_parser(p: argparse.ArgumentParser) -> None:
    from tdlm.paper.cost import DEFAULT_FLOPS_RATE, DEFAULT_STEP_LATENCY

    p.add_argument("config", help="workflow config YAML (e.g. config/paper.yaml)")
    p.add_argument(
        "--step-rate",
        type=_flag("step_rate", float, 0, above),
        default=None,
        help="measured replica-steps per second of one job (replaces the FLOP model)",
    )
    p.add_argument(
        "--flops-rate",
        type=_flag("flops_rate", float, 0, above),
        default=None,
        help=f"effective FLOP/s of one GPU (default: paper.cost.flops_rate, else the ASSUMED {DEFAULT_FLOPS_RATE:g})",
    )
    p.add_argument(
        "--step-latency",
        type=_flag("step_latency", float, 0),
        default=None,
        help=f"seconds per batched MD step at least (default: paper.cost.step_latency, else the ASSUMED {DEFAULT_STEP_LATENCY:g})",
    )
    p.add_argument("--from-log", default=None, help="a simulate job's log: its measured branch steps/s gives the FLOP rate")
    p.add_argument("--jobs", action="store_true", help="also list every job's estimate")


def _cmd_cost(args: argparse.Namespace) -> int:
    from tdlm.paper.cost import estimate, format_estimate, rate_from_log
    from tdlm.sweep.settings import check_config_values

    config = load_yaml(args.config, "config")
    check_config_values(config)
    try:
        flops_rate, source = args.flops_rate, None
        if args.from_log:
            flops_rate, source = rate_from_log(args.from_log, config)
        est = estimate(config, args.step_rate, flops_rate, args.step_latency, source)
    except (KeyError, TypeError, AttributeError, IndexError) as err:  # a mapping, but not a workflow config
        return fail("cost", f"config: {args.config} is not a workflow config ({type(err).__name__}: {err}); see config/README.md")
    except (ConfigError, ValueError) as err:
        return fail("cost", err)
    print(format_estimate(est, args.config))
    if (config.get("refine") or {}).get("rounds"):
        from tdlm.paper.cost import refinement_worst_case

        settings = config["refine"]
        worst = estimate(refinement_worst_case(config), args.step_rate, flops_rate, args.step_latency, source)
        label = (
            f"the refinement's worst case ({settings['rounds']} rounds, every bracket split, every point at the sample budget)"
        )
        print(format_estimate(worst, label))
    if args.jobs:
        for j in est.jobs:
            print(
                f"  M={j.M} N={j.N} L={j.L} T={j.T:g} job={j.job}: {j.samples} samples, "
                f"{j.replica_steps:.4g} replica-steps, {j.flop:.4g} FLOP, {j.seconds / 3600:.3g} h"
            )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the paper's subcommands to the `tdlm` parser."""
    for name, help_text, configure, handler in (
        (
            "paper-figures",
            "render the paper's figure set from overlaps.nc, phase.nc and design_space.nc",
            _figures_parser,
            _cmd_figures,
        ),
        ("design-space", "overlap matrices, P(Q) and clustering of one point from its job files", _design_parser, _cmd_design),
        ("cost", "replica-steps, FLOP and GPU hours of a workflow config before it runs", _cost_parser, _cmd_cost),
    ):
        add_command(subparsers, name, help_text, configure, handler)
