"""Atomic, checksummed checkpoints: a crash at any moment leaves either the old or the new file, never half
of one, and a file damaged afterwards (flipped bytes, truncated, empty, foreign) is recognised, never resumed.

Layout: MAGIC, the SHA-256 of the body, the body (torch.save of the payload). A damaged checkpoint is
moved aside to `<name>.damaged` and the job starts over from t = 0, so a retry heals by itself; a
checkpoint that is intact but written for other parameters is refused (resuming it would mix two runs).

A checkpoint also records the devices that computed its trajectory (type, model, compute capability).
A CPU generator state and a CUDA one are different objects (a Mersenne twister, a Philox seed and
offset), so a resume on another device type is refused with the way out; a resume on another GPU
model is allowed with a warning, because which random number each element gets depends on the
model's launch grid: the run continues a different, equally valid trajectory, and says so.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from tdlm.io import atomic_replace
from tdlm.md.state import MDState
from tdlm.storage import move_aside

MAGIC = b"TDLM-CKPT-1\n"
DIGEST_BYTES = 32
log = logging.getLogger("tdlm")


class CheckpointMismatch(RuntimeError):
    """A checkpoint exists for different parameters; resuming from it would mix two runs."""


class CheckpointDeviceMismatch(CheckpointMismatch):
    """The checkpoint was written on another device type; its generator state cannot continue here."""


class CheckpointDamaged(RuntimeError):
    """The file is not an intact checkpoint of this format."""


class CheckpointClock:
    """When the next checkpoint is due: `steps` steps or `seconds` of wall time after the last one (0: never
    by that measure). The run loop stops stepping at `next_step` and asks `time_due` between steps."""

    def __init__(self, steps: int, seconds: float, step: int = 0):
        self.steps, self.seconds = steps, seconds
        self.last_step, self.last_time = step, time.monotonic()

    def count_from(self, step: int) -> None:
        """Count steps from `step` (a resume, or the branch phase's step 0); the wall time keeps running."""
        self.last_step = step

    def written(self, step: int) -> None:
        """A checkpoint of `step` was written now."""
        self.last_step, self.last_time = step, time.monotonic()

    def next_step(self) -> int | None:
        """The step at which the step count makes a checkpoint due; None without one."""
        return self.last_step + self.steps if self.steps > 0 else None

    def time_due(self) -> bool:
        return self.seconds > 0 and time.monotonic() - self.last_time >= self.seconds

    def due(self, step: int) -> bool:
        return (self.steps > 0 and step - self.last_step >= self.steps) or self.time_due()


def save(path: Path, payload: dict[str, Any]) -> None:
    body = io.BytesIO()
    torch.save(payload, body)
    data = body.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(MAGIC + hashlib.sha256(data).digest() + data)
    atomic_replace(tmp, path)


def read(path: Path) -> dict[str, Any]:
    """The payload of an intact checkpoint; CheckpointDamaged (naming the file and the fault) otherwise."""
    raw = path.read_bytes()
    head = len(MAGIC) + DIGEST_BYTES
    if len(raw) < head or not raw.startswith(MAGIC):
        raise CheckpointDamaged(
            f"checkpoint {path} is not a tdlm checkpoint ({len(raw)} bytes, no {MAGIC.strip().decode()} header)"
        )
    digest, data = raw[len(MAGIC) : head], raw[head:]
    if hashlib.sha256(data).digest() != digest:
        raise CheckpointDamaged(f"checkpoint {path} is damaged: its content does not match its SHA-256 checksum")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure of a checksummed body is damage too
        raise CheckpointDamaged(f"checkpoint {path} cannot be read: {type(err).__name__}: {err}") from None
    if not isinstance(payload, dict):
        raise CheckpointDamaged(f"checkpoint {path} holds a {type(payload).__name__}, not a checkpoint mapping")
    return payload


def load(path: Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to parameters with physics key `key`; None if absent or
    damaged (a damaged file is moved aside and logged: the job starts over from t = 0)."""
    if not path.exists():
        return None
    try:
        payload = read(path)
    except CheckpointDamaged as err:
        aside = move_aside(path)
        log.warning("%s; moved to %s, starting over from t = 0", err, aside)
        return None
    if payload.get("key") != key:
        raise CheckpointMismatch(
            f"checkpoint {path} was written for different parameters (key {payload.get('key')}, "
            f"now {key}); delete it or restore the original parameters (its parameters: {payload.get('params')})"
        )
    return payload


def restore(path: Path, payload: dict[str, Any], device: torch.device) -> MDState:
    """The MD state of a checkpoint's payload on `device`. A generator state written on another device type
    (a checkpoint too old to record its device) is refused by name, as check_device refuses the others."""
    rng = torch.Generator(device=device)
    saved = payload["rng"]
    try:
        rng.set_state(saved)
    except RuntimeError as err:
        raise CheckpointDeviceMismatch(
            f"checkpoint {path} holds a generator state of {saved.numel()} bytes that a "
            f"{device.type} generator cannot take ({err}); resume it on the device type that "
            f"wrote it (--device), or delete it to start this job over on {device.type} (from t = 0)"
        ) from None
    return MDState(payload["position"].to(device), payload["velocity"].to(device), rng, payload["step"])


def check_device(path: Path, payload: dict[str, Any], here: dict[str, str]) -> list[dict[str, str]]:
    """The devices (tdlm.device.describe records) that computed the checkpoint's trajectory, with `here`
    appended when it is another model. CheckpointDeviceMismatch when it was written on another device
    type; a warning when on another model of the same type."""
    devices = list(payload.get("devices") or [])
    if not devices:  # written before checkpoints recorded their device: the generator state tells
        return [here]
    last = devices[-1]
    if last["device"] != here["device"]:
        raise CheckpointDeviceMismatch(
            f"checkpoint {path} was written on {_named(last)}, this run is on {_named(here)}: a "
            f"{last['device']} generator state cannot continue on {here['device']}. Resume it with "
            f"--device {last['device']} on a machine that has one, or delete it to start this job over on "
            f"{here['device']} (from t = 0)"
        )
    if here not in devices:
        log.warning(
            "checkpoint %s was written on %s and resumes on %s: the trajectory may continue differently from an "
            "uninterrupted run on one model (equally valid; the output's devices_json lists both)",
            path,
            _named(last),
            _named(here),
        )
        devices.append(here)
    return devices


def _named(record: dict[str, str]) -> str:
    if record["device"] == "cuda":
        return f"cuda ({record['device_name']}, compute capability {record['device_capability']})"
    return f"cpu ({record['device_name']})"
