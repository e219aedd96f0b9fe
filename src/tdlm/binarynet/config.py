"""Parameters of one binary-network point: defaults, YAML loading and validation that names the field.

`FIELDS` (in the framework of tdlm.fields, shared with `tdlm simulate`) is the single table behind the
YAML keys, the `binary-simulate` flags, the checks and the parameter table of README.md.
Defaults follow docs/effective-model.md (paper values) where it fixes them; open choices are listed
there and in README.md next to this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tdlm.binarynet.align import REFERENCES
from tdlm.binarynet.data import PCA_FITS, SOURCES
from tdlm.data import PATH_FIELD
from tdlm.fields import ConfigError, Field, FieldSet, above, at_least, interval, one_of

DEVICES = ("auto", "cpu", "cuda")
# old names of the parameters that now carry the thermal family's names (tdlm.md.params): accepted, with a
# logged deprecation warning, in YAML files, flags and workflow configs
ALIASES = {"dataset": "data.source", "mnist_dir": "data.path", "n_train": "M", "n_layers": "L"}
_POS_INT = at_least(1)
_NONNEG_INT = at_least(0)
_NONNEG = at_least(0, integer=False)
_POS = above(0)

FIELDS = FieldSet(
    "binary-simulate",
    (
        # data
        Field(
            "data.source",
            str,
            "digits",
            "`digits`: scikit-learn 8x8 digits, 1797 examples, 10 classes, grey values / 16; `mnist`: IDX files, pixels / 255",
            one_of(*SOURCES),
        ),
        PATH_FIELD,
        Field("M", int, 1000, "P, training examples (a seeded permutation's first M)", _POS_INT),
        Field("n_test", int, None, "test examples following them; null: all the rest", _POS_INT, nullable=True),
        Field("n_components", int, 20, "PCA components = input width", _POS_INT),
        Field(
            "pca_fit",
            str,
            "train",
            "the PCA (with its centring) is fitted on the training set (`train`) or train + test (`all`)",
            one_of(*PCA_FITS),
        ),
        Field("data_seed", int, 0, "seed of the split", _NONNEG_INT),
        # network
        Field("L", int, 3, "number of weight layers", _POS_INT),
        Field("hidden_width", int, 15, "width of every hidden layer when `widths` is null", _POS_INT),
        Field(
            "widths",
            list,
            None,
            "explicit widths, L + 1 entries, first = n_components, last >= number of classes",
            _POS_INT,
            item=int,
            min_items=2,
            nullable=True,
        ),
        Field("leaky_slope", float, 0.1, "LeakyReLU slope of hidden units", _NONNEG),
        Field(
            "scale_output",
            bool,
            False,
            "hidden pre-activations are always divided by sqrt(fan-in); the output logits too when true",
        ),
        # training
        Field(
            "n_runs",
            int,
            500,
            "R, independent LR-net runs (own init and batch order), trained as one batch dimension",
            at_least(2),
        ),
        Field("epochs", int, 150, "passes over the training set", _POS_INT),
        Field("lr", float, 0.3, "Adam learning rate", _POS),
        Field("batch_size", int, 200, "minibatch size (the last batch of an epoch may be smaller)", _POS_INT),
        Field("l2", float, 1e-5, "coefficient of sum(theta^2) added to each run's mean cross-entropy", _NONNEG),
        Field("init_std", float, 0.1, "theta ~ N(0, init_std^2)", _NONNEG),
        Field("seed", int, 1, "seed of training, draws (seed + 1) and Monte Carlo", _NONNEG_INT),
        Field(
            "draws_per_run",
            int,
            1,
            "binary networks w ~ Bernoulli(sigmoid(theta)) drawn per run; the ensemble has R x draws networks",
            _POS_INT,
        ),
        Field(
            "min_accuracy",
            float,
            0.0,
            "acceptance filter: networks below this test accuracy are dropped (0: keep all)",
            interval(0, 1, "[]"),
        ),
        Field(
            "align_reference",
            str,
            "first",
            "`first`: align to accepted network 0; `consensus`: then re-align to the aligned ensemble mean until stable",
            one_of(*REFERENCES),
        ),
        # effective model
        Field("pl_l2", float, 0.3, "L2 coefficient on J_ij (i<j) in the per-sample pseudo-likelihood objective", _NONNEG),
        Field("pl_l2_h", float, 1e-3, "L2 coefficient on h_i (keeps fields of frozen weights finite)", _NONNEG),
        Field("pl_max_iter", int, 200, "L-BFGS iterations (full batch)", _POS_INT),
        Field("pl_tol", float, 1e-4, "L-BFGS projected-gradient tolerance (on the preconditioned variables)", _POS),
        Field(
            "null_control",
            bool,
            True,
            "also fit each block after shuffling every weight independently across networks (the noise floor)",
        ),
        Field("null_shuffles", int, 3, "independent shuffles of the null control (its mean and spread)", at_least(2)),
        Field(
            "null_tolerance",
            float,
            0.02,
            "a null within this of ln 2 (in units of ln 2) can show a liquid block; one further below its "
            "independent-spin value makes the block undetermined",
            interval(0, 1, "()"),
        ),
        Field(
            "null_z",
            float,
            3.0,
            "a block is indistinguishable from its null when s - null >= -null_z x (the null's spread)",
            _POS,
        ),
        Field("mc_chains", int, 200, "Metropolis validation of each fit: chains", _POS_INT),
        Field("mc_burn_in", int, 50, "Metropolis: burn-in sweeps", _NONNEG_INT),
        Field("mc_records", int, 10, "Metropolis: records", _POS_INT),
        Field("mc_every", int, 2, "Metropolis: sweeps between records", _POS_INT),
        Field("bp_damping", float, 0.5, "belief propagation: damping", interval(0, 1, "[)")),
        Field("bp_tol", float, 1e-9, "belief propagation: tolerance", _POS),
        Field("bp_max_iter", int, 1000, "belief propagation: iterations", _POS_INT),
        Field("landscape_x_min", float, -3.0, "lowest tilt field x of the grid swept up then down (below landscape_x_max)"),
        Field("landscape_x_max", float, 3.0, "highest tilt field x (above landscape_x_min)"),
        Field("landscape_n_x", int, 31, "points of the x grid", at_least(2)),
        Field("landscape_reference", int, 0, "index (among accepted networks) of the reference configuration", _NONNEG_INT),
        Field("jump_threshold", float, 0.1, "a step of d between neighbouring x at least this large is a jump ...", _POS),
        Field(
            "hysteresis_threshold",
            float,
            0.02,
            "... when the up and down sweeps also differ somewhere by at least this much",
            _POS,
        ),
        Field(
            "liquid_threshold",
            float,
            0.95,
            "a block whose null resolves ln 2 is liquid-like when s/ln2 >= this even if it differs from its null",
            interval(0, 1, "(]"),
        ),
        Field(
            "device",
            str,
            "auto",
            "`auto` (CUDA when available), `cpu`, `cuda` (training and accuracy; the fits run on CPU)",
            one_of(*DEVICES),
        ),
    ),
    aliases=ALIASES,
)
BY_NAME = FIELDS.by_name


def defaults() -> dict[str, Any]:
    return FIELDS.defaults()


resolve_aliases = FIELDS.resolve  # nested keys flattened, old names (ALIASES) to current ones


def validate(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults updated by `overrides`, type-checked and range-checked; raises ConfigError naming every bad field
    (by the name the caller used, old or current)."""
    values, used = resolve_aliases(overrides)
    clean, errors = FIELDS.parse(values)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in clean.items()}
    if not errors:
        errors = _consistency_errors(params)
    if errors:
        raise FIELDS.error(FIELDS.relabel(errors, used))
    return params


def _consistency_errors(p: dict[str, Any]) -> list[str]:
    errors = []
    if p["data.source"] == "mnist" and p["data.path"] is None:
        errors.append(
            f"data.path: required when data.source is 'mnist' (old names mnist_dir, dataset); allowed values: {BY_NAME['data.path'].help}"
        )
    w = p["widths"]
    if w is not None and len(w) != p["L"] + 1:
        errors.append(
            f"widths: got {w} ({len(w)} entries) but L (old name n_layers) = {p['L']}; allowed values: lists of L + 1 = {p['L'] + 1} integers"
        )
    elif w is not None and w[0] != p["n_components"]:
        errors.append(f"widths: first entry {w[0]} must equal n_components = {p['n_components']}")
    ensemble = p["n_runs"] * p["draws_per_run"]
    if p["landscape_reference"] >= ensemble:
        errors.append(
            f"landscape_reference: got {p['landscape_reference']}; allowed values: < n_runs x draws_per_run = {ensemble}"
        )
    if p["n_components"] > p["M"]:
        errors.append(
            f"n_components: got {p['n_components']}; allowed values: <= M (old name n_train) = {p['M']} (the PCA's fit)"
        )
    if p["landscape_x_max"] <= p["landscape_x_min"]:
        errors.append(
            f"landscape_x_max: got {p['landscape_x_max']}; allowed values: numbers above landscape_x_min = {p['landscape_x_min']}"
        )
    return errors


def network_widths(params: Mapping[str, Any], n_classes: int) -> list[int]:
    """Layer widths: `widths` if given, else n_components -> hidden_width x (L - 1) -> n_classes."""
    if params["widths"] is None:
        return [params["n_components"]] + [params["hidden_width"]] * (params["L"] - 1) + [n_classes]
    widths = list(params["widths"])
    if widths[-1] < n_classes:
        raise ConfigError(
            f"widths: last entry {widths[-1]} is below the data's {n_classes} classes; allowed values: >= {n_classes}"
        )
    return widths


# A point's peak memory, from its sizes: the interpreter with torch, scikit-learn and the data; the LR-net
# training's per-batch activations and their gradients (means, variances, noise, pre-activations per run and
# example); the ensemble of K = n_runs x draws_per_run networks (drawn float32 weights, float64 copies, the
# aligned copy); and the largest block's pseudo-likelihood fit (spins, centred spins, shuffled null copies,
# products). Calibrated on measured peaks (20-15-15-10, P = 1000, 100 runs: 937 MB at 10^4 networks, 2624 MB
# at 10^5; estimated 1000 and 3520 MB): an upper estimate, as a check before any work needs.
BASE_MB = 700
TRAIN_BYTES = 40  # per run, example of a batch and unit of a layer
ENSEMBLE_BYTES = 20  # per network and weight
FIT_BYTES = 48  # per network and weight of the largest block
MAX_CLASSES = 10  # the output width before the data are read: no data set of the project has more classes


def point_memory_mb(params: Mapping[str, Any]) -> float:
    """Estimated peak memory (MB) of one binary-simulate point, from validated parameters, before any data
    are read: for the check against the memory free (binary-simulate) and resources mem_mb (the workflow)."""
    widths = network_widths(params, MAX_CLASSES) if params["widths"] is None else list(params["widths"])
    blocks = [a * b for a, b in zip(widths[:-1], widths[1:], strict=False)]
    networks = params["n_runs"] * params["draws_per_run"]
    batch = min(params["batch_size"], params["M"])
    training = params["n_runs"] * batch * sum(widths[1:]) * TRAIN_BYTES
    ensemble = networks * sum(blocks) * ENSEMBLE_BYTES + networks * max(blocks) * FIT_BYTES
    return BASE_MB + (training + ensemble) / 1e6


MEMORY_FIELDS = "n_runs, draws_per_run, batch_size, widths (hidden_width, L)"
