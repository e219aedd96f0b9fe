"""A real run of tests/workflow/tiny.yaml end to end: simulate -> gather_point -> gather -> classify -> plot -> report.

The sweep runs once per module (a private copy of the workflow in a tmp folder, 2 cores) and the tests
check the products against each other and against the config, never against numbers copied from a run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from tdlm.sweep.classify import LIQUID, SOLID, UNCERTAIN, UNDEFINED, liquid_depth

from helpers.workflow import TINY, copy_workflow, load_tiny, run_snakemake

pytestmark = pytest.mark.slow

PER_LAYER = ("c", "c_norm", "C", "C_norm", "q", "q_norm", "Q", "Q_norm", "q_test", "energy_layer")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """(workdir, results folder, config) of the finished tiny sweep."""
    workdir = copy_workflow(tmp_path_factory.mktemp("e2e") / "wf")
    config = load_tiny()
    result = run_snakemake(workdir, "--configfile", str(TINY), timeout=900)
    assert result.returncode == 0, result.output[-5000:]
    (workdir / "snakemake.out").write_text(result.output)  # for the end-of-run message
    return workdir, workdir / "results" / config["run"], config


@pytest.fixture(scope="module")
def phase(sweep):
    return xr.load_dataset(sweep[1] / "phase.nc")


@pytest.fixture(scope="module")
def overlaps(sweep):
    return xr.load_dataset(sweep[1] / "overlaps.nc")


def _grid(config):
    grid = config["grids"][0]
    Ms = grid["alpha"]["M"] if isinstance(grid["alpha"]["M"], list) else [grid["alpha"]["M"]]
    Ns = grid["alpha"]["N"] if isinstance(grid["alpha"]["N"], list) else [grid["alpha"]["N"]]
    return sorted((m, n) for m in Ms for n in Ns), sorted(grid["L"]), grid["T"]


def test_every_job_ran_and_nothing_is_left_to_do(sweep):
    workdir, out, config = sweep
    alphas, Ls, Ts = _grid(config)
    n_jobs = math.ceil(config["samples"] / config["samples_per_job"])
    sims = sorted(out.glob("sims/**/*.nc"))
    assert len(sims) == len(alphas) * len(Ls) * len(Ts) * n_jobs
    assert len(list(out.glob("points/**/*.nc"))) == len(alphas) * len(Ls) * len(Ts)
    assert not list(out.glob("checkpoints/**/*.ckpt"))  # removed once each job's output exists
    assert not (out / "checkpoints").exists()  # issue 27: nor its empty folders
    said = (workdir / "snakemake.out").read_text()  # issue 27: the end of the run says where the results are
    assert f"phase diagram: results/{config['run']}/figures/phase_diagram.png" in said and "snakemake --report" in said
    assert not list(out.rglob(".*.tmp*"))  # no half-written files
    logs = sorted(p for p in out.glob("logs/simulate/**/*.log") if not p.name.endswith(".history.log"))
    assert len(logs) == len(sims) and all("wrote " in p.read_text() for p in logs)
    # each job ran once, so its history (every run appended) is its one log
    assert all(p.with_suffix(".history.log").read_text() == p.read_text() for p in logs)
    again = run_snakemake(workdir, "-n", "--configfile", str(TINY), timeout=240)
    assert again.returncode == 0 and "Nothing to be done" in again.output, again.output[-3000:]


def test_every_rule_log_says_what_it_read_and_wrote(sweep):
    """issue 27: no empty log; each names its inputs and outputs with sizes and the seconds taken."""
    out = sweep[1]
    logs = sorted(out.glob("logs/**/*.log"))
    rules = {p.relative_to(out / "logs").parts[0].removesuffix(".log") for p in logs}
    assert {"simulate", "gather_point", "gather", "classify", "tables"} <= rules, rules
    for path in logs:
        text = path.read_text()
        assert "wrote " in text and " s" in text, f"{path}:\n{text}"
    gather = (out / "logs" / "gather.log").read_text()
    assert "gather: read 4 files (" in gather and "wrote 1 files (" in gather and "overlaps.nc" in gather


def test_phase_dims_and_coords(sweep, phase):
    _, _, config = sweep
    alphas, Ls, Ts = _grid(config)
    for dim in ("alpha", "L", "T", "layer"):
        assert dim in phase.dims
    assert phase.L.values.tolist() == Ls
    np.testing.assert_allclose(phase["T"].values, Ts)
    assert phase.layer.values.tolist() == list(range(1, max(Ls) + 1))
    for coord in ("ln_alpha", "M", "N"):
        assert coord in phase.coords and phase[coord].dims == ("alpha",)
    assert sorted(zip(phase.M.values.tolist(), phase.N.values.tolist())) == alphas
    np.testing.assert_allclose(phase.ln_alpha, np.log(phase.M / phase.N))
    assert (np.diff(phase.ln_alpha) > 0).all()  # alpha ordered by ln alpha
    assert phase.phase.dims == ("alpha", "L", "T", "layer")


def test_phase_flags(sweep, phase):
    flags = phase.phase
    assert np.issubdtype(flags.dtype, np.integer)
    assert sorted(np.asarray(flags.attrs["flag_values"]).tolist()) == sorted([UNDEFINED, SOLID, LIQUID, UNCERTAIN])
    meanings = dict(zip(flags.attrs["flag_meanings"].split(), np.asarray(flags.attrs["flag_values"]).tolist()))
    assert meanings == {"undefined": UNDEFINED, "solid": SOLID, "liquid": LIQUID, "uncertain": UNCERTAIN}
    config = sweep[2]
    threshold, n_sigma = config["classify"]["threshold"], config["classify"]["n_sigma"]
    assert flags.attrs["threshold"] == pytest.approx(threshold) and phase.attrs["classify_threshold"] == pytest.approx(threshold)
    q, sem = phase.q_star, phase.q_star_sem
    hidden = phase.layer < phase.L
    assert bool(q.where(hidden).notnull().sum() == hidden.broadcast_like(q).sum())  # every hidden layer has a q*
    band = np.abs(q - threshold) <= n_sigma * sem
    defined = flags != UNDEFINED
    # undefined exactly for layers >= L
    np.testing.assert_array_equal(defined.values, hidden.broadcast_like(flags).transpose(*flags.dims).values)
    # liquid exactly where q* < threshold outside the uncertain band; solid where q* >= threshold outside it
    np.testing.assert_array_equal((flags == LIQUID).values, (defined & ~band & (q < threshold)).values)
    np.testing.assert_array_equal((flags == SOLID).values, (defined & ~band & (q >= threshold)).values)
    np.testing.assert_array_equal((flags == UNCERTAIN).values, (defined & band).values)


def test_depths(phase):
    np.testing.assert_allclose(phase.xi_solid, (phase.L - phase.xi_liquid).transpose(*phase.xi_solid.dims))
    threshold = phase.attrs["classify_threshold"]
    for a in range(phase.sizes["alpha"]):
        for j, L in enumerate(phase.L.values):
            q = phase.q_star.isel(alpha=a, L=j, T=0).values[: int(L) - 1]
            assert float(phase.xi_liquid.isel(alpha=a, L=j, T=0)) == pytest.approx(liquid_depth(q, threshold))


def test_overlaps_has_every_observable(sweep, overlaps, phase):
    config = sweep[2]
    for name in PER_LAYER:
        assert name in overlaps and "layer" in overlaps[name].dims, name
        assert overlaps[name].dims[:3] == ("alpha", "L", "T")
    for name in ("energy", "accuracy", "accuracy_tanh", "kinetic_temperature", "history_energy"):
        assert name in overlaps
    assert overlaps.sizes["sample"] == config["samples"]
    assert overlaps.t_w.values.tolist() == sorted(config["t_w"])
    assert int(overlaps.t[-1]) == config["t_star"]
    # weights are defined on layers 1..L, spins on 1..L-1, nothing beyond L
    for j, L in enumerate(overlaps.L.values):
        cell = overlaps.isel(L=j)
        assert cell.C.sel(layer=slice(1, L)).notnull().all() and cell.C.sel(layer=slice(L + 1, None)).isnull().all()
        assert cell.q.sel(layer=slice(1, L - 1)).notnull().all() and cell.q.sel(layer=slice(L, None)).isnull().all()
    # phase.nc's q* is overlaps' normalised q at t = t*, largest t_w, mean over samples; q_raw_star the raw q
    assert phase.attrs["classify_overlap"] == config["classify"].get("overlap", "q_norm") == "q_norm"
    for star, source in (("q_star", "q_norm"), ("q_raw_star", "q"), ("Q_star", "Q_norm"), ("c_raw_star", "c")):
        expected = overlaps[source].sel(t_w=max(config["t_w"])).isel(t=-1).mean("sample")
        np.testing.assert_allclose(phase[star], expected.transpose(*phase[star].dims), rtol=1e-6)
    params = json.loads(overlaps.attrs["params_json"])
    assert params["n_replicas"] == config["n_replicas"] and params["seed"] == config["seed"]


def _assert_figure(path):
    data = path.read_bytes()
    assert len(data) > 1000, path
    if path.suffix == ".png":
        assert data[:8] == PNG_MAGIC, path
    else:
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:], path


def test_figures(sweep):
    _, out, config = sweep
    _, Ls, _ = _grid(config)
    for stem in ["phase_diagram"] + [f"q_star_L{L}" for L in Ls]:
        for ext in ("png", "pdf"):
            _assert_figure(out / "figures" / f"{stem}.{ext}")


def _first_sentence(rst):
    text = " ".join(rst.read_text().split())
    return text.split(". ")[0]


def test_report(sweep):
    workdir, _, config = sweep
    result = run_snakemake(workdir, "--configfile", str(TINY), "--report", "report.html", timeout=300)
    assert result.returncode == 0, result.output[-3000:]
    html = (workdir / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:1000].lower()
    report_dir = workdir / "workflow" / "report"
    for caption in ("phase_diagram.rst", "q_star.rst", "workflow.rst"):
        sentence = _first_sentence(report_dir / caption)
        assert len(sentence) > 20
        # the report JSON-escapes newlines inside captions: compare with whitespace folded
        folded = " ".join(html.replace("\\n", " ").split())
        assert sentence in folded, f"caption of {caption} missing: {sentence!r}"
    for name in ["phase_diagram.png"] + [f"q_star_L{L}.png" for L in _grid(config)[1]]:
        assert name in html


def test_tidy_tables(sweep, phase):
    import pandas as pd

    _, out, _ = sweep
    table, xi = pd.read_csv(out / "phase.csv"), pd.read_csv(out / "xi.csv")
    points = int((phase.q_star.notnull().any("layer")).sum())
    assert len(xi) == points and set(xi.columns) >= {"M", "N", "alpha", "ln_alpha", "L", "T", "xi_solid", "xi_liquid"}
    assert len(table) == int(phase.q_star.notnull().sum())
    assert set(table.phase) <= {"solid", "liquid", "uncertain"}


def test_open_run_gives_every_dataset_with_physical_coordinates(sweep, phase):
    import tdlm

    _, out, _ = sweep
    run = tdlm.open_run(out)
    try:
        assert {"overlaps", "phase", "phase_table", "xi"} <= set(run)
        target = float(phase.ln_alpha[0])
        picked = run["phase"].sel(ln_alpha=target + 1e-3, method="nearest")
        assert float(picked.ln_alpha) == target and int(picked.M) == int(phase.M[0])
        M, N = int(phase.M[-1]), int(phase.N[-1])
        by_ratio, by_MN = run["phase"].sel(alpha=M / N), run["phase"].sel(M=M).sel(N=N)
        xr.testing.assert_identical(by_ratio.q_star.squeeze(drop=True), by_MN.q_star.squeeze(drop=True))
        np.testing.assert_array_equal(by_ratio.q_star.squeeze().values, phase.q_star.isel(alpha=-1).squeeze().values)
        assert run["overlaps"].sel(L=int(phase.L[0])).sizes["alpha"] == phase.sizes["alpha"]
    finally:
        for value in run.values():
            getattr(value, "close", lambda: None)()


def test_output_files_pass_the_cf_checker_and_carry_their_history(sweep):
    from helpers.cf import cf_errors

    _, out, _ = sweep
    job, point = next(out.glob("sims/**/*.nc")), next(out.glob("points/**/*.nc"))
    files = {"job": job, "point": point, "overlaps": out / "overlaps.nc", "phase": out / "phase.nc"}
    for role, path in files.items():
        assert cf_errors(path) == [], role
    steps = {"job": 1, "point": 2, "overlaps": 3, "phase": 4}  # each step that rewrites a file appends a line
    for role, path in files.items():
        with xr.open_dataset(path) as ds:
            history = ds.attrs["history"].splitlines()
            assert len(history) == steps[role], (role, history)
            assert "tdlm simulate" in history[0], (role, history)
            if role != "phase":
                assert ds.q_norm.dtype == np.float32, role  # the jobs computed float32
            assert all(ds[name].encoding.get("zlib") for name in ds.data_vars), role
    with xr.open_dataset(out / "phase.nc") as phase:
        assert "tdlm classify" in phase.attrs["history"].splitlines()[-1]


def test_example_notebook_runs_on_the_finished_run(sweep, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    from helpers.workflow import REPO

    _, out, _ = sweep
    monkeypatch.setenv("TDLM_RUN", str(out))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(REPO / "examples" / "phase_diagram.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(out)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the phase diagram and the q*_l profile
    text = "".join(o.get("text", "") for o in outputs)
    assert "xi_s =" in text and "phase_table" in text
