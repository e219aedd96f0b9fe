"""Every figure of tdlm, as functions that draw and nothing else.

Why a package of its own: a figure function that picked a backend or wrote files could not be used in
a notebook (`matplotlib.use("Agg")` at import replaced Jupyter's inline backend). So here:

- every function takes the Axes to draw into (`ax=` for one, `axes=` for several; None: a new figure);
- every function returns a `Drawn` (tdlm.plot.common): the Figure, a title, and the values it drew
  (`Drawn.arrays`, and `Drawn.table()` as the tidy CSV written beside the figure);
- nothing here sets a backend or writes a file: the CLI commands (`tdlm plot-phase`, `tdlm paper-figures`,
  `tdlm binary-plot`, `tdlm compare-families`)
  choose the Agg backend and save with `tdlm.figure_files`, and the workflow rules call those commands.

Modules:

- `phase`     the alpha-L phase diagram (layer cells, q*_l profiles, solid depth) and the q*_l heat map
- `profiles`  the paper's layer profiles at t = t*: heat map, train vs test, depth series
- `dynamics`  the paper's time-resolved figures from overlaps.nc
- `design`    the design-space figure (dendrogram, overlap matrix, P(Q))
- `binary`    the binary family's alpha-L diagram and s_l/ln 2 profiles (`tdlm binary-plot`)
- `families`  both families' layer profiles on one depth axis (`tdlm compare-families`)
- `common`    `Drawn` and the helpers the figures share
"""
