rule simulate:
    output:
        f"{OUT}/sims/{JOB_SPACE.wildcard_pattern}.nc",
    log:
        f"{OUT}/logs/simulate/{JOB_SPACE.wildcard_pattern}.log",
    conda:
        "../../envs/tdlm.yaml"
    threads: config["resources"]["simulate"]["threads"]
    resources:
        mem_mb=simulate_resource("mem_mb"),
        runtime=simulate_resource("runtime"),
    params:
        flags=simulate_flags,
        checkpoint=f"{OUT}/checkpoints/{JOB_SPACE.wildcard_pattern}.ckpt",
    shell:
        "tdlm --threads {threads} simulate {params.flags} "
        "--checkpoint-path {params.checkpoint} --out {output} > {log} 2>&1"
