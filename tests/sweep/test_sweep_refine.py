"""tdlm.sweep.refine: the planner of adaptive refinement, on synthetic phase tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tdlm.sweep.refine import alpha_midpoint, brackets, onset_table, plan_next

THR = math.exp(-1)
T = 1e-5


def _rows(M: int, N: int, L: int, q: list[float], sem: float = 0.01, phases: list[str] | None = None) -> list[dict]:
    """The hidden-layer rows of one point; phases from q against the threshold unless given."""
    phases = phases or ["liquid" if v < THR else "solid" for v in q]
    return [
        {"M": M, "N": N, "ln_alpha": math.log(M / N), "L": L, "T": T, "layer": l, "q_star": v, "q_star_sem": sem, "phase": p}
        for l, (v, p) in enumerate(zip(q, phases), start=1)
    ]


def _table(*points: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for point in points for row in point])


def _samples(table: pd.DataFrame, n: int = 2) -> dict:
    return {(int(r.M), int(r.N), int(r.L), float(r.T)): n for r in table.drop_duplicates(["M", "N", "L", "T"]).itertuples()}


def test_one_layer_boundary_adds_its_midpoint_in_ln_alpha():
    # layer 1 turns liquid between M = 100 and M = 400 at N = 10; layer 2 stays solid
    table = _table(_rows(100, 10, 3, [0.9, 0.9]), _rows(400, 10, 3, [0.1, 0.9]))
    plan = plan_next(table, _samples(table), kinds=("layer",), resolution=0.15)
    assert plan.new_points == [(200, 10, 3, T)]  # exp of the mean of ln 10 and ln 40 is 20: M = 200
    (b,) = plan.brackets
    assert (b.kind, b.along, b.L, b.layer, b.phase_low, b.phase_high) == ("layer", "ln_alpha", 3, 1, "solid", "liquid")
    assert (b.low, b.high) == pytest.approx((math.log(10), math.log(40)))
    # the estimate is the linear crossing of q* with the threshold between the two ends
    f = (0.9 - THR) / (0.9 - 0.1)
    assert b.estimate == pytest.approx(math.log(10) + f * math.log(4)) and 0 < b.uncertainty < b.high - b.low
    assert not b.resolved and not plan.more_samples


def test_several_boundaries_and_depths_each_get_a_midpoint():
    table = _table(
        _rows(100, 10, 4, [0.9, 0.9, 0.9]),
        _rows(200, 10, 4, [0.9, 0.1, 0.9]),  # layer 2 turns liquid in (100, 200)
        _rows(400, 10, 4, [0.1, 0.1, 0.9]),  # layer 1 in (200, 400)
        _rows(100, 10, 6, [0.9, 0.9, 0.9, 0.9, 0.9]),
        _rows(800, 10, 6, [0.9, 0.9, 0.1, 0.9, 0.9]),  # layer 3 of L = 6 in (100, 800)
    )
    plan = plan_next(table, _samples(table), kinds=("layer",), resolution=0.15)
    assert plan.new_points == [(141, 10, 4, T), (283, 10, 4, T), (283, 10, 6, T)]
    assert sorted((b.L, b.layer) for b in plan.brackets) == [(4, 1), (4, 2), (6, 3)]


def test_a_boundary_between_adjacent_integers_stops():
    table = _table(_rows(20, 1, 3, [0.9, 0.9]), _rows(21, 1, 3, [0.1, 0.9]))
    plan = plan_next(table, _samples(table), kinds=("layer",), resolution=0.01)  # wider than the resolution...
    (b,) = plan.brackets
    assert b.high - b.low > 0.01
    assert b.next_point is None and b.resolved and plan.new_points == []  # ...but no integer M inside
    assert alpha_midpoint((20, 1), (21, 1), "M") is None
    # and a bracket narrower than the resolution is resolved without asking for its midpoint
    plan = plan_next(_table(_rows(100, 10, 3, [0.9, 0.9]), _rows(110, 10, 3, [0.1, 0.9])), {}, kinds=("layer",))
    assert plan.brackets[0].resolved and plan.new_points == []


def test_midpoint_varies_what_the_neighbours_share():
    assert alpha_midpoint((100, 10), (400, 10), "N") == (200, 10)  # shared N: M varies
    assert alpha_midpoint((200, 40), (200, 10), "M") == (200, 20)  # shared M: N varies
    assert alpha_midpoint((100, 10), (800, 20), "M") == (200, 10)  # neither: `vary` at the lower end's other
    assert alpha_midpoint((100, 10), (800, 20), "N") == (100, 5)
    # M stays a multiple of the classes (a balanced training set): 22.6 -> 22, not 23
    assert alpha_midpoint((8, 4), (64, 4), "M") == (23, 4) and alpha_midpoint((8, 4), (64, 4), "M", m_step=2) == (22, 4)
    assert alpha_midpoint((20, 4), (22, 4), "M", m_step=2) is None  # 21 is not allowed: nothing inside


def test_uncertain_points_get_samples_within_the_budget():
    table = _table(
        _rows(100, 10, 3, [0.9, 0.9]),
        _rows(200, 10, 3, [0.37, 0.9], phases=["uncertain", "solid"]),
        _rows(400, 10, 3, [0.1, 0.9]),
    )
    samples = {(100, 10, 3, T): 3, (200, 10, 3, T): 3, (400, 10, 3, T): 3}
    plan = plan_next(table, samples, kinds=("layer",), samples_per_job=2, max_samples=8)
    assert plan.more_samples == {(200, 10, 3, T): 5}
    # for bracketing the uncertain layer is taken at its mean (0.37 >= 1/e: solid) and the bracket says so;
    # the bisection goes on meanwhile
    (b,) = plan.brackets
    assert (b.low, b.high) == pytest.approx((math.log(20), math.log(40)))
    assert (b.phase_low, b.low_by_mean, b.phase_high, b.high_by_mean) == ("solid", True, "liquid", False)
    assert plan.new_points == [(283, 10, 3, T)]
    # the budget is a cap: 7 + 2 > 8, no more samples
    samples[(200, 10, 3, T)] = 7
    assert plan_next(table, samples, kinds=("layer",), samples_per_job=2, max_samples=8).more_samples == {}


def test_liquid_onset_along_ln_alpha_and_along_L():
    table = _table(
        _rows(100, 10, 3, [0.9, 0.9]),
        _rows(100, 10, 9, [0.9, 0.5, 0.2, 0.1, 0.2, 0.5, 0.9, 0.95]),  # a liquid centre at L = 9
        _rows(400, 10, 3, [0.9, 0.2]),  # the shallow net has a liquid layer at larger alpha
    )
    per_point = onset_table(table, THR)
    assert per_point.set_index(["M", "L"])["phase"].to_dict() == {(100, 3): "solid", (100, 9): "liquid", (400, 3): "liquid"}
    plan = plan_next(table, _samples(table), kinds=("onset",), resolution=0.15)
    along = {b.along: b for b in plan.brackets}
    assert set(along) == {"ln_alpha", "L"}
    assert (along["L"].low, along["L"].high, along["L"].next_point) == (3.0, 9.0, (100, 10, 6, T))
    assert along["ln_alpha"].L == 3 and along["ln_alpha"].next_point == (200, 10, 3, T)
    # the onset estimate uses the most liquid layer: min_l q*_l goes 0.9 -> 0.1 from L = 3 to 9
    assert along["L"].estimate == pytest.approx(3 + 6 * (0.9 - THR) / 0.8)
    assert plan.new_points == [(100, 10, 6, T), (200, 10, 3, T)]
    # L neighbours with no integer between them are final
    final = brackets(_table(_rows(100, 10, 3, [0.9, 0.9]), _rows(100, 10, 4, [0.9, 0.1, 0.9])), ("onset",), 0.15, "M", THR)
    assert [(b.along, b.next_point, b.resolved) for b in final] == [("L", None, True)]


def test_the_plan_is_a_pure_function_of_the_table():
    table = _table(
        _rows(100, 10, 4, [0.9, 0.9, 0.9]),
        _rows(400, 10, 4, [0.1, 0.1, 0.9]),
        _rows(100, 10, 8, [0.9, 0.2, 0.2, 0.2, 0.5, 0.9, 0.9]),
        _rows(300, 10, 4, [0.37, 0.2, 0.9], phases=["uncertain", "liquid", "solid"]),
    )
    samples = _samples(table, 3)
    first = plan_next(table, samples, samples_per_job=1, max_samples=6)
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = plan_next(shuffled, dict(reversed(list(samples.items()))), samples_per_job=1, max_samples=6)
    assert first == again and first.new_points and first.more_samples


def test_rounds_converge_to_the_resolution_on_a_synthetic_truth():
    """Refining with an oracle whose layer 1 turns liquid at ln alpha = 2.77 (N = 10): each round halves the
    bracket, until it is below the resolution, and the final bracket holds the truth."""
    truth, N, L = 2.77, 10, 3

    def point(M: int) -> list[dict]:
        q1 = 0.9 if math.log(M / N) < truth else 0.1
        return _rows(M, N, L, [q1, 0.9])

    Ms, widths = [50, 800], []
    for _ in range(20):
        table = _table(*[point(M) for M in Ms])
        plan = plan_next(table, _samples(table), kinds=("layer",), resolution=0.15)
        (b,) = plan.brackets
        widths.append(b.high - b.low)
        assert b.low < truth < b.high
        if not plan.new_points:
            break
        Ms += [p[0] for p in plan.new_points]
    assert widths[-1] <= 0.15 and all(np.diff(widths) < 0)
    assert len(Ms) - 2 == len(widths) - 1 == math.ceil(math.log2(math.log(16) / 0.15))  # one point per halving
