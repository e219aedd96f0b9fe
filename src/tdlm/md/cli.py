"""`tdlm simulate`: one MD job from parameters (YAML file, then flags) to a job file."""

from __future__ import annotations

import argparse
import sys

from tdlm.cli import EXIT_DIVERGED, add_command, fail
from tdlm.fields import ConfigError
from tdlm.md.params import FIELDS


def _simulate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of parameters (nested `data:` mapping allowed)")
    p.add_argument("--out", required=True, help="output netCDF file (written atomically)")
    p.add_argument(
        "--on-divergence",
        choices=("fail", "record"),
        default="fail",
        help="fail: exit 3, write nothing; record: write a file that records the divergence (a sweep's choice), exit 0",
    )
    FIELDS.add_flags(p)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tdlm.md import params as P
    from tdlm.md.checkpoint import CheckpointMismatch
    from tdlm.md.checks import Divergence
    from tdlm.md.run import Interrupted
    from tdlm.md.simulate import run

    try:
        params = P.load(args.config, FIELDS.from_args(args))
        run(params, args.out, record_divergence=args.on_divergence == "record")
    except (ConfigError, CheckpointMismatch, FileNotFoundError, ValueError) as err:
        return fail("simulate", err)
    except Divergence as err:
        print(f"tdlm simulate: diverged: {err}; the last good checkpoint is kept", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as err:
        print(f"tdlm simulate: {err}; run the same command again to resume", file=sys.stderr)
        return 128 + err.signum
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers, "simulate", "run one MD job (one parameter point, one or more samples)", _simulate_parser, _cmd_simulate
    )
