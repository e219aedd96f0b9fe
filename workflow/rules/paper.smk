# The paper's figure set (arXiv:2506.06789): `snakemake paper_figures --configfile config/paper.yaml`.
# Values computed at parse time live in tdlm.paper.workflow; the figure functions in tdlm.paper.
# When the config has a `paper:` section, its cost estimate (tdlm cost) is printed to stderr
# while the workflow is parsed, so `snakemake -n` shows it; `paper.cost.print: false` silences it.
import os
import sys

from tdlm.paper import workflow as paper_workflow

PAPER = paper_workflow.settings(config, JOBS, list(JOB_SPACE.instance_patterns))
PAPER_FIGDIR = f"{OUT}/figures/paper"
PAPER_COST = paper_workflow.cost_banner(config) if workflow.is_main_process else None
if PAPER_COST:
    print(PAPER_COST, file=sys.stderr)


localrules:
    paper_design_space,
    paper_figures,


rule paper_design_space:
    input:
        jobs=expand(f"{OUT}/sims/{{instance}}.nc", instance=PAPER.design_jobs),
        phase=f"{OUT}/phase.nc",
    output:
        f"{OUT}/design_space.nc",
    log:
        f"{OUT}/logs/paper_design_space.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        flags=PAPER.design_flags,
    shell:
        "python -m tdlm.cli design-space {input.jobs} --phase {input.phase} {params.flags} "
        "--out {output} > {log} 2>&1"


rule paper_figures:
    input:
        overlaps=f"{OUT}/overlaps.nc",
        phase=f"{OUT}/phase.nc",
        design=f"{OUT}/design_space.nc",
    output:
        png=[
            report(
                f"{PAPER_FIGDIR}/{stem}.png",
                caption=f"../report/paper_{stem}.rst",
                category="Paper",
            )
            for stem in PAPER.figures
        ],
        pdf=[f"{PAPER_FIGDIR}/{stem}.pdf" for stem in PAPER.figures],
        plotted=f"{PAPER_FIGDIR}/{PAPER.plotted}",
    log:
        f"{OUT}/logs/paper_figures.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.plotted),
        flags=PAPER.figure_flags,
    shell:
        "python -m tdlm.cli paper-figures {input.overlaps} {input.phase} {input.design} "
        "--outdir {params.outdir} {params.flags} > {log} 2>&1"
