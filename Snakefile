import os

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# Every rule runs `python -m tdlm.cli` with the checkout's src/ first on PYTHONPATH, so a job imports the
# package of the workflow it belongs to in any environment that holds the dependencies (envs/tdlm.yaml
# under --software-deployment-method conda, or the environment the package was pip-installed into).
# A shell prefix, not a rule parameter: moving the checkout must not rerun finished jobs.
# (Snakemake formats the prefix like a command: literal braces are doubled.)
SRC = os.path.join(os.path.abspath(workflow.basedir), "src")
shell.prefix(
    'set -euo pipefail; export PYTHONPATH="'
    + SRC.replace("{", "{{").replace("}", "}}")
    + '${{PYTHONPATH:+:$PYTHONPATH}}"; '
)


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
