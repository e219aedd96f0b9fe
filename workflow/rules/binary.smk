localrules:
    binary_gather,
    binary_plot,
    compare_families,


rule binary_simulate:
    output:
        f"{OUT}/binary/sims/{BINARY_SPACE.wildcard_pattern}.nc",
    log:
        f"{OUT}/logs/binary_simulate/{BINARY_SPACE.wildcard_pattern}.log",
    conda:
        "../../envs/tdlm.yaml"
    threads: config["binary"]["resources"]["threads"]
    resources:
        mem_mb=scaled_resource(config["binary"]["resources"], "mem_mb"),
        runtime=scaled_resource(config["binary"]["resources"], "runtime"),
        gpu=0,  # `device: auto` follows the GPU request (device_flag): cpu unless a profile asks for one
    params:
        flags=binary_flags,
    shell:
        "python -m tdlm.cli --threads {threads} binary-simulate {params.flags} "
        + device_flag(config["binary"].get("params", {}).get("device", "auto"))
        + " --out {output} > {log} 2>&1"


rule binary_gather:
    input:
        expand(
            f"{OUT}/binary/sims/{{params}}.nc",
            params=BINARY_SPACE.instance_patterns,
        ),
    output:
        f"{OUT}/binary/measures.nc",
    log:
        f"{OUT}/logs/binary_gather.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m tdlm.cli binary-gather {input} --out {output} > {log} 2>&1"


rule binary_plot:
    input:
        f"{OUT}/binary/measures.nc",
    output:
        report(
            f"{OUT}/figures/binary_phase_diagram.png",
            caption="../report/binary_phase_diagram.rst",
            category="Binary networks",
        ),
        f"{OUT}/figures/binary_phase_diagram.pdf",
    log:
        f"{OUT}/logs/binary_plot.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        stem=lambda wildcards, output: os.path.splitext(output[0])[0],
    shell:
        "python -m tdlm.cli binary-plot {input} --out {params.stem} > {log} 2>&1"


rule compare_families:
    input:
        f"{OUT}/phase.nc",
        f"{OUT}/binary/measures.nc",
    output:
        report(
            f"{OUT}/figures/families.png",
            caption="../report/families.rst",
            category="Binary networks",
        ),
        f"{OUT}/figures/families.pdf",
    log:
        f"{OUT}/logs/compare_families.log",
    conda:
        "../../envs/tdlm.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        stem=lambda wildcards, output: os.path.splitext(output[0])[0],
    shell:
        "python -m tdlm.cli compare-families {input} --out {params.stem} > {log} 2>&1"
