"""The variables of the project's netCDF files, in one table: name, dimensions, units, long name, what the
gather does with each (mean over replicas or pairs, kept, or left in the job file) and the physical range the
run checks before a record reaches a file.

Everything that writes or reads these variables takes them from here: the job writer (`tdlm.storage`,
`tdlm.md.simulate`), the gather's variable groups (`tdlm.sweep.gather`), the range checks (`tdlm.md.checks`)
and the variable table of docs/model.md (`markdown`, checked by tests/test_storage_variables.py). A new
observable is one row here (and its measurement in `tdlm.md.observables`).
"""

from __future__ import annotations

from dataclasses import dataclass

# what gather-point does with a variable of the job file (`Variable.gather`)
REPLICAS = "mean over replicas"
PAIRS = "mean over pairs"
KEPT = "kept"
LEFT = "job file only"


@dataclass(frozen=True)
class Bound:
    """A variable's physical range as the run checks it (`tdlm.md.checks`): |x| <= abs_max + tolerance
    (NaN, the padding of a layer where a quantity is undefined, passes) and, with `finite`, no NaN or Inf."""

    text: str  # as the docs' table states it
    abs_max: float | None = None
    tolerance: float = 0.0
    finite: bool = False


# overlaps and correlations: |x| <= 1 (Cauchy-Schwarz for the normalised ones, |S|, |J| <= 1 for the raw
# ones); float rounding of the normalised sums stays far inside the tolerance
UNIT = Bound("|x| <= 1", abs_max=1.0, tolerance=1e-4)
FINITE = Bound("finite", finite=True)
# every coordinate stays in the box (-1, 1): the walls fold it back once per step (tdlm.md.space)
BOX = Bound("in the box: |x| <= 1, finite", abs_max=1.0, finite=True)

BRANCH = ("sample", "t_w", "t")
HISTORY = ("sample", "history_time")


@dataclass(frozen=True)
class Variable:
    """One data variable of a job file; `total_of` names the per-layer variable it sums over layers."""

    name: str
    dims: tuple[str, ...]  # in the job file
    long_name: str
    gather: str  # REPLICAS, PAIRS, KEPT or LEFT
    bound: Bound | None = None
    units: str = "1"  # reduced units (m = k_B = 1): everything is dimensionless
    total_of: str | None = None
    # added after job files existed: an older file lacks it, and the gather fills it with NaN (saying so)
    # instead of refusing the file, as it refuses one that lacks any other variable
    later: bool = False


VARIABLES = (
    Variable(
        "energy",
        (*BRANCH, "replica"),
        "total energy H = sum_l E_l",
        REPLICAS,
        total_of="energy_layer",
    ),
    Variable("energy_layer", (*BRANCH, "replica", "layer"), "layer energy E_l = ||S_l - tanh(J_l S_{l-1})||", REPLICAS, FINITE),
    Variable(
        "kinetic_temperature",
        (*BRANCH, "replica"),
        "<v^2> over all coordinates of a configuration (m = k_B = 1)",
        REPLICAS,
        FINITE,
    ),
    Variable("accuracy", (*BRANCH, "replica"), "test accuracy of the sign network S_l = sgn(J_l S_{l-1})", REPLICAS),
    Variable("accuracy_tanh", (*BRANCH, "replica"), "test accuracy of the tanh network with the same J", REPLICAS),
    Variable(
        "c",
        (*BRANCH, "replica", "layer"),
        "spin auto-correlation (1/(N_l M)) sum S(t_w+t) S(t_w); NaN at layer L",
        REPLICAS,
        UNIT,
    ),
    Variable(
        "c_norm",
        (*BRANCH, "replica", "layer"),
        "spin auto-correlation normalised by the self-overlaps; NaN at layer L",
        REPLICAS,
        UNIT,
    ),
    Variable(
        "C",
        (*BRANCH, "replica", "layer"),
        "weight auto-correlation (1/(N_l N_{l-1})) sum J(t_w+t) J(t_w)",
        REPLICAS,
        UNIT,
    ),
    Variable("C_norm", (*BRANCH, "replica", "layer"), "weight auto-correlation normalised by the self-overlaps", REPLICAS, UNIT),
    Variable(
        "q",
        (*BRANCH, "pair", "layer"),
        "spin replica overlap (1/(N_l M)) sum S^a S^b for the pair; NaN at layer L",
        PAIRS,
        UNIT,
    ),
    Variable(
        "q_norm",
        (*BRANCH, "pair", "layer"),
        "spin replica overlap normalised by the self-overlaps; NaN at layer L",
        PAIRS,
        UNIT,
    ),
    Variable("Q", (*BRANCH, "pair", "layer"), "weight replica overlap (1/(N_l N_{l-1})) sum J^a J^b for the pair", PAIRS, UNIT),
    Variable("Q_norm", (*BRANCH, "pair", "layer"), "weight replica overlap normalised by the self-overlaps", PAIRS, UNIT),
    Variable(
        "q_test",
        (*BRANCH, "pair", "layer"),
        "replica overlap of the sign network's hidden states on the test inputs; NaN at layer L",
        PAIRS,
        UNIT,
    ),
    Variable(
        "q_test_tanh",
        (*BRANCH, "pair", "layer"),
        "replica overlap of the tanh network's hidden states on the test inputs, normalised; NaN at layer L",
        PAIRS,
        UNIT,
        later=True,
    ),
    Variable(
        "history_energy",
        HISTORY,
        "total energy of the single trajectory before branching",
        KEPT,
        total_of="history_energy_layer",
    ),
    Variable(
        "history_energy_layer",
        (*HISTORY, "layer"),
        "layer energy of the single trajectory before branching",
        KEPT,
        FINITE,
    ),
    Variable("history_accuracy", HISTORY, "sign-network test accuracy of the single trajectory before branching", KEPT),
    Variable(
        "history_accuracy_tanh",
        HISTORY,
        "tanh-network test accuracy of the single trajectory before branching",
        KEPT,
    ),
    Variable(
        "J_final",
        ("sample", "t_w", "replica", "weight_index"),
        "final weights of every replica, flattened layer by layer (row-major J_l[i, j])",
        LEFT,
        BOX,
    ),
    Variable(
        "S_final",
        ("sample", "t_w", "replica", "spin_index"),
        "final hidden neurons of every replica, flattened layer by layer (row-major S_l[mu, i])",
        LEFT,
        BOX,
    ),
    Variable("train_index", ("sample", "example"), "indices of the training examples in the filtered data pool", LEFT),
    Variable("test_index", ("sample", "test_example"), "indices of the test examples in the filtered data pool", LEFT),
)
BY_NAME = {v.name: v for v in VARIABLES}


def gathered(how: str) -> tuple[str, ...]:
    """Names of the variables gather-point treats `how` (REPLICAS, PAIRS, KEPT), in the table's order."""
    return tuple(v.name for v in VARIABLES if v.gather == how)


def bounded() -> tuple[Variable, ...]:
    """The variables with a checked range."""
    return tuple(v for v in VARIABLES if v.bound is not None)


# CF metadata of the coordinates every file shares (`tdlm.storage.with_cf` sets them where a file has them)
COORD_ATTRS = {
    "alpha": {"long_name": "storage ratio alpha = M / N", "units": "1"},
    "M": {"long_name": "number of training examples M", "units": "1"},
    "N": {"long_name": "width N of the hidden layers", "units": "1"},
    "ln_alpha": {"long_name": "ln(M / N)", "units": "1"},
    "L": {"long_name": "depth L (number of weight layers)", "units": "1"},
    "T": {"long_name": "temperature T (k_B = 1)", "units": "1"},
    "sample": {"long_name": "independent sample (data draw and initial state)", "units": "1"},
    "replica": {"long_name": "replica branched at t_w", "units": "1"},
    "pair": {"long_name": "pair of replicas (a, b), a < b", "units": "1"},
    "pair_a": {"long_name": "first replica of the pair", "units": "1"},
    "pair_b": {"long_name": "second replica of the pair", "units": "1"},
    "weight_layer": {"long_name": "layer of each flattened weight", "units": "1"},
    "spin_layer": {"long_name": "layer of each flattened hidden neuron", "units": "1"},
}
# the job file's own coordinates (the gather carries them, with these attributes, into point and sweep files)
JOB_COORD_ATTRS = {
    "t": {"long_name": "MD steps since t_w", "units": "1"},
    "t_w": {"long_name": "waiting time (MD steps) at which the replicas branched", "units": "1"},
    "history_time": {"long_name": "MD steps since t = 0 (before branching)", "units": "1"},
    "layer": {"long_name": "layer index: weights J_1..J_L, spins S_1..S_{L-1}", "units": "1"},
}


def markdown() -> str:
    """The variable table of docs/model.md."""
    rows = [
        "| variable | dimensions (job file) | units | meaning | point and sweep files | checked range |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for v in VARIABLES:
        cells = (f"`{v.name}`", f"`{', '.join(v.dims)}`", v.units, v.long_name, v.gather, v.bound.text if v.bound else "-")
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)
