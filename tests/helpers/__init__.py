"""Helpers shared by the tests: `workflow` (a private copy of the workflow, bounded snakemake and tdlm
runs) and `synthetic` (hand-made job and overlap files of known content)."""
