"""Parameters of one binary-network point: defaults, YAML loading and validation that names the field.

`FIELDS` is the single table behind the YAML keys, the `binary-simulate` flags and the checks.
Defaults follow docs/effective-model.md (paper values) where it fixes them; open choices are listed
there and in README.md next to this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tdlm.binarynet.align import REFERENCES
from tdlm.binarynet.data import PCA_FITS, SOURCES

DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """Invalid parameter; the message names the field and its allowed values."""


Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Field:
    name: str
    kind: type  # int, float, str, bool or list (of int)
    default: Any
    allowed: str  # human-readable allowed values, used in errors and --help
    check: Check = lambda v: True
    nullable: bool = False


def _choice(values: tuple[str, ...]) -> tuple[str, Check]:
    return ", ".join(values), lambda v: v in values


_POS_INT = ("integers >= 1", lambda v: v >= 1)
_NONNEG = ("numbers >= 0", lambda v: v >= 0)
_POS = ("numbers > 0", lambda v: v > 0)
_UNIT = ("numbers in [0, 1]", lambda v: 0 <= v <= 1)

FIELDS: tuple[Field, ...] = (
    # data
    Field("dataset", str, "digits", *_choice(SOURCES)),
    Field("mnist_dir", str, None, "a folder holding images-idx3-ubyte.gz and labels-idx1-ubyte.gz", nullable=True),
    Field("n_train", int, 1000, *_POS_INT),
    Field("n_test", int, None, "integers >= 1, or null for all remaining examples", lambda v: v >= 1, nullable=True),
    Field("n_components", int, 20, *_POS_INT),
    Field("pca_fit", str, "train", *_choice(PCA_FITS)),
    Field("data_seed", int, 0, "integers >= 0", lambda v: v >= 0),
    # network
    Field("n_layers", int, 3, *_POS_INT),
    Field("hidden_width", int, 15, *_POS_INT),
    Field(
        "widths",
        list,
        None,
        "null, or n_layers + 1 integers >= 1 starting with n_components",
        lambda v: all(w >= 1 for w in v),
        nullable=True,
    ),
    Field("leaky_slope", float, 0.1, *_NONNEG),
    Field("scale_output", bool, False, "true, false"),
    # training
    Field("n_runs", int, 500, "integers >= 2", lambda v: v >= 2),
    Field("epochs", int, 150, *_POS_INT),
    Field("lr", float, 0.3, *_POS),
    Field("batch_size", int, 200, *_POS_INT),
    Field("l2", float, 1e-5, *_NONNEG),
    Field("init_std", float, 0.1, *_NONNEG),
    Field("seed", int, 1, "integers >= 0", lambda v: v >= 0),
    Field("draws_per_run", int, 1, *_POS_INT),
    Field("min_accuracy", float, 0.0, *_UNIT),
    Field("align_reference", str, "first", *_choice(REFERENCES)),
    # effective model
    Field("pl_l2", float, 0.3, *_NONNEG),
    Field("pl_l2_h", float, 1e-3, *_NONNEG),
    Field("pl_max_iter", int, 200, *_POS_INT),
    Field("pl_tol", float, 1e-4, *_POS),
    Field("null_control", bool, True, "true, false"),
    Field("mc_chains", int, 200, *_POS_INT),
    Field("mc_burn_in", int, 50, "integers >= 0", lambda v: v >= 0),
    Field("mc_records", int, 10, *_POS_INT),
    Field("mc_every", int, 2, *_POS_INT),
    Field("bp_damping", float, 0.5, "numbers in [0, 1)", lambda v: 0 <= v < 1),
    Field("bp_tol", float, 1e-9, *_POS),
    Field("bp_max_iter", int, 1000, *_POS_INT),
    Field("landscape_x_min", float, -3.0, "any number below landscape_x_max"),
    Field("landscape_x_max", float, 3.0, "any number above landscape_x_min"),
    Field("landscape_n_x", int, 31, "integers >= 2", lambda v: v >= 2),
    Field("landscape_reference", int, 0, "index of an accepted network, >= 0", lambda v: v >= 0),
    Field("jump_threshold", float, 0.1, *_POS),
    Field("hysteresis_threshold", float, 0.02, *_POS),
    Field("liquid_threshold", float, 0.95, "numbers in (0, 1]", lambda v: 0 < v <= 1),
    Field("device", str, "auto", *_choice(DEVICES)),
)
BY_NAME = {f.name: f for f in FIELDS}


def defaults() -> dict[str, Any]:
    return {f.name: f.default for f in FIELDS}


def _coerce(field: Field, value: Any) -> Any:
    """Return value as field.kind or raise ConfigError: ints and numeric text (YAML's 1e-5) are accepted for
    floats, bools never for numbers."""
    bad = ConfigError(
        f"{field.name}: got {value!r} ({type(value).__name__}); expected {field.kind.__name__}, allowed values: {field.allowed}"
    )
    if value is None:
        if field.nullable:
            return None
        raise bad
    if field.kind is list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise bad
        return [int(v) for v in value]
    if isinstance(value, bool) != (field.kind is bool):
        raise bad
    if field.kind is float and isinstance(value, int):
        return float(value)
    if field.kind is float and isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as text
        try:
            return float(value)
        except ValueError:
            raise bad from None
    if not isinstance(value, field.kind):
        raise bad
    return value


def validate(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults updated by `overrides`, type-checked and range-checked; raises ConfigError naming the field."""
    unknown = sorted(set(overrides) - set(BY_NAME))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; allowed keys: {', '.join(BY_NAME)}")
    params = defaults()
    for name, value in overrides.items():
        field = BY_NAME[name]
        value = _coerce(field, value)
        if value is not None and not field.check(value):
            raise ConfigError(f"{name}: got {value!r}; allowed values: {field.allowed}")
        params[name] = value
    _check_consistency(params)
    return params


def _check_consistency(p: dict[str, Any]) -> None:
    if p["dataset"] == "mnist" and p["mnist_dir"] is None:
        raise ConfigError(f"mnist_dir: required when dataset is 'mnist'; allowed values: {BY_NAME['mnist_dir'].allowed}")
    if p["widths"] is not None:
        w = p["widths"]
        if len(w) != p["n_layers"] + 1:
            raise ConfigError(
                f"widths: got {w} ({len(w)} entries) but n_layers = {p['n_layers']}; allowed values: lists of n_layers + 1 = {p['n_layers'] + 1} integers"
            )
        if w[0] != p["n_components"]:
            raise ConfigError(f"widths: first entry {w[0]} must equal n_components = {p['n_components']}")
    if p["landscape_x_max"] <= p["landscape_x_min"]:
        raise ConfigError(
            f"landscape_x_max: got {p['landscape_x_max']}; allowed values: numbers above landscape_x_min = {p['landscape_x_min']}"
        )


def network_widths(params: Mapping[str, Any], n_classes: int) -> list[int]:
    """Layer widths: `widths` if given, else n_components -> hidden_width x (n_layers - 1) -> n_classes."""
    if params["widths"] is None:
        return [params["n_components"]] + [params["hidden_width"]] * (params["n_layers"] - 1) + [n_classes]
    widths = list(params["widths"])
    if widths[-1] < n_classes:
        raise ConfigError(
            f"widths: last entry {widths[-1]} is below the data's {n_classes} classes; allowed values: >= {n_classes}"
        )
    return widths


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a flat YAML mapping of parameters (not yet validated)."""
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter names to values, got {type(data).__name__}")
    return data
