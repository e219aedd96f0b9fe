"""Atomic checkpoints: a crash at any moment leaves either the old or the new file, never half of one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tdlm.storage import atomic_replace


class CheckpointMismatch(RuntimeError):
    """A checkpoint exists for different parameters; resuming from it would mix two runs."""


def save(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    atomic_replace(tmp, path)


def load(path: Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to parameters with physics key `key`; None if absent."""
    if not path.exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if payload.get("key") != key:
        raise CheckpointMismatch(
            f"checkpoint {path} was written for different parameters (key {payload.get('key')}, "
            f"now {key}); delete it or restore the original parameters (its parameters: {payload.get('params')})"
        )
    return payload
