"""What every family's subcommands share: registration, exit codes and the parsers of common shapes.

This module is the bottom of the command layer: `tdlm.cli` (the top) collects the families' `register`
functions, and each family's `cli.py` builds its subcommands from what is here. Nothing here imports a
family, and no family imports `tdlm.cli` or another family's CLI, so the command tree has no cycle.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command a closed pipe ended

Handler = Callable[[argparse.Namespace], int]


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each flag's default to its help, unless the help already says it (`default:`): a help
    that explains where its default comes from would otherwise print it twice."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    help_text: str,
    configure: Callable[[argparse.ArgumentParser], None],
    handler: Handler,
) -> argparse.ArgumentParser:
    """One subcommand: its flags from `configure`, its handler stored as the `handler` default."""
    p = subparsers.add_parser(name, help=help_text, description=help_text, formatter_class=DefaultsFormatter, allow_abbrev=False)
    configure(p)
    p.set_defaults(handler=handler)
    return p


def fail(command: str, err: BaseException | str, code: int = EXIT_BAD_INPUT) -> int:
    """Print `tdlm <command>: error: <err>` and return the exit code (bad input: 2)."""
    print(f"tdlm {command}: error: {err}", file=sys.stderr)
    return code


def combining(module: str, function: str, options: tuple[str, ...] = ()) -> Handler:
    """Handler of a command that combines netCDF files into one (with `options`, flags passed on by name);
    the module, of the registering family, is imported on use only (the parser stays light)."""

    def handler(args: argparse.Namespace) -> int:
        try:
            extra = {name: getattr(args, name) for name in options}
            getattr(importlib.import_module(module), function)(args.jobs, args.out, **extra)
        except ValueError as err:  # inconsistent or damaged inputs: named, nothing written
            return fail(args.command, err)
        return 0

    return handler


def gather_parser(p: argparse.ArgumentParser) -> None:
    """Flags of a command that combines job or point files into one."""
    p.add_argument("jobs", nargs="+", help="per-job netCDF files of one parameter point")
    p.add_argument("--out", required=True)


def figure_parser(p: argparse.ArgumentParser) -> None:
    """Flags of a figure drawn from netCDF inputs: the inputs and the figure's stem."""
    p.add_argument("inputs", nargs="+", help="input netCDF files")
    p.add_argument("--out", required=True, help="figure stem (writes <stem>.png and <stem>.pdf)")
