"""The paper's whole figure set from overlaps.nc, phase.nc and design_space.nc.

Why one entry point: paper.smk declares exactly `FIGURES` as outputs, so the list here and
the files written must never drift apart; a figure whose data is thin still renders (its
title says what is missing) rather than leaving an output absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import xarray as xr

from tdlm.figure_files import save, write_plotted
from tdlm.paper.select import PHASE_L, Point, choose, points_with_data
from tdlm.plot import dynamics, profiles
from tdlm.plot.common import Drawn
from tdlm.plot.design import design_space_figure  # the module name is taken by the design dataset
from tdlm.sweep.classify import overlap_of

log = logging.getLogger("tdlm")

# figure stem -> what it shows (also the caption file workflow/report/paper_<stem>.rst)
FIGURES = {
    "phase_heatmap": "q*_l over layer and ln alpha at L = 10 with the 1/e contour",
    "energy_accuracy": "E(t)/E(0) and A(t) per alpha",
    "star_vs_alpha": "E* and A* against ln alpha",
    "aging": "c(t, t_w) and C(t, t_w) for every t_w",
    "star_vs_tw": "c*, C*, q*, Q* against t_w",
    "layer_dynamics": "c_l, C_l, q_l, Q_l over t",
    "tau": "tau_l against t_w from c_l and C_l",
    "q_profiles_train_test": "q*_l for training and test inputs",
    "temperature": "E* and A* against T",
    "depth_profiles": "q*_l profiles of the depth series",
    "design_space": "overlap matrices, dendrograms and P(Q) of a liquid and a solid layer",
}
PLOTTED = "plotted_data.json"


def reference_point(
    overlaps: xr.Dataset,
    M: int | None = None,
    N: int | None = None,
    L: int | None = None,
    T: float | None = None,
    phase_L: int = PHASE_L,
) -> Point:
    """The point of the single-point figures: as given, else lowest T, L nearest phase_L, median alpha."""
    return choose(points_with_data(overlaps), M, N, L, T, default_L=phase_L)


def render_all(
    overlaps: xr.Dataset, phase: xr.Dataset, design: xr.Dataset, outdir: str | Path, reference: Point, phase_L: int = PHASE_L
) -> list[Drawn]:
    """Every figure of FIGURES as <outdir>/<stem>.{png,pdf,csv}, plus <outdir>/plotted_data.json (the
    caller chooses the backend: `tdlm paper-figures` uses Agg)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    table = points_with_data(overlaps)
    heat = choose(table, T=reference.T, default_L=phase_L)  # the phase diagram's depth: L = phase_L if present
    heat_note = heat.note if heat.L == phase_L else f"no L={phase_L}: L={heat.L} shown"
    overlap = overlap_of(phase)  # the time-resolved figures use the normalisation the labels came from
    jobs = [
        lambda: profiles.phase_heatmap(phase, heat.L, heat.T, heat_note),
        lambda: dynamics.energy_accuracy(overlaps, reference),
        lambda: dynamics.star_vs_alpha(overlaps, reference),
        lambda: dynamics.aging(overlaps, reference, overlap),
        lambda: dynamics.star_vs_tw(overlaps, reference, overlap),
        lambda: dynamics.layer_dynamics(overlaps, reference, overlap),
        lambda: dynamics.tau_vs_tw(overlaps, reference),
        lambda: profiles.q_profiles_train_test(phase, reference.L, reference.T, reference.note),
        lambda: dynamics.temperature(overlaps, reference),
        lambda: profiles.depth_profiles(phase, reference),
        lambda: design_space_figure(design),
    ]
    drawn = []
    for job in jobs:
        result = job()
        result.files = save(result.figure, outdir / result.name, result.table())
        log.info("figure %s: %s", result.name, result.title)
        drawn.append(result)
    assert [d.name for d in drawn] == list(FIGURES), "render_all and FIGURES disagree"
    write_plotted(drawn, outdir / PLOTTED)
    return drawn


def render_files(
    overlaps_path: str,
    phase_path: str,
    design_path: str,
    outdir: str,
    M: int | None = None,
    N: int | None = None,
    L: int | None = None,
    T: float | None = None,
    phase_L: int = PHASE_L,
) -> list[Drawn]:
    opened = []
    for path in (overlaps_path, phase_path, design_path):
        with xr.open_dataset(path, engine="netcdf4") as ds:
            opened.append(ds.load())
    overlaps, phase, design = opened
    reference = reference_point(overlaps, M, N, L, T, phase_L)
    log.info("reference point: %s%s", reference.label(), f" ({reference.note})" if reference.note else "")
    return render_all(overlaps, phase, design, outdir, reference, phase_L)
