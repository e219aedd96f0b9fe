import os
import shlex

from snakemake.utils import min_version

from tdlm.sweep import finish as run_finish

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Every rule runs `python -m tdlm.cli` with the checkout's src/ first on PYTHONPATH, so a job imports the
# package of the workflow it belongs to in any environment that holds the dependencies (envs/tdlm.yaml
# under --software-deployment-method conda, or the environment the package was pip-installed into).
# Progress and checkpoint cadence (the same for every simulate job) reach the simulate command as
# $TDLM_BOOKKEEPING_FLAGS. Both go through the shell prefix, not rule params: moving the checkout or
# changing the cadence in a finished sweep's config must rerun nothing.
# (Snakemake formats the prefix like a command: literal braces are doubled.)
SRC = os.path.join(os.path.abspath(workflow.basedir), "src")
shell.prefix(
    'set -euo pipefail; export PYTHONPATH="'
    + shell_literal(SRC)
    + '${{PYTHONPATH:+:$PYTHONPATH}}"; export TDLM_BOOKKEEPING_FLAGS='
    + shell_literal(shlex.quote(BOOKKEEPING_FLAGS))
    + "; "
)


include: "workflow/rules/simulate.smk"
include: "workflow/rules/gather.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/paper.smk"


# the binary-weight family's rules exist only when the config selects it
if "binary" in FAMILIES:

    include: "workflow/rules/binary.smk"


onsuccess:
    # thin: the text and the cleanup live in tdlm.sweep.finish (unit-tested)
    run_finish.remove_empty_dirs(f"{OUT}/checkpoints")
    print(run_finish.run_summary(OUT, all_outputs()))


rule all:
    default_target: True
    input:
        all_outputs,
