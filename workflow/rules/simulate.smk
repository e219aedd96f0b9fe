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
        # no GPU unless the profile asks for one (profiles/slurm: set-resources simulate gpu: 1);
        # `device: auto` follows this request (device_flag)
        gpu=0,
    params:
        flags=simulate_flags,
        checkpoint=f"{OUT}/checkpoints/{JOB_SPACE.wildcard_pattern}.ckpt",
        # snakemake deletes {log} before every run of a job, so a resumed job's log holds only its last
        # segment; every segment is appended here as well (pipefail keeps tdlm's exit status)
        history=f"{OUT}/logs/simulate/{JOB_SPACE.wildcard_pattern}.history.log",
    shell:
        "python -m tdlm.cli --threads {threads} simulate --on-divergence record {params.flags} "
        + device_flag(config.get("device", "auto"))
        + " $TDLM_BOOKKEEPING_FLAGS --checkpoint-path {params.checkpoint} --out {output} 2>&1 | tee -a {params.history} > {log}"
