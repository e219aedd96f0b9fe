"""The phase diagram reads like the paper's, at the default grid, config/refine.yaml's 15 points and a
10 x 10 grid: one separated cell per hidden layer at the point's own ln alpha, no wider than the spacing
to its neighbours, coloured by phase.nc; liquid spans, boundary.csv's brackets, q*_l profiles with error
bars and the threshold, xi_s; every legend entry names something drawn."""

from __future__ import annotations

import io
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import Collection, LineCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, Container, ErrorbarContainer
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tdlm.plot.phase import PHASE_COLOURS, phase_diagram, q_star_heatmap
from tdlm.sweep.classify import classify, liquid_crossings
from tdlm.sweep.rounds import BOUNDARY_COLUMNS

from helpers.synthetic import DEFAULT_POINTS, GRID_POINTS, REFINE_POINTS, synthetic_grid_overlaps

# boundary.csv of the refinement (docs/validation.md, section 5): two per-layer brackets, three onsets
BOUNDARIES = pd.DataFrame(
    [
        ("layer", "ln_alpha", 8, 4, 200, np.nan, 2.900, 2.996, 2.964),
        ("layer", "ln_alpha", 7, 3, 200, np.nan, 3.101, 3.219, 3.103),
        ("onset", "ln_alpha", 7, np.nan, 200, np.nan, 3.101, 3.219, 3.103),
        ("onset", "L", np.nan, np.nan, 200, 16, 6, 7, 6.89),
        ("onset", "L", np.nan, np.nan, 200, 8, 7, 8, 7.92),
    ],
    columns=["kind", "along", "L", "layer", "M", "N", "low", "high", "estimate"],
).assign(T=1e-5)


def undrawn_legend_entries(ax: plt.Axes) -> list[str]:
    """Legend labels of `ax` that name no artist of `ax` with something drawn (a line with points, a
    collection with paths, a container of such)."""
    legend = ax.get_legend()
    if legend is None:
        return []

    def has_data(artist) -> bool:
        if isinstance(artist, Container):
            return any(has_data(c) for c in artist.get_children() if c is not None)
        if isinstance(artist, Line2D):
            return len(artist.get_xdata()) > 0
        if isinstance(artist, Collection):
            return any(len(p.vertices) for p in artist.get_paths())
        return isinstance(artist, Patch)

    artists = [*ax.lines, *ax.collections, *ax.patches, *ax.containers]
    drawn = {a.get_label() for a in artists if has_data(a)}
    return [t.get_text() for t in legend.get_texts() if t.get_text() not in drawn]


def _phase(points):
    return classify(synthetic_grid_overlaps(points), threshold=math.exp(-1))


@pytest.mark.parametrize(
    "points, boundaries",
    [(DEFAULT_POINTS, None), (REFINE_POINTS, BOUNDARIES), (GRID_POINTS, None)],
    ids=["default", "refine", "10x10"],
)
def test_phase_diagram_draws_one_cell_per_layer_at_each_point(points, boundaries):
    phase = _phase(points)
    drawn = phase_diagram(phase, boundaries=boundaries)
    ax, ax_q, ax_xi = drawn.figure.axes[:3]
    bars = [p for c in ax.containers if isinstance(c, BarContainer) for p in c.patches]
    assert len(bars) == sum(L - 1 for _, _, L in points)  # every hidden layer of every point, nothing else
    x = np.array([b.get_x() + b.get_width() / 2 for b in bars])
    y0, y1 = np.array([b.get_y() for b in bars]), np.array([b.get_y() + b.get_height() for b in bars])
    w = np.array([b.get_width() for b in bars])
    ln_alpha = {(M, N, L): math.log(M / N) for M, N, L in points}
    for M, N, L in points:  # the column of (M, N, L): L - 1 cells at its ln alpha, stacked within L +- 0.5
        mine = np.isclose(x, ln_alpha[M, N, L]) & (y0 > L - 0.5) & (y1 < L + 0.5)
        assert mine.sum() == L - 1, (M, N, L)
        others = [v for (_, _, L2), v in ln_alpha.items() if L2 == L and not np.isclose(v, ln_alpha[M, N, L])]
        if others:  # no wider than the spacing to its neighbours
            assert w[mine].max() <= min(abs(np.array(others) - ln_alpha[M, N, L])) + 1e-9
        order = np.argsort(y0[mine])
        assert np.all(y0[mine][order][1:] >= y1[mine][order][:-1] - 1e-12)  # cells do not overlap
    assert all(b.get_linewidth() > 0 and to_hex(b.get_edgecolor()) == "#ffffff" for b in bars)  # separated
    # colours are phase.nc's flags
    flags = phase.phase.isel(T=0).values
    for flag, colour in PHASE_COLOURS.items():
        assert sum(to_hex(b.get_facecolor()) == colour for b in bars) == int((flags == flag).sum()), flag
    # a liquid span per point with a liquid layer, between its interpolated crossings
    q = phase.q_star.isel(T=0)
    n_liquid = sum(
        liquid_crossings(q.isel(alpha=i, L=j).values[: int(q.L[j]) - 1], math.exp(-1)) is not None
        for i in range(q.sizes["alpha"])
        for j in range(q.sizes["L"])
        if np.isfinite(q.isel(alpha=i, L=j).values).any()
    )
    spans = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label().startswith("liquid span")]
    assert len(spans[0].get_segments()) == n_liquid if n_liquid else not spans
    # the profiles: one error-bar curve per point, the threshold line; xi_s: one line per depth
    assert sum(isinstance(c, ErrorbarContainer) for c in ax_q.containers) == len(points)
    assert any(np.allclose(line.get_ydata(), math.exp(-1)) for line in ax_q.lines)
    assert len(ax_xi.lines) == len({L for _, _, L in points})
    assert set(ax.get_yticks()) >= set(range(min(L for *_, L in points), max(L for *_, L in points) + 1))
    if boundaries is not None:
        assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == len(boundaries)
    for axis in (ax, ax_q, ax_xi):
        assert not undrawn_legend_entries(axis)
    drawn.figure.savefig(io.BytesIO(), format="png", dpi=60)  # renders
    plt.close(drawn.figure)


def test_heatmap_legend_names_only_a_drawn_contour():
    """L = 3 of the default grid never crosses the threshold: no contour, so no contour in the legend
    (it used to list one); L = 8 crosses it: the contour is drawn and named."""
    phase = _phase(DEFAULT_POINTS)
    assert (phase.q_star.sel(L=3).isel(T=0).sel(layer=[1, 2]) > math.exp(-1)).all()
    flat = q_star_heatmap(phase, 3)
    ax = flat.figure.axes[0]
    assert ax.get_legend() is None and "no threshold crossing" in flat.title
    crossing = q_star_heatmap(phase, 8)
    ax = crossing.figure.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["q* = 0.368 (1/e)"]
    assert not undrawn_legend_entries(ax)
    plt.close("all")


def test_undrawn_legend_entries_catches_a_proxy():
    fig, ax = plt.subplots()
    ax.plot([], [], label="a contour that is not there")
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend()
    assert undrawn_legend_entries(ax) == ["a contour that is not there"]
    plt.close(fig)


def test_boundary_columns_are_the_ones_drawn():
    assert set(BOUNDARIES.columns) <= set(BOUNDARY_COLUMNS)


def test_readme_outputs_table_lists_the_csvs_beside_the_figures():
    """Every figure `tdlm plot-phase` saves (by its Drawn name) has its CSV in the README's outputs table,
    and so do the paper's figures."""
    from helpers.workflow import REPO

    phase = _phase(DEFAULT_POINTS)
    names = [phase_diagram(phase).name] + [q_star_heatmap(phase, L).name for L in (3, 8)]
    plt.close("all")
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `results/<run>/figures/")]
    documented = " ".join(row.split("|")[1] for row in rows)
    for name in names:
        assert f"figures/{name.replace('_L3', '_L<L>').replace('_L8', '_L<L>')}.csv" in documented, name
    assert "figures/paper/<figure>.{png,pdf,csv}" in documented
