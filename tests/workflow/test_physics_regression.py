"""The expected liquid/solid shape (docs/model.md, section 7) of the default sweep, through the whole workflow.

config/config.yaml itself (embedded 8x8 digits, the README's first command) is run and classified on the
normalised overlap: solid near both boundaries and a liquid centre at the largest L and smallest alpha,
no liquid at the smallest L, and a solid depth xi_s that grows with ln alpha at the largest L.
Set TDLM_TEST_SEED to rerun it with another base seed (it was checked with several before settling).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import xarray as xr

from tdlm.sweep.classify import LIQUID, SOLID, UNDEFINED

from helpers.workflow import REPO, run_snakemake

pytestmark = pytest.mark.slow

CONFIG = REPO / "config" / "config.yaml"


@pytest.fixture(scope="module")
def physics_run(tmp_path_factory):
    from helpers.workflow import copy_workflow

    workdir = copy_workflow(tmp_path_factory.mktemp("physics") / "wf")
    extra = ["--config", f"seed={int(os.environ['TDLM_TEST_SEED'])}"] if os.environ.get("TDLM_TEST_SEED") else []
    result = run_snakemake(workdir, "--configfile", str(CONFIG), *extra, timeout=1800)
    assert result.returncode == 0, result.output[-5000:]
    out = workdir / "results" / "default"
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
            xi = float(phase.xi_solid.isel(alpha=a, T=0).sel(L=L))
            lines.append(
                f"ln alpha {float(phase.ln_alpha[a]):.2f}, L {int(L)}: q* {np.round(q, 3).tolist()} "
                f"flags {flags.tolist()} xi_s {xi:.2f}"
            )
    return "\n".join(lines)


def test_classified_on_the_normalised_overlap(physics_run):
    phase, out = physics_run
    assert phase.attrs["classify_overlap"] == "q_norm" and phase.attrs["classify_variable"] == "q_star"
    # the normalised overlap of two replicas is 1 at t = 0 in every hidden layer; the raw one is not
    overlaps = xr.load_dataset(out / "overlaps.nc")
    L = int(phase.L.max())
    at0 = overlaps.sel(L=L).isel(t=0, T=0).sel(layer=slice(1, L - 1))
    np.testing.assert_allclose(at0.q_norm.values, 1.0, atol=1e-5)
    assert float(at0.q.max()) < 0.5  # unsaturated spins: raw q(t = 0) = <S^2>, far below 1


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


def test_solid_depth_grows_with_ln_alpha(physics_run):
    """Theory and paper: xi_s grows like ln alpha; at the largest L it must not fall as alpha grows,
    and it is larger at the largest alpha than at the smallest."""
    phase, _ = physics_run
    L = int(phase.L.max())
    order = np.argsort(phase.ln_alpha.values)
    xi = phase.xi_solid.isel(T=0).sel(L=L).values[order]
    assert np.all(np.diff(xi) >= -1e-9), _describe(phase)
    assert xi[-1] > xi[0], _describe(phase)


def test_step_rates_are_logged(physics_run):
    """Every simulate log reports its step rate (used to size this test on a loaded machine)."""
    _, out = physics_run
    logs = sorted(out.glob("logs/simulate/**/*.log"))
    assert logs
    for log in logs:
        rates = [float(r) for r in re.findall(r"([\d.]+) steps/s", log.read_text())]
        assert rates and all(r > 0 for r in rates), log
