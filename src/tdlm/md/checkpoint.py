"""Atomic, checksummed checkpoints: a crash at any moment leaves either the old or the new file, never half
of one, and a file damaged afterwards (flipped bytes, truncated, empty, foreign) is recognised, never resumed.

Layout: MAGIC, the SHA-256 of the body, the body (torch.save of the payload). A damaged checkpoint is
moved aside to `<name>.damaged` and the job starts over from t = 0, so a retry heals by itself; a
checkpoint that is intact but written for other parameters is refused (resuming it would mix two runs).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any

import torch

from tdlm.storage import atomic_replace, move_aside

MAGIC = b"TDLM-CKPT-1\n"
DIGEST_BYTES = 32
log = logging.getLogger("tdlm")


class CheckpointMismatch(RuntimeError):
    """A checkpoint exists for different parameters; resuming from it would mix two runs."""


class CheckpointDamaged(RuntimeError):
    """The file is not an intact checkpoint of this format."""


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
