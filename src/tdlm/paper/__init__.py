"""Regenerating the figures of arXiv:2506.06789 from a finished sweep.

Small modules, each answering one question:

- `select`   which parameter point a figure draws (reference, design-space point, phase-diagram depth)
- `tau`      relaxation times: the first crossing of an auto-correlation with 1/e
- `design`   design-space structure from stored snapshots: overlap matrices, P(Q), clustering
- `cost`     replica-steps, FLOP and GPU hours of a config before anything runs
- `render`   the whole figure set from overlaps.nc, phase.nc and design_space.nc (drawn by `tdlm.plot`)
- `workflow` the values paper.smk needs at parse time
- `cli`      the `paper-figures`, `design-space` and `cost` subcommands
"""
