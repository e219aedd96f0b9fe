"""Every file argument through one door: a file is what it claims to be, or a named error.

`open_input` is how a command opens a netCDF file it is given: it checks that the file exists, is a
readable netCDF file, is of the kind the argument expects (the `tdlm_kind` attribute that
`tdlm.storage.write_atomic` stamps on every file, or the kind its content shows for files written
before the stamp) and, for job and point files inside a sweep's tree, that its parameters are the
ones its path names (a job file copied over another point's would otherwise drop that point silently).

The rest keeps the project's hands off what is not its own: `is_own` (may a damaged file be renamed?),
`distinct_paths` (an output, a checkpoint and a config are three files), `clean_stale_tmp` (temporary
files of a killed run of the same step, and only those).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

# what each kind of file is, in the words of an error message
KINDS = {
    "job": "a job file of `tdlm simulate`",
    "point": "a point file of `tdlm gather-point`",
    "sweep": "an overlaps.nc of `tdlm gather`",
    "phase": "a phase.nc of `tdlm classify`",
    "boundary": "a boundary.nc of `tdlm boundaries`",
    "design": "a design_space.nc of `tdlm design-space`",
    "binary-point": "a point file of `tdlm binary-simulate`",
    "binary-sweep": "a measures.nc of `tdlm binary-gather`",
}
FORMAT_VERSION = 1  # of the files' layout; a reader refuses a newer one
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first bytes of every netCDF-4 file
PATH_KEYS = {"M": int, "N": int, "L": int, "T": float}  # the parameters a sweep's paths name (M~20/N~4/...)


class FileError(ValueError):
    """A file argument is missing, unreadable, foreign, of the wrong kind or inconsistent; the message
    names the argument, the file and what was expected."""


class UnreadableFile(FileError):
    """The file exists but is not a readable netCDF file (garbage, truncated, foreign format)."""


def infer_kind(ds: xr.Dataset) -> str | None:
    """The kind a dataset's content shows (files written before `tdlm_kind` existed, and the stamp of a
    new file); None when it is none of the project's."""
    attrs = ds.attrs
    if attrs.get("family") == "binary":
        return "binary-sweep"
    if "n_accepted" in attrs:
        return "binary-point"
    if "classify_threshold" in attrs or "phase" in ds.data_vars:
        return "phase"
    if "design_t_w" in attrs:
        return "design"
    if "estimate" in ds.data_vars and "boundary" in ds.dims:
        return "boundary"
    if "replica" in ds.dims or "noise_seed" in attrs or ("diverged" in attrs and "alpha" not in ds.dims):
        return "job"
    if "jobs_json" in attrs or ("diverged" in attrs and "alpha" in ds.dims):
        return "point"
    if {"alpha", "L", "T"} <= set(ds.dims):
        return "sweep"
    return None


def kind_of(ds: xr.Dataset) -> str | None:
    return ds.attrs.get("tdlm_kind") or infer_kind(ds)


def _expected(kinds: tuple[str, ...]) -> str:
    return " or ".join(KINDS[k] for k in kinds)


def open_input(path: str | Path, kinds: str | Iterable[str], flag: str, load: bool = False) -> xr.Dataset:
    """The netCDF file `path` given as `flag`, opened lazily (or loaded), once it is known to be one of
    `kinds` and, for a job or point file of a sweep's tree, to hold the parameters its path names.
    Raises FileError naming `flag`, the file and what was expected."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    path = Path(path)
    expected = _expected(kinds)
    if not path.exists():
        raise FileError(f"{flag}: {path}: No such file; expected {expected}")
    if path.is_dir():
        raise FileError(f"{flag}: {path} is a folder; expected {expected}")
    try:
        ds = xr.load_dataset(path, engine="netcdf4") if load else xr.open_dataset(path, engine="netcdf4")
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or str(err).split(":", 1)[-1].strip() or type(err).__name__
        raise UnreadableFile(f"{flag}: {path} is not a readable netCDF file ({reason}); expected {expected}") from None
    try:
        _check(ds, path, kinds, flag, expected)
    except FileError:
        ds.close()
        raise
    return ds


def _check(ds: xr.Dataset, path: Path, kinds: tuple[str, ...], flag: str, expected: str) -> None:
    kind = kind_of(ds)
    if kind not in kinds:
        what = KINDS.get(kind, f"a file of kind {kind!r}") if kind else "not a tdlm file"
        raise FileError(f"{flag}: {path} is {what}; expected {expected}")
    version = ds.attrs.get("tdlm_format_version", FORMAT_VERSION)
    if not isinstance(version, (int, float, np.integer)) or int(version) > FORMAT_VERSION:
        raise FileError(
            f"{flag}: {path} has format version {version!r}; this tdlm reads versions <= {FORMAT_VERSION} (a newer tdlm wrote it)"
        )
    if kind in ("job", "point"):
        check_path_matches(path, parameters(ds, path, flag), flag)


@contextmanager
def reading(path: str | Path, flag: str) -> Iterator[None]:
    """Data read lazily from an opened file argument: a read that fails halfway (damaged chunks: "NetCDF: HDF
    error") is a FileError naming the file, not an error without a path."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        raise FileError(f"{flag}: {path} cannot be read ({getattr(err, 'strerror', None) or err}); is it damaged?") from None


def parameters(ds: xr.Dataset, path: Path, flag: str) -> dict[str, Any]:
    """The parameters a job or point file records (`params_json`); a FileError when they are missing."""
    try:
        params = json.loads(ds.attrs["params_json"])
    except (KeyError, TypeError, ValueError):
        raise FileError(f"{flag}: {path} records no parameters (params_json); expected {_expected(('job', 'point'))}") from None
    if not isinstance(params, dict):
        raise FileError(f"{flag}: {path}: params_json is not a mapping of parameters")
    return params


def read_json(path: str | Path, flag: str) -> dict[str, Any]:
    """A JSON mapping from a file argument (a refinement plan); FileError when missing, garbage or not a mapping."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise FileError(f"{flag}: cannot read {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise FileError(f"{flag}: {path} is not a JSON file ({err})") from None
    if not isinstance(data, dict):
        raise FileError(f"{flag}: {path}: expected a JSON mapping, got {type(data).__name__}")
    return data


def path_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters named by the components of a sweep's path (`.../M~20/N~4/L~3/T~1e-05/job~0.nc`)."""
    found: dict[str, Any] = {}
    for part in Path(path).parts:
        match = re.fullmatch(r"(M|N|L|T)~([0-9.eE+-]+?)(\.nc)?", part)
        if match:
            try:
                found[match.group(1)] = PATH_KEYS[match.group(1)](match.group(2))
            except ValueError:
                continue
    return found


def check_path_matches(path: str | Path, params: dict[str, Any], flag: str) -> None:
    """A file at a path that names parameters must hold those parameters."""
    for key, value in path_parameters(path).items():
        held = params.get(key)
        same = isinstance(held, (int, float)) and math.isclose(float(held), float(value), rel_tol=1e-5)
        if not same:
            raise FileError(
                f"{flag}: {path} holds {key} = {held!r} but its path says {key} = {value:g}; "
                "a file of another point was copied here: remove it so that the workflow recomputes it"
            )


def is_own(path: str | Path) -> bool:
    """May the project rename this damaged file as a result of its own? Only a netCDF-4 file (a half-written
    or corrupted one still starts with the HDF5 signature) at a place of a sweep's tree (a path that names
    the point's M, N, L and T): never a config, a foreign file or one a user keeps elsewhere."""
    if set(path_parameters(path)) != set(PATH_KEYS):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def distinct_paths(paths: dict[str, str | Path | None]) -> None:
    """Refuse two roles on one file (`--out` and `--checkpoint-path`, or either and `--config`): a
    checkpoint written over the output or the config would destroy it."""
    seen: dict[Path, str] = {}
    for role, path in paths.items():
        if not path:
            continue
        resolved = Path(path).expanduser().resolve()
        if resolved in seen:
            raise FileError(f"{role}: {path} is also {seen[resolved]}; allowed values: a path different from {seen[resolved]}")
        seen[resolved] = role


def probe_writable(out: str | Path, flag: str = "--out") -> None:
    """Can `out` be written? Tried before a command starts (a folder that cannot be made, no permission, a
    read-only file system), leaving nothing behind: the probe and any folder made for it are removed."""
    out = Path(out)
    made = [p for p in reversed(out.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.with_name(f".{out.name}.probe{os.getpid()}")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise FileError(f"{flag}: cannot write {out}: {err.strerror or err}; nothing was written") from None
    finally:
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                break
    if out.is_dir():
        raise FileError(f"{flag}: {out} is a folder; allowed values: a file path")


def tmp_name(out: Path) -> Path:
    """The temporary name beside `out` that an atomic write of this process uses."""
    return out.with_name(f".{out.name}.tmp{os.getpid()}")


def clean_stale_tmp(out: str | Path) -> list[Path]:
    """Remove the temporary files `.<name>.tmp<pid>` of `out` left by a killed run of the same step (its
    process is gone); a live process's temporary is left alone. Returns what was removed."""
    out = Path(out)
    removed = []
    pattern = re.compile(re.escape(f".{out.name}.tmp") + r"(\d+)")
    try:
        candidates = list(out.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match and not _alive(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own earlier temporary (a previous attempt of this process) is stale too
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
