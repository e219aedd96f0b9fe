localrules:
    plot_phase,


rule plot_phase:
    input:
        phase=f"{OUT}/phase.nc",
        boundaries=[f"{OUT}/boundary.csv"] if ROUNDS else [],
    output:
        report(
            f"{OUT}/figures/phase_diagram.png",
            caption="../report/phase_diagram.rst",
            category="Phase diagram",
        ),
        f"{OUT}/figures/phase_diagram.pdf",
        f"{OUT}/figures/phase_diagram.csv",
        report(
            expand(f"{OUT}/figures/q_star_L{{L}}.png", L=DEPTHS),
            caption="../report/q_star.rst",
            category="Phase diagram",
            subcategory="q* heat maps",
        ),
        expand(f"{OUT}/figures/q_star_L{{L}}.pdf", L=DEPTHS),
        expand(f"{OUT}/figures/q_star_L{{L}}.csv", L=DEPTHS),
    log:
        f"{OUT}/logs/plot_phase.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python -m tdlm.cli plot-phase {input.phase} "
        + ("--boundaries {input.boundaries} " if ROUNDS else "")
        + "--outdir {params.outdir} > {log} 2>&1"
