"""The real sweep workflow on the local one-node SLURM cluster (see conftest.py and local_slurm.sh).

Every run uses a private copy of the workflow (Snakefile, workflow/, config/, envs/, profiles/) in a
tmp folder, with a CI-size config derived from tests/workflow/tiny.yaml and a unique `run:`.
The SLURM runs load the real workflow profile, ``--workflow-profile profiles/slurm``, and override on
the command line (command-line flags win over any profile) only what the test cluster cannot take:

* partition ``debug`` and no account: ``--default-resources`` on the command line replaces the
  profile's whole ``default-resources`` (placeholders included); ``--slurm-no-account``;
* ``squeue`` status checks with 1-second initial polling (no slurmdbd, so no ``sacct``);
* ``--set-resources simulate:gpu=0``: the node has no GPU (this replaces the profile's whole
  ``set-resources`` block, ``cpus_per_gpu`` included). Only the GPU test keeps the profile's request.

1. ``test_refined_sweep_on_slurm_equals_local``: the tiny refined sweep of tests/workflow/test_refine.py
   (a 2-point grid, then 2 rounds planned by the checkpoint rule ``refine_plan``) in one command through
   SLURM; every simulate job is an sbatch job, the plans run in the snakemake process (local rules); the
   plans, phase.nc and boundary.nc equal those of a local run of the same config, variable by variable.
2. ``test_scancel_resumes_from_checkpoint``: a 1-job sweep whose simulate job is scancel-ed once its
   checkpoint exists; the profile's retries resubmit it, the retry resumes from the checkpoint, the
   sweep completes, and the job file equals an uninterrupted local run of the same job.
3. ``test_real_profile_gpu_sbatch_call``: with the profile's GPU request, the rendered sbatch call of
   a real simulate job carries ``--gpus=1 --cpus-per-gpu=4``; this node's sbatch refuses it.

Runtime: most of a SLURM run is waiting (job start-up, and the plugin's status polling, which backs
off by 10 s after every check that finds no finished job). So the module fixture starts the runs of
all selected tests at once, and each test waits for and checks its own runs.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import xarray as xr
import yaml

from tdlm.sweep.jobs import jobs_of
from tdlm.sweep.rounds import job_paths

from helpers.workflow import SLURM_POLL_FLAGS, copy_workflow, subprocess_env, tiny_refine_config, write_config

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "workflow" / "tiny.yaml"
# one alpha point (M=20, N=4) at T=1e-5; both samples in one job
POINT = {"M": 20, "N": 4, "T": "1e-05"}
SCANCEL_T_STAR = 10000  # ~8 s of simulation on an idle core; a checkpoint every 200 steps
TIMEOUT = 540  # per snakemake run (about 2-3 min on an idle 2-core machine for the slowest)

# Overrides of profiles/slurm for the test cluster (the profile itself is loaded with --workflow-profile).
SLURM_TEST_FLAGS = [
    "--workflow-profile",
    "profiles/slurm",
    "--default-resources",
    "slurm_partition=debug",
    "--slurm-no-account",
    *SLURM_POLL_FLAGS,
    "--slurm-keep-successful-logs",
    "--verbose",  # logs the `sbatch call:` lines
]
NO_GPU = ["--set-resources", "simulate:gpu=0"]
LOCAL_FLAGS = ["--workflow-profile", "none"]
SIM_JOB = re.compile(r"M~(\d+)/N~(\d+)/L~(\d+)/T~([^/]+)/job~(\d+)\.nc$")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


# ---------------------------------------------------------------- helpers


def sweep_config(run: str, L: list[int], **overrides) -> dict:
    with open(TINY) as fh:
        config = yaml.safe_load(fh)
    config.update(
        run=run,
        grids=[{"name": "slurm", "alpha": {"pairs": [[POINT["M"], POINT["N"]]]}, "L": L, "T": [float(POINT["T"])]}],
        samples=2,
        samples_per_job=2,
        **overrides,
    )
    return config


def workflow_copy(dest: Path, config: dict) -> Path:
    """A private, runnable copy of the workflow (profiles included) with `config` in config/sweep.yaml."""
    write_config(copy_workflow(dest, profiles=True) / "config" / "sweep.yaml", config)
    return dest


def job_file(run: str, L: int, kind: str = "sims", ext: str = "nc") -> str:
    """results/<run>/<kind>/M~../N~../L~../T~../job~0.<ext> (kind: sims, logs/simulate, checkpoints)."""
    return f"results/{run}/{kind}/M~{POINT['M']}/N~{POINT['N']}/L~{L}/T~{POINT['T']}/job~0.{ext}"


@dataclass
class Run:
    """One snakemake process in a workflow copy; its output goes to <workdir>/snakemake.log."""

    workdir: Path
    proc: subprocess.Popen

    @classmethod
    def start(cls, workdir: Path, *args: str) -> Run:
        cmd = ["timeout", "-k", "15", str(TIMEOUT), sys.executable, "-m", "snakemake", "--configfile=config/sweep.yaml", *args]
        with open(workdir / "snakemake.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=workdir, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
        return cls(workdir, proc)

    @property
    def log(self) -> str:
        return (self.workdir / "snakemake.log").read_text()

    def wait(self) -> tuple[int, str]:
        rc = self.proc.wait(timeout=TIMEOUT + 60)
        return rc, self.log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # `timeout` passes SIGTERM on to snakemake
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def squeue(*args: str) -> list[list[str]]:
    out = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


def cancel_leftovers(workdir: Path) -> None:
    """Cancel SLURM jobs of one workflow copy that are still queued or running (never other jobs)."""
    ids = [i for i, wd in squeue("-t", "PENDING,RUNNING,CONFIGURING", "-o", "%i|%Z") if Path(wd) == workdir]
    if ids:
        subprocess.run(["scancel", *ids], check=False, timeout=30)


def slurm_submissions(log: str, rule: str) -> list[tuple[str, str, Path]]:
    """(snakemake job id, SLURM job id, SLURM log) of every submission of `rule`."""
    return [(m[1], m[2], Path(m[3])) for m in SUBMITTED.finditer(log) if f"/rule_{rule}/" in m[3]]


def sbatch_calls(log: str, rule: str) -> list[str]:
    return [ln for ln in log.splitlines() if ln.startswith("sbatch call: ") and f"--comment rule_{rule}_" in ln]


def assert_same_variables(a_path: Path, b_path: Path) -> None:
    """Every data variable (with its coordinates) exactly equal; attributes (history, ...) may differ."""
    with xr.open_dataset(a_path) as a, xr.open_dataset(b_path) as b:
        assert sorted(a.data_vars) == sorted(b.data_vars)
        assert a.data_vars, a_path
        for name in a.data_vars:
            xr.testing.assert_equal(a[name], b[name])


@dataclass
class Canceller:
    """Watches one SLURM sweep: once its simulate job's checkpoint exists, scancel that job (once)."""

    run: Run
    ckpt: Path
    out: Path
    job_id: str | None = None
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def __call__(self) -> None:
        try:
            deadline = time.monotonic() + TIMEOUT
            while not self.stop.is_set():
                if self.run.proc.poll() is not None:
                    self.error = "snakemake ended before its simulate job could be cancelled"
                    return
                if time.monotonic() > deadline:
                    self.error = f"no checkpoint {self.ckpt} within {TIMEOUT} s"
                    return
                if self.ckpt.exists():
                    rows = [
                        r
                        for r in squeue("-t", "RUNNING", "-o", "%i|%k|%Z")
                        if Path(r[2]) == self.run.workdir and r[1].startswith("rule_simulate_")
                    ]
                    if len(rows) != 1:
                        self.error = f"expected one running simulate job of this sweep, squeue: {rows}"
                        return
                    subprocess.run(["scancel", rows[0][0]], check=True, timeout=30)
                    self.job_id = rows[0][0]
                    if self.out.exists():
                        self.error = "the simulate job finished before it was cancelled"
                    return
                time.sleep(0.2)
        except Exception as exc:  # noqa: BLE001  reported by the test
            self.error = repr(exc)


@dataclass
class Sweeps:
    runs: dict[str, Run] = field(default_factory=dict)
    run_names: dict[str, str] = field(default_factory=dict)  # test -> run name (`run:` of its config)
    canceller: Canceller | None = None
    thread: threading.Thread | None = None


# ---------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def sweeps(slurm_cluster, tmp_path_factory, request):
    """Starts the snakemake runs of every selected test of this module at once, in private copies."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        slurm_cluster.unavailable("snakemake-executor-plugin-slurm is not installed")
    here = Path(__file__).resolve()
    selected = {item.originalname for item in request.session.items if Path(item.path).resolve() == here}
    base = tmp_path_factory.mktemp("sweep_on_slurm")
    state = Sweeps()
    try:
        if "test_scancel_resumes_from_checkpoint" in selected:  # the longest chain: started first
            run = state.run_names["scancel"] = f"slurm-scancel-{uuid.uuid4().hex[:8]}"
            config = sweep_config(run, L=[2], t_star=SCANCEL_T_STAR, checkpoint_steps=200)
            on_slurm = workflow_copy(base / "scancel-slurm", config)
            local = workflow_copy(base / "scancel-local", config)
            state.runs["scancel-slurm"] = Run.start(on_slurm, f"results/{run}/phase.nc", *SLURM_TEST_FLAGS, *NO_GPU)
            state.canceller = Canceller(
                state.runs["scancel-slurm"], on_slurm / job_file(run, 2, "checkpoints", "ckpt"), on_slurm / job_file(run, 2)
            )
            state.thread = threading.Thread(target=state.canceller, name="scancel-watcher", daemon=True)
            state.thread.start()
            # the uninterrupted reference: the same job, run locally
            state.runs["scancel-local"] = Run.start(local, job_file(run, 2), "--cores", "1", *LOCAL_FLAGS)
        if "test_refined_sweep_on_slurm_equals_local" in selected:
            run = state.run_names["refine"] = f"slurm-refine-{uuid.uuid4().hex[:8]}"
            config = tiny_refine_config(run)
            on_slurm = workflow_copy(base / "refine-slurm", config)
            local = workflow_copy(base / "refine-local", config)
            targets = [f"results/{run}/phase.nc", f"results/{run}/boundary.nc"]
            state.runs["refine-slurm"] = Run.start(on_slurm, *targets, *SLURM_TEST_FLAGS, *NO_GPU)
            state.runs["refine-local"] = Run.start(local, *targets, "--cores", "1", *LOCAL_FLAGS)
        if "test_real_profile_gpu_sbatch_call" in selected:
            run = state.run_names["gpu"] = f"slurm-gpu-{uuid.uuid4().hex[:8]}"
            workdir = workflow_copy(base / "gpu-slurm", sweep_config(run, L=[2]))
            state.runs["gpu-slurm"] = Run.start(workdir, job_file(run, 2), *SLURM_TEST_FLAGS)
        yield state
    finally:
        if state.canceller is not None:
            state.canceller.stop.set()
            state.thread.join(timeout=30)
        for run in state.runs.values():
            run.stop()
        for run in state.runs.values():
            cancel_leftovers(run.workdir)


# ---------------------------------------------------------------- tests


def test_refined_sweep_on_slurm_equals_local(sweeps):
    """Grid and 2 refinement rounds in one command: simulate jobs as sbatch jobs, plans as local rules."""
    run = sweeps.run_names["refine"]
    on_slurm, local = sweeps.runs["refine-slurm"], sweeps.runs["refine-local"]
    local_rc, local_log = local.wait()
    rc, log = on_slurm.wait()
    assert local_rc == 0, local_log[-5000:]
    assert rc == 0, log[-8000:]
    assert "Using workflow specific profile profiles/slurm" in log, log[:2000]
    out, reference = on_slurm.workdir / "results" / run, local.workdir / "results" / run

    # the rounds were planned in this process, the same plans as the local run's
    assert "localcheckpoint refine_plan:" in log and not sbatch_calls(log, "refine_plan"), log[-8000:]
    for k in (1, 2):
        plan = f"refine/plan~{k}.json"
        assert (out / plan).read_text() == (reference / plan).read_text(), plan
    assert [p["round"] for p in json.loads((out / "refine/plan~2.json").read_text())["points"]].count(2) == 1

    # every simulate job of every round went through sbatch (none ran locally), and its SLURM log is kept
    final_plan = json.loads((reference / "refine/plan~2.json").read_text())
    jobs = job_paths(final_plan, str(reference), lambda samples: jobs_of(tiny_refine_config(run), samples))
    assert sorted(map(str, (reference / "sims").rglob("job~*.nc"))) == sorted(jobs)
    expected = {"_".join(SIM_JOB.search(path).groups()) for path in jobs}
    assert len(expected) == 4, expected  # 2 grid points, one point per round
    calls = sbatch_calls(log, "simulate")
    assert {re.search(r"--comment rule_simulate_wildcards_(\S+)", c)[1] for c in calls} == expected, calls
    assert len(calls) == len(expected), calls
    assert all("-p debug -t 60 --mem 2000 --ntasks=1 --cpus-per-task=1 " in c for c in calls), calls
    assert not any("--gpus" in c or " -A " in c for c in calls), calls
    submissions = slurm_submissions(log, "simulate")
    assert len(submissions) == len(expected), log[-8000:]
    assert "localrule simulate" not in log and "\nrule simulate:" in log
    for _, slurm_id, slurm_log in submissions:
        assert slurm_log.parent.name in expected, slurm_log
        text = slurm_log.read_text()  # written by the job step inside the SLURM job
        assert "rule simulate:" in text and "Finished jobid" in text, text[-3000:]
        # MinJobAge=300 keeps the finished job visible: it ran from this copy, on partition debug
        rows = squeue("-t", "all", "-j", slurm_id, "-o", "%T|%P|%Z|%k")
        assert rows == [["COMPLETED", "debug", str(on_slurm.workdir), f"rule_simulate_wildcards_{slurm_log.parent.name}"]], rows

    for name in ("phase.nc", "boundary.nc"):
        assert_same_variables(out / name, reference / name)


def test_scancel_resumes_from_checkpoint(sweeps):
    """scancel of a running simulate job: the retry (profiles/slurm: retries 2) resumes from its checkpoint."""
    run = sweeps.run_names["scancel"]
    on_slurm, local = sweeps.runs["scancel-slurm"], sweeps.runs["scancel-local"]
    job, ckpt = job_file(run, 2), job_file(run, 2, "checkpoints", "ckpt")
    sweeps.thread.join(timeout=TIMEOUT + 60)
    cancelled = sweeps.canceller.job_id
    local_rc, local_log = local.wait()
    rc, log = on_slurm.wait()
    assert sweeps.canceller.error is None, f"{sweeps.canceller.error}\n{log[-5000:]}"
    assert cancelled is not None
    assert local_rc == 0, local_log[-5000:]
    assert rc == 0, log[-8000:]

    # the cancelled job failed in snakemake's eyes and was resubmitted as attempt 2
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in log, log[-8000:]
    submissions = slurm_submissions(log, "simulate")
    assert len(submissions) == 2 and submissions[0][1] == cancelled, submissions
    calls = sbatch_calls(log, "simulate")
    assert len(calls) == 2, calls
    # the workflow's attempt-scaled resources (config resources.simulate: 60 min, 2000 MB)
    assert "-t 60 --mem 2000 " in calls[0] and "--attempt 1 " in calls[0], calls[0]
    assert "-t 120 --mem 4000 " in calls[1] and "--attempt 2 " in calls[1], calls[1]

    # the retry's simulate log (the first attempt's was overwritten): resumed mid-way through the branched phase
    sim_log = (on_slurm.workdir / job_file(run, 2, "logs/simulate", "log")).read_text()
    resumed = re.search(rf"resumed from {re.escape(ckpt)}: phase (\w+), step (\d+)", sim_log)
    assert resumed, sim_log[-3000:]
    assert resumed[1] == "branch" and 0 < int(resumed[2]) < SCANCEL_T_STAR, resumed[0]
    assert "wrote results/" in sim_log
    assert not (on_slurm.workdir / ckpt).exists()  # dropped once the job file was written
    assert (on_slurm.workdir / f"results/{run}/phase.nc").exists()  # the sweep completed

    assert_same_variables(on_slurm.workdir / job, local.workdir / job)


def test_real_profile_gpu_sbatch_call(sweeps):
    """The sbatch call of a real simulate job under profiles/slurm (gpu: 1); sbatch refuses the GPU here."""
    run = sweeps.run_names["gpu"]
    gpu = sweeps.runs["gpu-slurm"]
    rc, log = gpu.wait()
    assert rc != 0, log[-5000:]
    assert "Invalid generic resource (gres) specification" in log, log[-5000:]
    calls = sbatch_calls(log, "simulate")
    assert len(calls) == 3, calls  # profiles/slurm: retries 2
    print(f"\nsbatch call of the real simulate rule under profiles/slurm:\n{calls[0]}")
    target_job = f"--target-jobs 'simulate:M={POINT['M']},N={POINT['N']},L=2,T={POINT['T']},job=0'"
    for attempt, call in enumerate(calls, start=1):
        assert "--gpus=1" in call and "--cpus-per-gpu=4" in call, call
        assert "--cpus-per-task" not in call and "--ntasks" not in call, call
        # memory and runtime: the sweep config's resources.simulate, scaled by attempt in the rule
        assert f"-p debug -t {60 * attempt} --mem {2000 * attempt} " in call, call
        assert target_job in call and f"--attempt {attempt} " in call, call
    assert not (gpu.workdir / job_file(run, 2)).exists()
