"""Point selection shared by paper.smk (parse time) and the figure command (plot time)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tdlm.fields import ConfigError
from tdlm.paper.select import choose
from tdlm.paper.workflow import settings
from tdlm.sweep import jobs as sweep_jobs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def paper_config() -> dict:
    with open(REPO / "config" / "paper.yaml") as fh:
        return yaml.safe_load(fh)


def test_design_point_default_rule(paper_config):
    table = sweep_jobs.jobs(paper_config)
    # lowest T (1e-5), the largest L there (15), the median alpha at (15, 1e-5): the depth series' point
    point = choose(table, default_L="max")
    assert (point.M, point.N, point.L, point.T) == (2000, 10, 15, 1e-5) and point.note == ""


def test_reference_default_is_nearest_phase_L_and_median_alpha(paper_config):
    table = sweep_jobs.jobs(paper_config)
    point = choose(table, default_L=10)
    assert point.L == 10 and point.T == 1e-5
    # 13 alpha points at (L=10, T=1e-5); the 7th by ln alpha
    assert (point.M, point.N) in {(500, 10), (2000, 40)}
    assert choose(table, default_L=11).L in (10, 12)


def test_strict_rejects_points_outside_the_sweep(paper_config):
    table = sweep_jobs.jobs(paper_config)
    with pytest.raises(ConfigError, match="L=9"):
        choose(table, L=9, strict=True)
    with pytest.raises(ConfigError, match="alpha point"):
        choose(table, M=2000, N=7, L=10, strict=True)
    fallback = choose(table, M=2000, N=7, L=10)
    assert "absent" in fallback.note


def test_settings_of_the_paper_config(paper_config):
    jobs = sweep_jobs.jobs(paper_config)
    patterns = [f"M~{r.M}/N~{r.N}/L~{r.L}/T~{r.T}/job~{r.job}" for r in jobs.itertuples()]
    s = settings(paper_config, jobs, patterns)
    assert (s.reference.M, s.reference.N, s.reference.L, s.reference.T) == (2000, 10, 10, 1e-5)
    assert s.design_jobs == ["M~2000/N~10/L~15/T~1e-05/job~0", "M~2000/N~10/L~15/T~1e-05/job~1"]
    assert "--M 2000 --N 10 --L 10 --T 1e-05 --phase-L 10" == s.figure_flags
    assert s.design_flags == "--bins 40"
    assert len(s.figures) == 11
