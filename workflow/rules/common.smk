import json
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import Paramspace, validate

from tdlm.binarynet import sweep as binary_sweep
from tdlm.sweep import jobs as sweep_jobs
from tdlm.sweep import rounds as refine_rounds
from tdlm.sweep import settings

# Snakemake merges config/config.yaml, --configfile and --config (its own merge); then the checks of
# tdlm.sweep.settings, the schema generated from the field tables (`tdlm schema`) and each family's checks
settings.check_config_files(workflow.configfiles)
settings.check_run_named(
    workflow.overwrite_configfiles, workflow.config_settings.config
)
# `1e-5` is text to YAML 1.1: a number before the schema sees it
settings.coerce_exponents(config)
# what a JSON schema cannot refuse (NaN passes `minimum`), from the field tables' rules
settings.check_config_values(config)
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError:
    # Snakemake's message prints the whole schema: name only the offending keys
    settings.check_schema(config, workflow.source_path("../schemas/config.schema.yaml"))
    raise

RUN = config["run"]
OUT = f"results/{RUN}"
# every job's parameters are checked (and the data pool sized) before anything runs
JOBS = sweep_jobs.check(config)
JOB_SPACE = Paramspace(JOBS[sweep_jobs.JOB_COLUMNS], filename_params=["job"])
POINT_SPACE = Paramspace(
    JOBS[sweep_jobs.POINT_COLUMNS].drop_duplicates().reset_index(drop=True),
    filename_params=["T"],
)
DEPTHS = sorted(int(L) for L in JOBS["L"].unique())
FAMILIES = settings.families(config)
# the binary family's points are validated before anything runs, like the thermal jobs
BINARY_SPACE = (
    Paramspace(binary_sweep.check(config), filename_params=["L"])
    if "binary" in FAMILIES
    else None
)


wildcard_constraints:
    M=r"\d+",
    N=r"\d+",
    L=r"\d+",
    job=r"\d+",
    P=r"\d+",
    round=r"\d+",
    T=r"[0-9.eE+-]+",


def simulate_flags(wildcards):
    """The simulate parameters of one job that change its result, as command-line flags (builtin types
    only): rule params, so that changing one reruns the job."""
    values = sweep_jobs.job_overrides(config, *sweep_jobs.job_of(wildcards))
    return sweep_jobs.to_flags(without_device(sweep_jobs.split_rerun(values)[0]))


def without_device(values):
    """Parameters without `device`: each job's command passes its own (device_flag)."""
    return {k: v for k, v in values.items() if k != "device"}


def device_flag(choice):
    """`--device` of a job's command: cpu or cuda as configured; `auto` becomes cuda when the job requests a
    GPU (resource `gpu`, which profiles/slurm sets for simulate) and cpu when it does not, so a GPU job never
    runs on the CPU silently and a CPU job never takes a GPU it was not given. Resolved in the shell, not in
    the rule's params: where a sweep runs must not rerun it."""
    if choice != "auto":
        return f"--device {choice}"
    return "--device $([ {resources.gpu} -gt 0 ] && echo cuda || echo cpu)"


# progress and checkpoint cadence, the same for every simulate job (see the Snakefile's shell prefix)
BOOKKEEPING_FLAGS = sweep_jobs.to_flags(
    sweep_jobs.split_rerun(sweep_jobs.job_overrides(config, 1, 1, 2, 0.0, 0))[1]
)


def shell_literal(text):
    """Text as it must appear in a shell command that Snakemake formats: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


# adaptive refinement (workflow/rules/refine.smk): rounds 1..ROUNDS, each planned from the last one's jobs
REFINE = settings.refine_settings(config)
ROUNDS = REFINE["rounds"]
GRID_PLAN = {
    "round": 0,
    "points": [
        {
            "M": int(r.M),
            "N": int(r.N),
            "L": int(r.L),
            "T": float(r.T),
            "samples": config["samples"],
            "round": 0,
        }
        for r in POINT_SPACE.dataframe.itertuples(index=False)
    ],
}


def plan_file(k):
    return f"{OUT}/refine/plan~{k}.json"


def load_plan(k):
    """Plan k: every point of rounds 0..k with its samples (0: the grid; later ones once their checkpoint ran)."""
    if k == 0:
        return GRID_PLAN
    with open(checkpoints.refine_plan.get(round=k).output[0]) as fh:
        return json.load(fh)


def plan_jobs(k):
    """The job files of every point of plan k."""
    return refine_rounds.job_paths(
        load_plan(k), OUT, lambda samples: sweep_jobs.jobs_of(config, samples)
    )


def final_points():
    """Path patterns (M~../N~../L~../T~..) of every point of every round."""
    return [
        f"M~{p['M']}/N~{p['N']}/L~{p['L']}/T~{p['T']}"
        for p in load_plan(ROUNDS)["points"]
    ]


def point_jobs(wildcards):
    """The per-job files of one parameter point (all sample groups, extra ones of refinement included)."""
    samples = config["samples"]
    if ROUNDS:
        key = sweep_jobs.job_of(wildcards)[:4]
        plan = {
            refine_rounds.point_key(p): p["samples"]
            for p in load_plan(ROUNDS)["points"]
        }
        samples = plan[key]
    return expand(
        f"{OUT}/sims/M~{{M}}/N~{{N}}/L~{{L}}/T~{{T}}/job~{{job}}.nc",
        M=wildcards.M,
        N=wildcards.N,
        L=wildcards.L,
        T=wildcards.T,
        job=range(sweep_jobs.jobs_of(config, samples)),
    )


# the classification's flags (rule classify and refinement plans classify alike) and the refinement's
CLASSIFY_FLAGS = settings.classify_flags(config)
REFINE_FLAGS = settings.refine_flags(config)


def scaled_resource(section, name):
    """Memory or runtime of a simulate rule from its config section, growing with the retry attempt."""
    base = section[name]
    return lambda wildcards, attempt: int(base * attempt)


def binary_flags(wildcards):
    """binary-simulate flags of one (P, L) point (the device: device_flag)."""
    params = without_device(config["binary"].get("params", {}))
    family = {**config, "binary": {**config["binary"], "params": params}}
    return binary_sweep.flags(family, int(wildcards.P), int(wildcards.L))


def figure_files():
    stems = ["phase_diagram"] + [f"q_star_L{L}" for L in DEPTHS]
    return [f"{OUT}/figures/{stem}.{ext}" for stem in stems for ext in ("png", "pdf")]


def all_outputs(wildcards=None):
    """Targets of the families selected by the config key `families` (with refinement, of every round)."""
    outputs = []
    if "thermal" in FAMILIES:
        outputs += [f"{OUT}/overlaps.nc", f"{OUT}/phase.nc"] + figure_files()
        outputs += [f"{OUT}/phase.csv", f"{OUT}/xi.csv"]
        # the job files are targets too: one that is missing (removed, or moved aside as damaged by
        # gather_point) is recomputed, and everything downstream of it with it
        outputs += plan_jobs(ROUNDS)
        if ROUNDS:
            outputs += [
                f"{OUT}/boundary.nc",
                f"{OUT}/boundary.csv",
                f"{OUT}/refine.csv",
            ]
    if "binary" in FAMILIES:
        outputs += [f"{OUT}/binary/measures.nc"]
        outputs += [
            f"{OUT}/figures/binary_phase_diagram.{ext}" for ext in ("png", "pdf")
        ]
    if {"thermal", "binary"} <= set(FAMILIES):
        outputs += [f"{OUT}/figures/families.{ext}" for ext in ("png", "pdf")]
    return outputs
