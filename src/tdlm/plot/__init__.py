"""Every figure of tdlm, as functions that draw and nothing else.

Why a package of its own: a figure function that picked a backend or wrote files could not be used in
a notebook (`matplotlib.use("Agg")` at import replaced Jupyter's inline backend). So here:

- every function takes the Axes to draw into (`ax=` for one, `axes=` for several; None: a new figure);
- every function returns a `Drawn` (tdlm.plot.common): the Figure, a title, and the values it drew
  (`Drawn.arrays`, and `Drawn.table()` as the tidy CSV written beside the figure);
- nothing here sets a backend or writes a file: the CLI commands (`tdlm plot-phase`, `tdlm paper-figures`)
  choose the Agg backend and save with `tdlm.figure_files`, and the workflow rules call those commands.

Modules:

- `phase`     the alpha-L phase diagram (layer cells, q*_l profiles, solid depth) and the q*_l heat map
- `profiles`  the paper's layer profiles at t = t*: heat map, train vs test, depth series
- `dynamics`  the paper's time-resolved figures from overlaps.nc
- `design`    the design-space figure (dendrogram, overlap matrix, P(Q))
- `common`    `Drawn` and the helpers the figures share

Still in `tdlm.sweep.figures` (being changed for issue 23; to move here afterwards): the binary family's
phase diagram and the two-family comparison.
"""
