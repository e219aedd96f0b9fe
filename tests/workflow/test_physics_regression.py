"""The expected liquid/solid shape (model spec, section 7) at reduced scale, through the whole workflow.

Solid near both boundaries and liquid in the centre when L is large enough and alpha not too large;
no liquid at small L. tests/workflow/physics.yaml runs M = 200, N = 8 (ln alpha = 3.2) at L = 3 and 8.
Set TDLM_TEST_SEED to rerun it with another base seed (it was checked with several before settling).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tdlm.classify import LIQUID, SOLID, UNDEFINED
from wf_helpers import run_snakemake

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("physics.yaml")


@pytest.fixture(scope="module")
def physics_run(tmp_path_factory):
    from wf_helpers import copy_workflow

    workdir = copy_workflow(tmp_path_factory.mktemp("physics") / "wf")
    extra = ["--config", f"seed={int(os.environ['TDLM_TEST_SEED'])}"] if os.environ.get("TDLM_TEST_SEED") else []
    result = run_snakemake(workdir, "--configfile", str(CONFIG), *extra, timeout=1800)
    assert result.returncode == 0, result.output[-5000:]
    out = workdir / "results" / "physics"
    return xr.load_dataset(out / "phase.nc"), out


def _profile(phase, L, alpha_index):
    cell = phase.isel(alpha=alpha_index, T=0).sel(L=L)
    hidden = slice(1, L - 1)
    return cell.phase.sel(layer=hidden).values, cell.q_star.sel(layer=hidden).values


def _describe(phase):
    lines = []
    for a in range(phase.sizes["alpha"]):
        for L in phase.L.values:
            flags, q = _profile(phase, int(L), a)
            lines.append(f"ln alpha {float(phase.ln_alpha[a]):.2f}, L {int(L)}: q* {np.round(q, 3).tolist()} flags {flags.tolist()}")
    return "\n".join(lines)


def test_deep_network_has_a_liquid_centre_between_solid_boundaries(physics_run):
    phase, _ = physics_run
    L = int(phase.L.max())
    a = int(np.argmin(phase.ln_alpha.values))
    flags, q = _profile(phase, L, a)
    info = _describe(phase)
    assert len(flags) == L - 1 and (flags != UNDEFINED).all(), info
    assert flags[0] == SOLID, "first hidden layer should be solid\n" + info
    assert flags[-1] == SOLID, "last hidden layer should be solid\n" + info
    assert (flags[1:-1] == LIQUID).any(), "no liquid layer in the centre\n" + info
    # liquid depth strictly inside the network, solid depth its complement
    xi_l = float(phase.xi_liquid.isel(alpha=a, T=0).sel(L=L))
    assert 0 < xi_l < L - 1 and float(phase.xi_solid.isel(alpha=a, T=0).sel(L=L)) == pytest.approx(L - xi_l)
    # the centre is far below the boundaries
    assert np.nanmin(q[1:-1]) < 0.5 * min(q[0], q[-1]), info


def test_shallow_network_has_no_liquid_layer(physics_run):
    phase, _ = physics_run
    L = int(phase.L.min())
    info = _describe(phase)
    for a in range(phase.sizes["alpha"]):
        flags, q = _profile(phase, L, a)
        assert (flags != UNDEFINED).all(), info
        assert not (flags == LIQUID).any(), "liquid layer at the smallest depth\n" + info
        assert float(phase.xi_liquid.isel(alpha=a, T=0).sel(L=L)) == 0.0
        assert float(phase.xi_solid.isel(alpha=a, T=0).sel(L=L)) == L


def test_step_rates_are_logged(physics_run):
    """Every simulate log reports its step rate (used to size this test on a loaded machine)."""
    _, out = physics_run
    logs = sorted(out.glob("logs/simulate/**/*.log"))
    assert logs
    for log in logs:
        rates = [float(r) for r in re.findall(r"([\d.]+) steps/s", log.read_text())]
        assert rates and all(r > 0 for r in rates), log
