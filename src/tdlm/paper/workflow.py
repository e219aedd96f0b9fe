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
from tdlm.paper.select import PHASE_L, Point, choose


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


def _point_spec(section: dict[str, Any] | None) -> dict[str, Any]:
    section = section or {}
    return {k: section.get(k) for k in ("M", "N", "L", "T")}


def settings(config: dict[str, Any], jobs: pd.DataFrame, job_patterns: list[str]) -> PaperSettings:
    """Resolve the `paper:` section (all keys optional) against the sweep's points.

    reference: the point of the single-point figures (default: lowest T, L nearest phase_L,
    median alpha); design: the point of the design-space analysis (default: lowest T, largest L
    at that T, median alpha). A point given in the config must exist in the sweep.
    """
    paper = config.get("paper") or {}
    phase_L = int(paper.get("phase_L", PHASE_L))
    points = jobs[["M", "N", "L", "T"]].drop_duplicates()
    reference = choose(points, **_point_spec(paper.get("reference")), default_L=phase_L, strict=True)
    design_cfg = paper.get("design") or {}
    design = choose(points, **_point_spec(design_cfg), default_L="max", strict=True)
    mask = (
        (jobs.M == design.M)
        & (jobs.N == design.N)
        & (jobs.L == design.L)
        & (abs(jobs["T"] - design.T) <= 1e-12 + 1e-6 * abs(design.T))
    ).to_numpy()
    design_jobs = [p for p, keep in zip(job_patterns, mask) if keep]
    flags = [f"--M {reference.M}", f"--N {reference.N}", f"--L {reference.L}", f"--T {reference.T!r}", f"--phase-L {phase_L}"]
    design_flags = [f"--bins {int(design_cfg.get('bins', 40))}"]
    if design_cfg.get("layers"):
        design_flags.append("--layers " + " ".join(str(int(l)) for l in design_cfg["layers"]))
    if design_cfg.get("t_w") is not None:
        design_flags.append(f"--t-w {int(design_cfg['t_w'])}")
    return PaperSettings(list(FIGURES), PLOTTED, phase_L, reference, design, design_jobs, " ".join(flags), " ".join(design_flags))


def cost_banner(config: dict[str, Any]) -> str | None:
    """The cost estimate printed while the workflow is parsed (snakemake -n too) when the config has `paper:`.

    `paper.cost.print: false` silences it.
    """
    paper = config.get("paper")
    if paper is None or not ((paper.get("cost") or {}).get("print", True)):
        return None
    return format_estimate(estimate(config), f"run '{config.get('run')}'")
