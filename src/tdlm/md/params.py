"""Parameters of one simulate job: defaults from the model spec, validation that names the field.

One table (`FIELDS`) drives the YAML keys, the command-line flags and their help, and the
validation, so the three can never disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from tdlm.data import SOURCES

THERMOSTATS = ("per_step", "literal")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """Invalid parameters; the message lists every bad field with its allowed values."""


@dataclass(frozen=True)
class Field:
    name: str  # dotted for nested keys, e.g. "data.source"
    kind: type  # int, float, str, bool, list
    default: Any
    help: str
    check: Callable[[Any], str | None] = lambda v: None  # returns an error text or None
    item: type | None = None  # element type of a list
    nullable: bool = False
    physics: bool = True  # False: does not change the trajectory (excluded from the checkpoint key)


def _choice(*allowed: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"got {v!r}; allowed values: {', '.join(allowed)}"


def _positive(v: Any) -> str | None:
    return None if v > 0 else f"got {v!r}; allowed values: > 0"


def _nonneg(v: Any) -> str | None:
    return None if v >= 0 else f"got {v!r}; allowed values: >= 0"


def _at_least(n: int) -> Callable[[Any], str | None]:
    return lambda v: None if v >= n else f"got {v!r}; allowed values: integers >= {n}"


def _eta(v: Any) -> str | None:
    return None if 0 < v < 1 else f"got {v!r}; allowed values: 0 < eta < 1"


def _nonneg_list(v: list) -> str | None:
    if not v:
        return "got an empty list; allowed values: a non-empty list of integers >= 0"
    if any(x < 0 for x in v) or len(set(v)) != len(v):
        return f"got {v!r}; allowed values: distinct integers >= 0"
    return None


def _classes(v: list) -> str | None:
    return None if len(v) >= 2 and len(set(v)) == len(v) else f"got {v!r}; allowed values: >= 2 distinct class labels"


FIELDS: tuple[Field, ...] = (
    Field("data.source", str, "digits", "data set: scikit-learn's 8x8 digits (embedded) or MNIST IDX files", _choice(*SOURCES)),
    Field("data.path", str, None, "folder with the MNIST IDX files (data.source=mnist)", nullable=True),
    Field("data.classes", list, [0, 1], "digit classes to keep (one output unit each)", _classes, item=int),
    Field("M", int, 200, "number of training examples (class-balanced)", _at_least(2)),
    Field("N", int, 10, "hidden width", _at_least(1)),
    Field("L", int, 10, "number of weight layers (spin layers 0..L)", _at_least(2)),
    Field("n_test", int, 400, "test examples (fewer if the data set is smaller)", _at_least(1)),
    Field("T", float, 1e-5, "temperature k_B T", _nonneg),
    Field("dt", float, 1e-2, "MD time step", _positive),
    Field("eta", float, 1e-3, "Langevin friction per step", _eta),
    Field(
        "thermostat", str, "per_step", "per_step: friction/noise once per step; literal: multiplied by dt", _choice(*THERMOSTATS)
    ),
    Field("t_w", list, [100, 1000, 10000, 50000], "waiting times (MD steps) at which replicas branch", _nonneg_list, item=int),
    Field("t_star", int, 500000, "steps after t_w at which q* is read (run length of each branch)", _at_least(1)),
    Field("n_replicas", int, 8, "replicas branched at each t_w", _at_least(2)),
    Field("seed", int, 0, "base seed; each sample derives its own from (seed, sample)", _nonneg),
    Field("samples", list, [0], "sample indices run in this job (batched together)", _nonneg_list, item=int),
    Field("record_per_decade", int, 10, "observation points per decade of t (log grid, plus t=0)", _at_least(1)),
    Field("store_spins", bool, True, "store final S snapshots of every replica (large for big M)", physics=False),
    Field("device", str, "auto", "auto (cuda if available), cpu or cuda", _choice(*DEVICES)),
    Field("dtype", str, "float32", "floating-point precision of the state", _choice(*DTYPES)),
    Field("tf32", bool, False, "allow TF32 matrix products on CUDA (faster, less precise)"),
    Field(
        "cuda_graph",
        bool,
        False,
        "capture each MD step as one CUDA graph (fewer launches; falls back to eager if capture fails)",
        physics=False,
    ),
    Field("checkpoint_steps", int, 20000, "write a checkpoint every this many steps (0: never by steps)", _nonneg, physics=False),
    Field(
        "checkpoint_seconds",
        float,
        600.0,
        "write a checkpoint every this many seconds (0: never by time)",
        _nonneg,
        physics=False,
    ),
    Field("checkpoint_path", str, None, "checkpoint file (default: <out>.ckpt)", nullable=True, physics=False),
    Field("progress_seconds", float, 30.0, "seconds between progress log lines", _positive, physics=False),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class DataSpec:
    source: str = "digits"
    path: str | None = None
    classes: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class SimParams:
    """Everything that defines one simulate job."""

    data: DataSpec = field(default_factory=DataSpec)
    M: int = 200
    N: int = 10
    L: int = 10
    n_test: int = 400
    T: float = 1e-5
    dt: float = 1e-2
    eta: float = 1e-3
    thermostat: str = "per_step"
    t_w: tuple[int, ...] = (100, 1000, 10000, 50000)
    t_star: int = 500000
    n_replicas: int = 8
    seed: int = 0
    samples: tuple[int, ...] = (0,)
    record_per_decade: int = 10
    store_spins: bool = True
    device: str = "auto"
    dtype: str = "float32"
    tf32: bool = False
    cuda_graph: bool = False
    checkpoint_steps: int = 20000
    checkpoint_seconds: float = 600.0
    checkpoint_path: str | None = None
    progress_seconds: float = 30.0

    def flat(self) -> dict[str, Any]:
        """Dotted keys -> plain values (lists for tuples), as written into output attributes."""
        out = {}
        for f in FIELDS:
            value = _get(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def physics_key(self) -> str:
        """Hash of every parameter that changes the trajectory: a checkpoint is valid only for the same key."""
        phys = {f.name: v for f, v in zip(FIELDS, self.flat().values()) if f.physics}
        return hashlib.sha256(json.dumps(phys, sort_keys=True).encode()).hexdigest()[:16]


def _get(params: SimParams, dotted: str) -> Any:
    obj: Any = params
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _coerce(f: Field, value: Any) -> tuple[Any, str | None]:
    """Convert a YAML/CLI value to the field's type; returns (value, error)."""
    if value is None:
        return (None, None) if f.nullable else (None, "must not be empty")
    try:
        if f.kind is list:
            items = value if isinstance(value, (list, tuple)) else [value]
            return tuple(_scalar(f.item, x) for x in items), None
        return _scalar(f.kind, value), None
    except (TypeError, ValueError):
        want = f"a list of {f.item.__name__}" if f.kind is list else f.kind.__name__
        return None, f"got {value!r}; allowed values: {want}"


def _scalar(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1"):
            return True
        if str(value).lower() in ("false", "no", "0"):
            return False
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool):
            raise TypeError(value)
        as_float = float(value)  # accepts 1e5 from YAML or the command line
        if not as_float.is_integer():
            raise ValueError(value)
        return int(as_float)
    if kind is float:
        if isinstance(value, bool):
            raise TypeError(value)
        return float(value)
    if not isinstance(value, (str, int, float)):
        raise TypeError(value)
    return str(value)


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> dotted keys (only nested where a dotted field exists)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and any(f.name.startswith(name + ".") for f in FIELDS):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def build(values: dict[str, Any]) -> SimParams:
    """Validated parameters from dotted keys; unknown keys and bad values raise ConfigError naming them."""
    errors = [f"{k}: unknown key; allowed keys: {', '.join(FIELD_BY_NAME)}" for k in values if k not in FIELD_BY_NAME]
    clean: dict[str, Any] = {}
    for f in FIELDS:
        value, err = _coerce(f, values.get(f.name, f.default))
        if err is None and value is not None:
            err = f.check(list(value) if isinstance(value, tuple) else value)
        if err:
            errors.append(f"{f.name}: {err}")
        clean[f.name] = value
    if not errors:
        n_classes = len(clean["data.classes"])
        if clean["M"] % n_classes:
            errors.append(f"M: got {clean['M']}; allowed values: multiples of the number of classes ({n_classes})")
        if clean["data.source"] == "mnist" and not clean["data.path"]:
            errors.append("data.path: required when data.source is 'mnist'; allowed values: a folder with IDX files")
    if errors:
        raise ConfigError("invalid simulate parameters:\n  " + "\n  ".join(errors))
    data = DataSpec(clean.pop("data.source"), clean.pop("data.path"), clean.pop("data.classes"))
    return SimParams(data=data, **clean)


def load(config_path: str | None = None, overrides: dict[str, Any] | None = None) -> SimParams:
    """Parameters from an optional YAML file, then command-line overrides (dotted keys)."""
    values: dict[str, Any] = {}
    if config_path:
        with open(config_path) as fh:
            loaded = yaml.safe_load(fh) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_path}: expected a mapping of parameter names to values")
        values.update(flatten(loaded))
    values.update(overrides or {})
    return build(values)


def as_dict(params: SimParams) -> dict[str, Any]:
    """Nested plain dict (for YAML round trips)."""
    return json.loads(json.dumps(dataclasses.asdict(params)))


def _flag(f: Field) -> str:
    return "--" + f.name.replace(".", "-").replace("_", "-")


def add_param_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per parameter, documented from the field table; unset flags do not override the YAML."""
    group = parser.add_argument_group("parameters (override the YAML file)")
    for f in FIELDS:
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": f"{f.help} (default: {f.default})"}
        if f.kind is list:
            kwargs["nargs"] = "+"
        group.add_argument(_flag(f), **kwargs)
