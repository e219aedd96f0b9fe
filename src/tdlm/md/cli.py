"""`tdlm simulate`: one MD job from parameters (YAML file, then flags) to a job file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tdlm.commands import EXIT_DIVERGED, add_command, fail
from tdlm.device import check_fits_memory
from tdlm.fields import ConfigError
from tdlm.files import FileError, clean_stale_tmp, distinct_paths
from tdlm.md.params import FIELDS

if TYPE_CHECKING:
    from tdlm.md import params as P


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
    from tdlm.io import OutputError
    from tdlm.md import params as P
    from tdlm.md.checkpoint import CheckpointMismatch
    from tdlm.md.checks import Divergence
    from tdlm.md.run import Interrupted
    from tdlm.md.simulate import run

    try:
        params = P.load(args.config, FIELDS.from_args(args))
        check_files(args.out, params.checkpoint_path, args.config)
        check_memory(params)
        run(params, args.out, record_divergence=args.on_divergence == "record")
    except OutputError as err:  # no space, no permission: the checkpoint of the work done survives
        return fail("simulate", f"{err}; the checkpoint is kept, run the same command again to resume")
    except (ConfigError, CheckpointMismatch, FileNotFoundError, ValueError) as err:
        return fail("simulate", err)
    except Divergence as err:
        print(f"tdlm simulate: diverged: {err}; the last good checkpoint is kept", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as err:
        print(f"tdlm simulate: {err}; run the same command again to resume", file=sys.stderr)
        return 128 + err.signum
    return 0


def check_files(out: str, checkpoint: str | None, config: str | None) -> None:
    """The output, the checkpoint and the config are three different files; a file at the checkpoint's place
    is a tdlm checkpoint (or empty), never a foreign file that a damaged-checkpoint rename would move aside;
    the temporaries of a killed run of this job are removed."""
    from tdlm.md.checkpoint import MAGIC
    from tdlm.md.simulate import default_checkpoint

    ckpt = Path(checkpoint) if checkpoint else default_checkpoint(out)
    distinct_paths({"--out": out, "checkpoint_path": ckpt, "--config": config})
    if ckpt.is_dir():
        raise FileError(f"checkpoint_path: {ckpt} is a folder; allowed values: a file path")
    if ckpt.is_file() and ckpt.stat().st_size:
        with open(ckpt, "rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                raise FileError(
                    f"checkpoint_path: {ckpt} exists and is not a tdlm checkpoint; refusing to touch it; "
                    "allowed values: a new path or a tdlm checkpoint"
                )
    for path in (Path(out), ckpt):
        clean_stale_tmp(path)


def check_memory(params: P.SimParams) -> None:
    """The job's times fit int64, and its memory, estimated from its sizes before any data or MD, fits what
    the machine has free."""
    from tdlm.data import PIXELS
    from tdlm.md.memory import job_memory_mb, time_errors

    sizes = {
        "data": {"classes": list(params.data.classes)},
        "t_w": list(params.t_w),
        "n_replicas": params.n_replicas,
        "samples_per_job": len(params.samples),
        "dtype": params.dtype,
        "t_star": params.t_star,
        "record_per_decade": params.record_per_decade,
    }
    errors = time_errors(params.t_w, params.t_star)
    if errors:
        raise ConfigError(errors[0])
    need = job_memory_mb(sizes, params.M, params.N, params.L, PIXELS[params.data.source])
    check_fits_memory(need, "M, N, L, n_replicas, t_w, samples, t_star, record_per_decade")


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers, "simulate", "run one MD job (one parameter point, one or more samples)", _simulate_parser, _cmd_simulate
    )
