localrules:
    refine_plan,
    boundaries,


# round k's plan classifies the jobs of plan k-1 (rounds 0..k-1) and adds the points and samples of round k;
# local, like gather and classify: a few seconds of reading, not worth a cluster job and its queue wait
checkpoint refine_plan:
    input:
        jobs=lambda wildcards: plan_jobs(int(wildcards.round) - 1),
        previous=lambda wildcards: (
            [plan_file(int(wildcards.round) - 1)] if int(wildcards.round) > 1 else []
        ),
    output:
        f"{OUT}/refine/plan~{{round}}.json",
    log:
        f"{OUT}/logs/refine_plan/round~{{round}}.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        previous=lambda wildcards, input: (
            f"--previous {input.previous}" if input.previous else ""
        ),
        flags=(
            f"--samples {config['samples']} --samples-per-job {config['samples_per_job']} "
            f"{REFINE_FLAGS} {CLASSIFY_FLAGS}"
        ),
    shell:
        "python -m tdlm.cli refine-plan {input.jobs} {params.previous} --out {output} {params.flags} > {log} 2>&1"


rule boundaries:
    input:
        phase=f"{OUT}/phase.nc",
        plan=plan_file(ROUNDS),
    output:
        nc=f"{OUT}/boundary.nc",
        csv=report(
            f"{OUT}/boundary.csv",
            caption="../report/boundary_table.rst",
            category="Refinement",
        ),
        rounds=report(
            f"{OUT}/refine.csv",
            caption="../report/refine_table.rst",
            category="Refinement",
        ),
    log:
        f"{OUT}/logs/boundaries.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        flags=REFINE_FLAGS,
    shell:
        "python -m tdlm.cli boundaries {input.phase} --plan {input.plan} --out {output.nc} {params.flags} > {log} 2>&1"
