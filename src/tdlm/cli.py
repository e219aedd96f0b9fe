"""The `tdlm` command: the workflow's rules call only these subcommands.

Each subpackage registers its own subcommands through `register(subparsers)`: the MD engine
(`simulate`), the sweep (`gather-point`, `gather`, `classify`, `plot-phase`, `sweep-check`,
`compare-families`), the binary-weight family and the paper's figure set.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from tdlm import __version__

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
SUBPACKAGES = ("tdlm.md.cli", "tdlm.sweep.cli", "tdlm.binarynet.cli", "tdlm.paper.cli")

Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    help_text: str,
    configure: Callable[[argparse.ArgumentParser], None],
    handler: Handler,
) -> argparse.ArgumentParser:
    """One subcommand: its flags from `configure`, its handler stored as the `handler` default."""
    p = subparsers.add_parser(
        name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False
    )
    configure(p)
    p.set_defaults(handler=handler)
    return p


def fail(command: str, err: BaseException | str, code: int = EXIT_BAD_INPUT) -> int:
    """Print `tdlm <command>: error: <err>` and return the exit code (bad input: 2)."""
    print(f"tdlm {command}: error: {err}", file=sys.stderr)
    return code


def combining(module: str, function: str, options: tuple[str, ...] = ()) -> Handler:
    """Handler of a command that combines netCDF files into one (with `options`, flags passed on by name);
    the module is imported on use only."""

    def handler(args: argparse.Namespace) -> int:
        try:
            extra = {name: getattr(args, name) for name in options}
            getattr(importlib.import_module(module), function)(args.jobs, args.out, **extra)
        except ValueError as err:  # inconsistent or damaged inputs: named, nothing written
            return fail(args.command, err)
        return 0

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdlm", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"tdlm {__version__}")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice; set it to the cores a job owns to avoid oversubscription)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBPACKAGES:
        importlib.import_module(name).register(sub)
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
