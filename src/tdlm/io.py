"""Every output file is written atomically: netCDF, CSV, JSON and figures through one door.

A file is written under a hidden temporary name beside its target (`tdlm.files.tmp_name`: `.<name>.tmp<pid>`),
synced, then renamed over the target, so that no reader (Snakemake, a notebook, the next rule) ever sees a
half-written file under the final name. A temporary of a killed earlier run of the same output is removed first
(`tdlm.files.clean_stale_tmp`); a failed write removes its temporary and raises `OutputError` naming the file.
The bytes written are those of the format's writer (`to_csv`, `json.dumps`, `to_netcdf`): only the name the
writer writes to differs from a plain write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tdlm.files import FileError, clean_stale_tmp, tmp_name

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr


class OutputError(FileError):
    """An output could not be written (no space, no permission, ...); nothing was written in its place."""


def write_failed(out: Path, err: BaseException) -> OutputError:
    """A write that failed on the file system (no space, no permission, an HDF error) as a named error."""
    reason = getattr(err, "strerror", None) or str(err)
    return OutputError(f"{out}: cannot write ({reason}); nothing was written there and the temporary file was removed")


def atomic_replace(tmp: Path, final: Path) -> None:
    """fsync the temporary file, then rename it over the final name."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


@contextmanager
def atomic(out: str | Path) -> Iterator[Path]:
    """The temporary path to write `out` to; renamed over `out` when the block ends without an error.
    The folder is made; a failed write (ENOSPC, EACCES, an HDF error) raises OutputError naming `out`,
    and the temporary never survives."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out)
    tmp = tmp_name(out)
    try:
        yield tmp
        atomic_replace(tmp, out)
    except (OSError, RuntimeError) as err:  # RuntimeError: netCDF4's "NetCDF: HDF error"
        raise write_failed(out, err) from err
    finally:
        tmp.unlink(missing_ok=True)


def write_netcdf(ds: xr.Dataset, out: str | Path, encoding: dict[str, Any] | None = None) -> None:
    """`ds` to `out` (netCDF4) atomically; `tdlm.storage.write_atomic` adds the metadata every file carries."""
    with atomic(out) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)


def write_csv(frame: pd.DataFrame, out: str | Path) -> None:
    """A table to `out` as CSV without the index, atomically."""
    with atomic(out) as tmp:
        frame.to_csv(tmp, index=False)


def write_json(data: Any, out: str | Path, indent: int = 1, sort_keys: bool = False) -> None:
    """`data` to `out` as JSON (`json.dumps` with `indent` and `sort_keys`), atomically."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys)
    with atomic(out) as tmp:
        tmp.write_text(text)


def write_figure(fig: Any, out: str | Path, **savefig: Any) -> None:
    """A matplotlib figure to `out`, in the format its suffix names, atomically."""
    out = Path(out)
    with atomic(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip("."), **savefig)
