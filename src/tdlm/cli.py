"""The `tdlm` command: the workflow's rules call only these subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable

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
    from tdlm.protocol import Divergence
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
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def _simulate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of parameters (nested `data:` mapping allowed)")
    p.add_argument("--out", required=True, help="output netCDF file (written atomically)")
    add_param_flags(p)


COMMANDS["simulate"] = ("run one MD job (one parameter point, one or more samples)", _simulate_parser, _cmd_simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdlm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, configure, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        configure(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr,
    )
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
