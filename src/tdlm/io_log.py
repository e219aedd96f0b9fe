"""The log line every `tdlm` command ends with: what it read and wrote (files, sizes) and how long it took,
so that every workflow rule's log says what happened (issue 27: the gather, classify, tables and plot logs
were empty)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# the arguments that name a command's outputs; every other path argument of tdlm.cli.PATH_ARGS is an input
OUTPUT_ARGS = ("out", "outdir")
SHOWN = 3  # names listed of a longer list of files


def _files(value: object) -> list[Path]:
    values = value if isinstance(value, list) else [value]
    return [Path(v) for v in values if isinstance(v, (str, os.PathLike)) and Path(v).is_file()]


def _size(paths: list[Path]) -> str:
    total = sum(p.stat().st_size for p in paths)
    return f"{total / 1e6:.2f} MB" if total >= 1e5 else f"{total / 1e3:.1f} kB"


def _names(paths: list[Path]) -> str:
    names = [str(p) for p in paths]
    return ", ".join(names if len(names) <= SHOWN else [*names[: SHOWN - 1], "...", names[-1]])


def io_summary(args: argparse.Namespace, path_args: tuple[str, ...], started: float, seconds: float) -> str:
    """`read N files (size): names; wrote M files (size): names; S s` of a finished command ("" when it
    read and wrote no file: `tdlm params` says nothing more than its table): the inputs
    are the files its path arguments name, the outputs its `--out` file or the files its `--outdir` holds
    that were written since `started` (a time.time())."""
    inputs = [p for dest in path_args if dest not in OUTPUT_ARGS for p in _files(getattr(args, dest, None))]
    outputs = _files(getattr(args, "out", None))
    outdir = getattr(args, "outdir", None)
    if isinstance(outdir, (str, os.PathLike)) and Path(outdir).is_dir():
        outputs += sorted(p for p in Path(outdir).iterdir() if p.is_file() and p.stat().st_mtime >= started - 1)
    parts = [f"read {len(inputs)} files ({_size(inputs)}): {_names(inputs)}"] if inputs else []
    parts += [f"wrote {len(outputs)} files ({_size(outputs)}): {_names(outputs)}"] if outputs else []
    return "; ".join([*parts, f"{seconds:.2f} s"]) if parts else ""
