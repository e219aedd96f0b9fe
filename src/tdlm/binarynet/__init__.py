"""Second model family: ensembles of binary-weight networks and their data-driven effective (Ising) model.

Method: Zou & Huang, arXiv:2007.08093; restated in the project's docs/effective-model.md.
Pipeline: data -> LR-net training (lrnet) -> binary draws -> alignment (align) -> Ising fit per layer
(ising) -> Bethe entropy and entropy landscape (entropy) -> per-layer measures and dataset (measures).
"""
