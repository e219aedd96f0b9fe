"""Parameters of one simulate job: defaults from the model spec, validation that names the field.

One table (`FIELDS`, in the framework of tdlm.fields) drives the YAML keys, the command-line flags and
their help, the validation, the README table and the agreement test with the workflow's JSON schema.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tdlm.data import PATH_FIELD, SOURCES
from tdlm.fields import FILE, Field, FieldSet, above, at_least, interval, load_yaml, one_of
from tdlm.md.layout import PREACTIVATIONS
from tdlm.md.noise import NOISES
from tdlm.md.noise import describe as describe_noise

THERMOSTATS = ("per_step", "literal")
INIT_VELOCITIES = ("maxwell_boltzmann", "zero")
# fields added after checkpoints and job files existed, each with the default that reproduces the code before it:
# they enter the checkpoint key only when they differ from their default, so a checkpoint written before they
# existed (which ran with the default) still resumes, and a job or point file that lacks them gathers with newer
# ones as having run with the default (`with_later_defaults`)
LATER_FIELDS = ("preactivation", "init_velocities")
DEVICES = ("auto", "cpu", "cuda")
# the modelling choices that are no parameter (one value each), in the words every job file records as
# attributes (`SimParams.choices`); docs/model.md says why, its table of choices is generated from these and the
# fields' `choice` words (`choices_markdown`)
FIXED_CHOICES = {
    "mass": 1.0,
    "k_B": 1.0,
    "binarisation": "pixel > midpoint of value range -> +1 else -1",
    "label_encoding": "one-hot +1/-1",
    "sign_convention": "sgn(0) = +1",
    "initial_state": "S, J uniform in (-1, 1)",
    "walls": "elastic reflection at +/-1",
    "force": "analytic, guarded 1/E_l (zero force when E_l = 0)",
}
DTYPES = ("float32", "float64")

FIELDS = FieldSet(
    "simulate",
    (
        Field(
            "data.source",
            str,
            "digits",
            "data set: scikit-learn's 8x8 digits (embedded, N_0 = 64) or MNIST IDX files",
            one_of(*SOURCES),
        ),
        PATH_FIELD,
        Field(
            "data.classes",
            list,
            [0, 1],
            "digit classes to keep (one output unit each, one-hot +1/-1)",
            at_least(0),
            item=int,
            min_items=2,
            unique=True,
        ),
        Field("M", int, 200, "number of training examples (class-balanced)", at_least(2)),
        Field("N", int, 10, "hidden width", at_least(1)),
        Field("L", int, 10, "number of weight layers (spin layers 0..L)", at_least(2)),
        Field("n_test", int, 400, "test examples (fewer if the data set is smaller)", at_least(1)),
        Field("T", float, 1e-5, "temperature k_B T", at_least(0, integer=False)),
        Field("dt", float, 1e-2, "MD time step", above(0)),
        Field("eta", float, 1e-3, "Langevin friction per step", interval(0, 1, "()", text="0 < eta < 1")),
        Field(
            "thermostat",
            str,
            "per_step",
            "per_step: friction eta and noise sqrt(eta(2-eta)T) once per step; literal: eta*dt in their place",
            one_of(*THERMOSTATS),
            choice={
                "per_step": "friction gamma = eta and noise sqrt(gamma (2 - gamma) T) once per step",
                "literal": "friction gamma = eta dt and noise sqrt(gamma (2 - gamma) T) once per step",
            },
        ),
        Field(
            "noise",
            str,
            "gaussian",
            "thermostat's random numbers: gaussian N(0,1); uniform: uniform ones of unit variance (LAMMPS fix langevin's "
            "choice), on the CPU from a counter-based generator in one compiled pass of the update, with compiled "
            "element-wise force passes (1.5x faster steps)",
            one_of(*NOISES),
            choice={kind: describe_noise(kind) for kind in NOISES},
        ),
        Field(
            "preactivation",
            str,
            "plain",
            "tanh argument of every layer in the energy, the read-outs and the test overlaps: plain J_l S_{l-1} (the "
            "spec); fan_in J_l S_{l-1} / sqrt(N_{l-1})",
            one_of(*PREACTIVATIONS),
            choice={"plain": "tanh(J_l S_{l-1})", "fan_in": "tanh(J_l S_{l-1} / sqrt(N_{l-1}))"},
        ),
        Field(
            "init_velocities",
            str,
            "maxwell_boltzmann",
            "velocities at t = 0: maxwell_boltzmann at T (the spec) or zero (replicas branched at t_w always draw "
            "Maxwell-Boltzmann ones)",
            one_of(*INIT_VELOCITIES),
            choice={
                "maxwell_boltzmann": "Maxwell-Boltzmann at T",
                "zero": "zero (replicas branched at t_w draw Maxwell-Boltzmann ones)",
            },
        ),
        Field(
            "t_w",
            list,
            [100, 1000, 10000, 50000],
            "waiting times (MD steps) at which replicas branch",
            at_least(0),
            item=int,
            min_items=1,
            unique=True,
        ),
        Field("t_star", int, 500000, "steps after t_w at which q* is read (run length of each branch)", at_least(1)),
        Field("n_replicas", int, 8, "replicas branched at each t_w", at_least(2)),
        Field("seed", int, 0, "base seed; each sample derives its own from (seed, sample)", at_least(0)),
        Field(
            "samples",
            list,
            [0],
            "sample indices run in this job (batched together)",
            at_least(0),
            item=int,
            min_items=1,
            unique=True,
        ),
        Field("record_per_decade", int, 10, "observation points per decade of t (log grid, plus t=0)", at_least(1)),
        Field("store_spins", bool, True, "store final S snapshots of every replica (large for big M)", physics=False),
        # out of the checkpoint key: a checkpoint checks the device type that wrote it instead (`auto` and
        # `cpu` on the same CPU are one trajectory; tdlm.md.checkpoint.check_device)
        Field(
            "device",
            str,
            "auto",
            "auto (cuda if this job may use it, see tdlm.device), cpu or cuda",
            one_of(*DEVICES),
            physics=False,
        ),
        Field("dtype", str, "float32", "floating-point precision of the state", one_of(*DTYPES)),
        Field("tf32", bool, False, "allow TF32 matrix products on CUDA (faster, less precise)"),
        Field(
            "cuda_graph",
            bool,
            False,
            "capture each MD step as one CUDA graph (fewer launches, same numbers; a failed capture stops the job)",
            physics=False,
        ),
        Field(
            "checkpoint_steps",
            int,
            20000,
            "write a checkpoint every this many steps (0: never by steps)",
            at_least(0),
            physics=False,
            rerun=False,
        ),
        Field(
            "checkpoint_seconds",
            float,
            600.0,
            "write a checkpoint every this many seconds (0: never by time)",
            at_least(0, integer=False),
            physics=False,
            rerun=False,
        ),
        Field(
            "checkpoint_path", str, None, "checkpoint file (default: <out>.ckpt)", FILE, nullable=True, physics=False, rerun=False
        ),
        Field("progress_seconds", float, 30.0, "seconds between progress log lines", above(0), physics=False, rerun=False),
    ),
)


@dataclass(frozen=True)
class DataSpec:
    source: str
    path: str | None
    classes: tuple[int, ...]


@dataclass(frozen=True)
class SimParams:
    """Everything that defines one simulate job (built from FIELDS: `build`, `load`; defaults live there)."""

    data: DataSpec
    M: int
    N: int
    L: int
    n_test: int
    T: float
    dt: float
    eta: float
    thermostat: str
    noise: str
    preactivation: str
    init_velocities: str
    t_w: tuple[int, ...]
    t_star: int
    n_replicas: int
    seed: int
    samples: tuple[int, ...]
    record_per_decade: int
    store_spins: bool
    device: str
    dtype: str
    tf32: bool
    cuda_graph: bool
    checkpoint_steps: int
    checkpoint_seconds: float
    checkpoint_path: str | None
    progress_seconds: float

    def flat(self) -> dict[str, Any]:
        """Dotted keys -> plain values (lists for tuples), as written into output attributes."""
        out = {}
        for f in FIELDS:
            value = _get(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def choices(self) -> dict[str, Any]:
        """The job's modelling choices as its file records them: every fixed one, then every choice field's
        value in words (attribute named like the field)."""
        flat = self.flat()
        return {**FIXED_CHOICES, **{f.name: f.choice[flat[f.name]] for f in FIELDS if f.choice}}

    def physics_key(self) -> str:
        """Hash of every parameter that changes the trajectory: a checkpoint is valid only for the same key."""
        phys = {
            f.name: v
            for f, v in zip(FIELDS, self.flat().values())
            if f.physics and not (f.name in LATER_FIELDS and v == f.default)
        }
        return hashlib.sha256(json.dumps(phys, sort_keys=True).encode()).hexdigest()[:16]


def with_later_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """A file's recorded parameters with every field of LATER_FIELDS that it predates set to the field's default
    (what that code ran with)."""
    defaults = {f.name: f.default for f in FIELDS if f.name in LATER_FIELDS}
    return {**{k: v for k, v in defaults.items() if k not in params}, **params}


def choices_markdown() -> str:
    """The table of modelling choices of docs/model.md: the fixed ones, then each choice field's values."""
    rows = ["| attribute | value | what it means |", "| --- | --- | --- |"]
    rows += [f"| `{name}` | (fixed) | {value} |" for name, value in FIXED_CHOICES.items()]
    for f in FIELDS:
        for value, words in (f.choice or {}).items():
            default = " (default)" if value == f.default else ""
            rows.append(f"| `{f.name}` | `{value}`{default} | {words} |")
    return "\n".join(rows)


def _get(params: SimParams, dotted: str) -> Any:
    obj: Any = params
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def build(values: dict[str, Any]) -> SimParams:
    """Validated parameters from dotted keys; unknown keys and bad values raise ConfigError naming them."""
    clean, errors = FIELDS.parse(values)
    if not errors:
        n_classes = len(clean["data.classes"])
        if clean["M"] % n_classes:
            errors.append(f"M: got {clean['M']}; allowed values: multiples of the number of classes ({n_classes})")
        if clean["data.source"] == "mnist" and not clean["data.path"]:
            errors.append("data.path: required when data.source is 'mnist'; allowed values: a folder with IDX files")
    if errors:
        raise FIELDS.error(errors)
    data = DataSpec(clean.pop("data.source"), clean.pop("data.path"), clean.pop("data.classes"))
    return SimParams(data=data, **clean)


def load(config_path: str | None = None, overrides: dict[str, Any] | None = None) -> SimParams:
    """Parameters from an optional YAML file, then command-line overrides (dotted keys)."""
    values = FIELDS.flatten(load_yaml(config_path)) if config_path else {}
    values.update(overrides or {})
    return build(values)
