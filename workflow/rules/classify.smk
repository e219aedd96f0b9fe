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
        flags=CLASSIFY_FLAGS,
    shell:
        "python -m tdlm.cli classify {input} --out {output} {params.flags} > {log} 2>&1"


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
