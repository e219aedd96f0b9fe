rule simulate:
    output:
        f"{OUT}/sims/{JOB_SPACE.wildcard_pattern}.nc",
    log:
        f"{OUT}/logs/simulate/{JOB_SPACE.wildcard_pattern}.log",
    conda:
        "../../envs/tdlm.yaml"
    threads: config["resources"]["simulate"]["threads"]
    resources:
        mem_mb=scaled_resource(config["resources"]["simulate"], "mem_mb"),
        runtime=scaled_resource(config["resources"]["simulate"], "runtime"),
    params:
        flags=simulate_flags,
        checkpoint=f"{OUT}/checkpoints/{JOB_SPACE.wildcard_pattern}.ckpt",
    shell:
        "python -m tdlm.cli --threads {threads} simulate --on-divergence record {params.flags} $TDLM_BOOKKEEPING_FLAGS "
        "--checkpoint-path {params.checkpoint} --out {output} > {log} 2>&1"
