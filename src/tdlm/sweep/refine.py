"""The adaptive-refinement planner: from the classified points of rounds 0..k, the points and samples of round k+1.

A pure function of its inputs (the same table gives the same plan), so that a resumed or repeated
workflow plans the same rounds. Two kinds of boundary are bracketed:

- per layer: at fixed (L, T, layer), between neighbouring points in ln alpha whose layer is solid on
  one side and liquid on the other;
- liquid onset: between neighbouring points without and with a liquid layer, along ln alpha at fixed
  (L, T) and along L at fixed (M, N, T). A point has a liquid layer when min_l q*_l < threshold.

A bracket wider than the resolution gets its midpoint as a new point: in ln alpha, rounded to an integer M
(or N: `vary`); in L, the integer midpoint. A bracket with no integer point inside is final. Points with an
uncertain layer get one more job of `samples_per_job` samples while their total stays within the budget.
For bracketing, an uncertain layer is taken at its mean (liquid when q* < threshold), and the bracket says
so (`low_by_mean`, `high_by_mean`): waiting for its samples to decide it would stall the bisection for
rounds, while its samples, added meanwhile, can still move it and the next round's plan follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tdlm.sweep.settings import KINDS, RESOLUTION, THRESHOLD

VARY = ("M", "N")
DECIDED = ("solid", "liquid")


@dataclass(frozen=True)
class Bracket:
    """One boundary between two neighbouring decided points; `low`/`high` in ln alpha, or in L (along="L")."""

    kind: str  # "layer" or "onset"
    along: str  # "ln_alpha" or "L"
    T: float
    L: int | None  # fixed depth (None along L)
    layer: int | None  # the layer (per-layer boundaries only)
    M: int | None  # fixed point (along L only)
    N: int | None
    low: float
    high: float
    phase_low: str
    phase_high: str
    low_by_mean: bool  # that end was uncertain, taken at its mean
    high_by_mean: bool
    estimate: float  # the interpolated crossing of q* (onset: min_l q*_l) with the threshold
    uncertainty: float
    next_point: tuple[int, int, int, float] | None  # (M, N, L, T) that splits it, None when final
    resolved: bool  # narrower than the resolution, or no integer point inside

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "next_point"}


@dataclass(frozen=True)
class Plan:
    """What round k+1 adds: new points, and new sample totals of uncertain points; the brackets it saw."""

    new_points: list[tuple[int, int, int, float]]
    more_samples: dict[tuple[int, int, int, float], int]
    brackets: list[Bracket]


def _crossing(x0: float, x1: float, q0: float, q1: float, s0: float, s1: float, threshold: float) -> tuple[float, float]:
    """Linear interpolation of q(x) = threshold between (x0, q0) and (x1, q1), and its error from the
    standard errors s0, s1 of q0, q1 (NaN errors count as 0), capped at the bracket's width."""
    if not (math.isfinite(q0) and math.isfinite(q1)) or q0 == q1:
        return 0.5 * (x0 + x1), 0.5 * abs(x1 - x0)
    f = min(1.0, max(0.0, (q0 - threshold) / (q0 - q1)))
    estimate = x0 + f * (x1 - x0)
    dq = q1 - q0
    d0 = (x1 - x0) * (threshold - q1) / dq**2  # d estimate / d q0
    d1 = (x1 - x0) * (q0 - threshold) / dq**2  # d estimate / d q1
    err = math.hypot(d0 * (s0 if math.isfinite(s0) else 0.0), d1 * (s1 if math.isfinite(s1) else 0.0))
    return estimate, min(err, abs(x1 - x0))


def alpha_midpoint(a: tuple[int, int], b: tuple[int, int], vary: str, m_step: int = 1) -> tuple[int, int] | None:
    """The integer point at the midpoint in ln alpha of the (M, N) points a and b: M rounded (to a multiple of
    `m_step`, the number of classes of a balanced training set) at the shared N, N rounded at the shared M,
    or, when they share neither, `vary` rounded at the other of a. None when the rounded point is not
    strictly inside (no allowed point left between them)."""
    mid = 0.5 * (math.log(a[0] / a[1]) + math.log(b[0] / b[1]))
    here = "M" if a[1] == b[1] else "N" if a[0] == b[0] else vary
    if here == "M":
        point = (m_step * max(1, round(math.exp(mid) * a[1] / m_step)), a[1])
    else:
        point = (a[0], max(1, round(a[0] / math.exp(mid))))
    lo, hi = sorted((math.log(a[0] / a[1]), math.log(b[0] / b[1])))
    return point if lo < math.log(point[0] / point[1]) < hi else None


def _pairs(frame: pd.DataFrame, x: str):
    """Neighbouring decided rows of a frame sorted by x, whose phases differ."""
    frame = frame[frame["phase"].isin(DECIDED)].sort_values([x, "M", "N"])
    rows = list(frame.itertuples(index=False))
    for a, b in zip(rows, rows[1:]):
        if a.phase != b.phase and getattr(a, x) != getattr(b, x):
            yield a, b


def settle(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The table with its uncertain layers taken at their mean (liquid when q* < threshold), marked `by_mean`."""
    chosen = table["phase"] == "uncertain"
    table = table.assign(by_mean=chosen)
    table.loc[chosen, "phase"] = ["liquid" if q < threshold else "solid" for q in table.loc[chosen, "q_star"]]
    return table


def brackets(
    table: pd.DataFrame, kinds: tuple[str, ...], resolution: float, vary: str, threshold: float, m_step: int = 1
) -> list[Bracket]:
    """Every bracket of the chosen kinds in a phase table (one row per point and hidden layer: M, N, ln_alpha,
    L, T, layer, q_star, q_star_sem, phase, and optionally by_mean from `settle`)."""
    if "by_mean" not in table:
        table = table.assign(by_mean=False)
    found = []
    if "layer" in kinds:
        for (L, T, layer), group in table.groupby(["L", "T", "layer"], sort=True):
            for a, b in _pairs(group, "ln_alpha"):
                found.append(_alpha_bracket("layer", a, b, int(L), float(T), int(layer), resolution, vary, threshold, m_step))
    if "onset" in kinds:
        per_point = onset_table(table, threshold)
        for (L, T), group in per_point.groupby(["L", "T"], sort=True):
            for a, b in _pairs(group, "ln_alpha"):
                found.append(_alpha_bracket("onset", a, b, int(L), float(T), None, resolution, vary, threshold, m_step))
        for (M, N, T), group in per_point.groupby(["M", "N", "T"], sort=True):
            for a, b in _pairs(group, "L"):
                est, err = _crossing(a.L, b.L, a.q_star, b.q_star, a.q_star_sem, b.q_star_sem, threshold)
                mid = (a.L + b.L) // 2
                inside = a.L < mid < b.L
                found.append(
                    Bracket(
                        "onset", "L", float(T), None, None, int(M), int(N), float(a.L), float(b.L), a.phase, b.phase,
                        bool(a.by_mean), bool(b.by_mean), est, err, (int(M), int(N), int(mid), float(T)) if inside else None,
                        not inside,
                    )
                )  # fmt: skip
    return found


def _alpha_bracket(
    kind: str, a, b, L: int, T: float, layer: int | None, resolution: float, vary: str, threshold: float, m_step: int
) -> Bracket:
    est, err = _crossing(a.ln_alpha, b.ln_alpha, a.q_star, b.q_star, a.q_star_sem, b.q_star_sem, threshold)
    narrow = b.ln_alpha - a.ln_alpha <= resolution
    mid = None if narrow else alpha_midpoint((int(a.M), int(a.N)), (int(b.M), int(b.N)), vary, m_step)
    return Bracket(
        kind, "ln_alpha", T, L, layer, None, None, float(a.ln_alpha), float(b.ln_alpha), a.phase, b.phase,
        bool(a.by_mean), bool(b.by_mean), est, err, (mid[0], mid[1], L, T) if mid else None, narrow or mid is None,
    )  # fmt: skip


def onset_table(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per point: min over hidden layers of q*_l (with that layer's error) and whether the point has a
    liquid layer ("liquid"), has none and no uncertain layer ("solid"), or is undecided ("uncertain")."""
    rows = []
    for (M, N, L, T), group in table.groupby(["M", "N", "L", "T"], sort=True):
        low = group.loc[group["q_star"].idxmin()] if group["q_star"].notna().any() else group.iloc[0]
        phases = set(group["phase"])
        phase = "liquid" if "liquid" in phases else "uncertain" if phases - {"solid"} else "solid"
        by_mean = bool(group["by_mean"].any()) if "by_mean" in group else False
        rows.append(
            {
                "M": M, "N": N, "L": L, "T": T, "ln_alpha": math.log(M / N), "q_star": low["q_star"],
                "q_star_sem": low["q_star_sem"], "phase": phase, "by_mean": by_mean,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def plan_next(
    table: pd.DataFrame,
    samples: dict[tuple[int, int, int, float], int],
    *,
    kinds: tuple[str, ...] = KINDS,
    resolution: float = RESOLUTION,
    vary: str = "M",
    threshold: float = THRESHOLD,
    samples_per_job: int = 1,
    max_samples: int = 0,
    m_step: int = 1,
) -> Plan:
    """Round k+1 from the phase table of rounds 0..k and each point's current number of samples."""
    uncertain = sorted(
        {(int(r.M), int(r.N), int(r.L), float(r.T)) for r in table.itertuples(index=False) if r.phase == "uncertain"}
    )
    more = {p: samples[p] + samples_per_job for p in uncertain if p in samples and samples[p] + samples_per_job <= max_samples}
    found = brackets(settle(table, threshold), kinds, resolution, vary, threshold, m_step)
    existing = set(samples)
    new = sorted({b.next_point for b in found if b.next_point and b.next_point not in existing})
    return Plan(new, more, found)
