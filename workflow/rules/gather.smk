localrules:
    gather_point,
    gather,


rule gather_point:
    input:
        point_jobs,
    output:
        f"{OUT}/points/{POINT_SPACE.wildcard_pattern}.nc",
    log:
        f"{OUT}/logs/gather_point/{POINT_SPACE.wildcard_pattern}.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m tdlm.cli gather-point {input} --out {output} > {log} 2>&1"


rule gather:
    input:
        points=lambda wildcards: expand(
            f"{OUT}/points/{{point}}.nc", point=final_points()
        ),
        plan=[plan_file(ROUNDS)] if ROUNDS else [],
    output:
        f"{OUT}/overlaps.nc",
    log:
        f"{OUT}/logs/gather.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m tdlm.cli gather {input.points} "
        + ("--plan {input.plan} " if ROUNDS else "")
        + "--out {output} > {log} 2>&1"
