"""The `tdlm` command: the workflow's rules call only these subcommands.

Each family registers its own subcommands through `register(subparsers)` (listed in `families()`): the MD
engine (`simulate`), the sweep (`gather-point`, `gather`, `classify`, `plot-phase`, `tables`, `refine-plan`,
`boundaries`, `compare-families`), the binary-weight family, the paper's figure set, and the workflow config
of every family (`sweep-check`, `params`, `schema`). This module is the top of the import layers: nothing
imports it (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import time
import traceback
from collections.abc import Mapping
from types import ModuleType

from tdlm import __version__

# the exit codes of every command, also reachable as tdlm.cli's (the command's contract)
from tdlm.commands import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, fail
from tdlm.commands import EXIT_DIVERGED as EXIT_DIVERGED
from tdlm.commands import EXIT_INTERNAL as EXIT_INTERNAL
from tdlm.fields import Field, flag_type, interval

MAX_THREADS = os.cpu_count() or 1


def families() -> tuple[ModuleType, ...]:
    """The command modules, each with `register(subparsers)`: the four families' and the workflow config's
    (sweep-check, params, schema: it composes the families). Imported here, at the top, and never the other
    way round: a family builds its commands from `tdlm.commands` (tests/test_imports.py)."""
    from tdlm import workflow_config
    from tdlm.binarynet import cli as binarynet
    from tdlm.md import cli as md
    from tdlm.paper import cli as paper
    from tdlm.sweep import cli as sweep

    return (md, sweep, binarynet, paper, workflow_config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdlm", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("-v", "--verbose", "--debug", action="store_true", help="debug logging; a traceback with every error")
    parser.add_argument("--version", action="version", version=f"tdlm {__version__}")
    parser.add_argument(
        "--threads",
        type=flag_type(
            Field("threads", int, None, "", interval(1, MAX_THREADS, text=f"integers in [1, {MAX_THREADS}] (the CPUs)"))
        ),
        default=None,
        help="CPU threads for torch (default: 1 for simulate unless OMP_NUM_THREADS is set, else torch's choice; set it to the cores a job owns to avoid oversubscription)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for family in families():
        family.register(sub)
    return parser


# the netCDF file arguments each command takes: (argument, kind of every file) or (argument, [kind of the
# first file, of the second, ...]); job files are opened by `tdlm.sweep.gather.read_job`, which also moves
# a damaged one aside. Every one is opened through tdlm.files.open_input before the command starts.
FILE_ARGS: dict[str, tuple[tuple[str, str | list[str]], ...]] = {
    "gather": (("jobs", "point"),),
    "classify": (("overlaps", "sweep"),),
    "plot-phase": (("phase", "phase"),),
    "tables": (("phase", "phase"),),
    "boundaries": (("phase", "phase"),),
    "compare-families": (("inputs", ["phase", "binary-sweep"]),),
    "binary-gather": (("jobs", "binary-point"),),
    "binary-plot": (("inputs", ["binary-sweep"]),),
    "paper-figures": (("overlaps", "sweep"), ("phase", "phase"), ("design", "design")),
    "design-space": (("phase", "phase"),),
}
PATH_ARGS = ("out", "outdir", "config", "plan", "previous", "jobs", "inputs", "overlaps", "phase", "design")


def check_files(args: argparse.Namespace) -> None:
    """Before a command starts: each file argument is what it claims (`FILE_ARGS`), and no file plays two
    roles (an input given twice, an output over an input or a config)."""
    from tdlm.files import distinct_paths, open_input, probe_writable

    for dest, kinds in FILE_ARGS.get(args.command, ()):
        paths = getattr(args, dest, None)
        paths = paths if isinstance(paths, list) else [paths]
        for i, path in enumerate(p for p in paths if p is not None):
            kind = kinds if isinstance(kinds, str) else kinds[min(i, len(kinds) - 1)]
            open_input(path, kind, dest).close()
    roles: dict[str, object] = {}
    for dest in PATH_ARGS:
        value = getattr(args, dest, None)
        values = value if isinstance(value, list) else [value]
        roles.update(
            {f"{dest}[{i}]" if len(values) > 1 else dest: v for i, v in enumerate(values) if isinstance(v, (str, os.PathLike))}
        )
    distinct_paths(roles)
    if isinstance(getattr(args, "out", None), (str, os.PathLike)):
        probe_writable(args.out)


def repeated_flags(argv: list[str]) -> list[str]:
    """Flags given more than once (argparse keeps the last one silently: `--M 20 --M 40` would run M = 40)."""
    seen, repeated = set(), []
    for word in argv:
        if word == "--":
            break
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            if flag in seen and flag not in repeated:
                repeated.append(flag)
            seen.add(flag)
    return repeated


def torch_threads(flag: int | None, command: str, environ: Mapping[str, str]) -> int | None:
    """The CPU threads torch is set to (None: torch's own choice): `--threads`, else one for `simulate`
    unless OMP_NUM_THREADS is set (torch follows it). Torch's default, every core, made a standalone
    simulate on a loaded 2-core machine run at 27-198 steps/s against 1192 on one thread (issue 27)."""
    if flag:
        return flag
    return 1 if command == "simulate" and not environ.get("OMP_NUM_THREADS") else None


def main(argv: list[str] | None = None) -> int:
    """The `tdlm` command and its one error boundary: every anticipated failure (a bad value, a bad file, no
    space or permission, too little memory) is a named error, exit 2 (3 for a divergence, raised by the
    command); anything else is reported in one line as an internal error (exit 1) whose traceback only
    `-v`/`--debug` shows. A closed stdout (`tdlm ... | head`) ends the command quietly."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    repeated = repeated_flags(argv)
    if repeated:
        parser.error(f"{', '.join(repeated)}: given more than once; give each flag once")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    try:
        threads = torch_threads(args.threads, args.command, os.environ)
        if threads:
            import torch

            torch.set_num_threads(threads)
        if args.command == "simulate":
            import torch

            logging.getLogger("tdlm").info("torch threads: %d", torch.get_num_threads())
        check_files(args)
        return _run_logged(args)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return fail(args.command, "interrupted", EXIT_INTERRUPTED)
    except Exception as err:  # noqa: BLE001 - the boundary: named, never a bare traceback
        if args.verbose:
            traceback.print_exc()
        return fail(args.command, *named(err))


def _run_logged(args: argparse.Namespace) -> int:
    """The command, then (when it succeeded) one log line with what it read and wrote and its seconds."""
    from tdlm.io_log import io_summary

    started, clock = time.time(), time.monotonic()
    code = args.handler(args)
    summary = io_summary(args, PATH_ARGS, started, time.monotonic() - clock) if code == 0 else ""
    if summary:
        logging.getLogger("tdlm").info("%s: %s", args.command, summary)
    return code


def named(err: BaseException) -> tuple[str, int]:
    """(message, exit code) of an error that reached the boundary: the project's named errors as they are,
    the operating system's with the file they concern, the rest as an internal error."""
    from tdlm.fields import ConfigError
    from tdlm.files import FileError

    if isinstance(err, (ConfigError, FileError)):
        return str(err), EXIT_BAD_INPUT
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        what = errno.errorcode.get(err.errno, "") if err.errno else ""
        return f"{where}{err.strerror or err}{f' ({what})' if what else ''}", EXIT_BAD_INPUT
    if isinstance(err, MemoryError):
        return "out of memory; allowed values: smaller sizes (M, N, L, replicas, samples per job) or more memory", EXIT_BAD_INPUT
    return f"internal error ({type(err).__name__}: {err}); run with -v for the traceback", EXIT_INTERNAL


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that Python's exit flush does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
