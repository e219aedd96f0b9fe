localrules:
    classify,
    tables,


rule classify:
    input:
        f"{OUT}/overlaps.nc",
    output:
        f"{OUT}/phase.nc",
    log:
        f"{OUT}/logs/classify.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        threshold=config["classify"]["threshold"],
        n_sigma=config["classify"]["n_sigma"],
        overlap=config["classify"]["overlap"],
        t_w=(
            f"--t-w {config['classify']['t_w']}"
            if config["classify"].get("t_w") is not None
            else ""
        ),
    shell:
        "python -m tdlm.cli classify {input} --out {output} --threshold {params.threshold} "
        "--n-sigma {params.n_sigma} --overlap {params.overlap} {params.t_w} > {log} 2>&1"


rule tables:
    input:
        f"{OUT}/phase.nc",
    output:
        report(
            f"{OUT}/phase.csv",
            caption="../report/phase_table.rst",
            category="Tables",
        ),
        report(
            f"{OUT}/xi.csv",
            caption="../report/xi_table.rst",
            category="Tables",
        ),
    log:
        f"{OUT}/logs/tables.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python -m tdlm.cli tables {input} --outdir {params.outdir} > {log} 2>&1"
