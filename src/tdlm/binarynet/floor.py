"""The noise floor of a block's entropy and the phase rule that reads every result against it.

A pairwise model fitted to M samples finds couplings even where there are none: sampling noise in
the correlations (of order 1/sqrt(M)) is fitted as structure and lowers the entropy. The null control
measures that floor: every weight is shuffled independently across networks (magnetisations kept,
correlations destroyed), the same fit and Bethe entropy are taken, on `null_shuffles` independent
shuffles, giving the floor's mean and spread. Without finite-ensemble noise the null would sit at
the entropy of independent spins with the data's magnetisations (`s_independent`, exact).

Phase rule (docs/effective-model.md), per block and ensemble, with z = (s - s_null) / spread(s_null):

- liquid_like: the null is within `null_tolerance` of ln 2 (the floor can resolve a free block) and the
  block is indistinguishable from its null (z >= -null_z) or above `liquid_threshold`;
- undetermined: otherwise, when the null lies more than `null_tolerance` below s_independent (the
  floor is set by the ensemble's size, not by the weights, so a low s cannot be told from noise);
- structured: otherwise (the floor is resolved, and the block is either significantly below it or
  held below ln 2 by its magnetisations).

A block whose Bethe entropy did not converge (belief propagation) is undetermined whatever its value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASE_FLAGS = {"structured": 0, "liquid_like": 1, "undetermined": 2}


def independent_entropy(m: np.ndarray) -> float:
    """Entropy per spin in units of ln 2 of independent +-1 spins with magnetisations m (exact)."""
    p = np.clip((1 + np.asarray(m, dtype=np.float64)) / 2, 1e-300, 1.0)
    q = np.clip(1 - p, 1e-300, 1.0)
    return float(np.mean(-p * np.log(p) - q * np.log(q)) / np.log(2))


@dataclass(frozen=True)
class Floor:
    """A block's entropy against its null: all entropies in units of ln 2."""

    s: float
    null_mean: float
    null_sd: float  # standard deviation over the independent shuffles (ddof = 1)
    independent: float  # s_independent: the null without finite-ensemble noise
    converged: bool = True  # belief propagation converged for the block (else s is no entropy)

    @property
    def z(self) -> float:
        """(s - null mean) in units of the null's spread (+-inf when the spread is zero)."""
        diff = self.s - self.null_mean
        if self.null_sd > 0:
            return diff / self.null_sd
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)


def classify(floor: Floor, liquid_threshold: float, null_tolerance: float, null_z: float) -> int:
    """The PHASE_FLAGS value of one block by the rule of the module docstring.

    Without a null (NaN: null_control off) the floor is unknown: liquid_like above liquid_threshold,
    else undetermined. A block whose belief propagation did not converge is undetermined.
    """
    if not floor.converged:
        return PHASE_FLAGS["undetermined"]
    if np.isnan(floor.null_mean):
        return PHASE_FLAGS["liquid_like" if floor.s >= liquid_threshold else "undetermined"]
    if floor.null_mean >= 1 - null_tolerance and (floor.z >= -null_z or floor.s >= liquid_threshold):
        return PHASE_FLAGS["liquid_like"]
    if floor.independent - floor.null_mean > null_tolerance:
        return PHASE_FLAGS["undetermined"]
    return PHASE_FLAGS["structured"]
