"""What workflow/rules/paper.smk needs at parse time, computed from the config and the job table.

Why here and not in the .smk: rules files should hold rules (snakemake --lint), and these
choices (which point the design space uses, which flags the figure command gets, the cost
line) are ordinary Python that tests can call directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tdlm.paper.cost import estimate, format_estimate
from tdlm.paper.render import FIGURES, PLOTTED
from tdlm.paper.select import Point, choose
from tdlm.sweep.settings import PAPER, section


@dataclass(frozen=True)
class PaperSettings:
    figures: list[str]
    plotted: str
    phase_L: int
    reference: Point
    design: Point
    design_jobs: list[str]  # Paramspace instance patterns of the design point's jobs
    figure_flags: str
    design_flags: str


def _point_spec(paper: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: paper[f"{name}.{k}"] for k in ("M", "N", "L", "T")}


def settings(config: dict[str, Any], jobs: pd.DataFrame, job_patterns: list[str]) -> PaperSettings:
    """Resolve the `paper:` section (all keys optional) against the sweep's points.

    reference: the point of the single-point figures (default: lowest T, L nearest phase_L,
    median alpha); design: the point of the design-space analysis (default: lowest T, largest L
    at that T, median alpha). A point given in the config must exist in the sweep.
    """
    paper = section(config, PAPER)
    phase_L = paper["phase_L"]
    points = jobs[["M", "N", "L", "T"]].drop_duplicates()
    reference = choose(points, **_point_spec(paper, "reference"), default_L=phase_L, strict=True)
    design = choose(points, **_point_spec(paper, "design"), default_L="max", strict=True)
    mask = (
        (jobs.M == design.M)
        & (jobs.N == design.N)
        & (jobs.L == design.L)
        & (abs(jobs["T"] - design.T) <= 1e-12 + 1e-6 * abs(design.T))
    ).to_numpy()
    design_jobs = [p for p, keep in zip(job_patterns, mask) if keep]
    flags = [f"--M {reference.M}", f"--N {reference.N}", f"--L {reference.L}", f"--T {reference.T!r}", f"--phase-L {phase_L}"]
    design_flags = [f"--bins {paper['design.bins']}"]
    if paper["design.layers"]:
        design_flags.append("--layers " + " ".join(map(str, paper["design.layers"])))
    if paper["design.t_w"] is not None:
        design_flags.append(f"--t-w {paper['design.t_w']}")
    return PaperSettings(list(FIGURES), PLOTTED, phase_L, reference, design, design_jobs, " ".join(flags), " ".join(design_flags))


def cost_banner(config: dict[str, Any]) -> str | None:
    """The cost estimate printed while the workflow is parsed (snakemake -n too) when the config has `paper:`.

    `paper.cost.print: false` silences it.
    """
    if config.get("paper") is None or not section(config, PAPER)["cost.print"]:
        return None
    return format_estimate(estimate(config), f"run '{config.get('run')}'")
