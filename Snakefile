from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/gather.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/paper.smk"


# the binary-weight family's rules exist only when the config selects it
if "binary" in FAMILIES:

    include: "workflow/rules/binary.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
