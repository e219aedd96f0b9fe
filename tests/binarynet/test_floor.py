"""The phase rule reads each block against its noise floor; synthetic ensembles with a known answer."""

import numpy as np
import pytest

from tdlm.binarynet.config import validate
from tdlm.binarynet.floor import PHASE_FLAGS, Floor, classify, independent_entropy
from tdlm.binarynet.measures import layer_measures

P = validate({"mc_chains": 20, "mc_burn_in": 5, "mc_records": 2, "pl_l2": 0.01, "null_shuffles": 3})


def _phase(samples: np.ndarray, **params) -> tuple[str, object]:
    runs = np.arange(len(samples))
    measures, _, _ = layer_measures(samples, runs, {**P, **params}, seed=0)
    flag = classify(measures.floor, P["liquid_threshold"], P["null_tolerance"], P["null_z"])
    return {v: k for k, v in PHASE_FLAGS.items()}[flag], measures


def test_independent_weights_are_liquid_like() -> None:
    s = np.where(np.random.default_rng(1).random((20000, 16)) < 0.5, 1.0, -1.0)
    phase, m = _phase(s)
    assert phase == "liquid_like", m
    assert m.s_null_over_ln2 > 0.98 and abs(m.s_over_ln2 - m.s_null_over_ln2) < 1e-3


def test_strongly_coupled_pairs_are_structured() -> None:
    rng = np.random.default_rng(2)
    s = np.where(rng.random((20000, 16)) < 0.5, 1.0, -1.0)
    s[:, 1::2] = s[:, ::2] * np.where(rng.random((20000, 8)) < 0.95, 1.0, -1.0)  # pairs agree 95% of the time
    phase, m = _phase(s)
    assert phase == "structured", m
    assert m.s_null_over_ln2 > 0.98 and m.floor.z < -10 and m.s_over_ln2 < 0.8


def test_too_few_networks_are_undetermined() -> None:
    s = np.where(np.random.default_rng(3).random((40, 30)) < 0.5, 1.0, -1.0)  # M close to n: the fit finds noise
    phase, m = _phase(s, pl_l2=0.3)  # the default L2 for small ensembles (a weaker one lets the fit diverge)
    assert phase == "undetermined", m
    assert m.s_independent_over_ln2 - m.s_null_over_ln2 > 0.02


def test_field_ordered_block_with_a_resolved_floor_is_structured() -> None:
    """Frozen-ish independent weights: the null is low because of the magnetisations, not the ensemble."""
    f = Floor(s=0.40, null_mean=0.40, null_sd=0.002, independent=0.405)
    assert classify(f, 0.95, 0.02, 3.0) == PHASE_FLAGS["structured"]
    assert classify(Floor(0.97, 0.99, 0.001, 1.0), 0.95, 0.02, 3.0) == PHASE_FLAGS["liquid_like"]  # above threshold
    assert classify(Floor(0.5, np.nan, np.nan, 1.0), 0.95, 0.02, 3.0) == PHASE_FLAGS["undetermined"]  # no null
    assert classify(Floor(4.5, 0.9, 0.001, 0.9, converged=False), 0.95, 0.02, 3.0) == PHASE_FLAGS["undetermined"]


@pytest.mark.parametrize("m", [0.0, 0.5, -0.9])
def test_independent_entropy(m: float) -> None:
    p = (1 + m) / 2
    expected = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    assert independent_entropy(np.full(5, m)) == pytest.approx(expected)
