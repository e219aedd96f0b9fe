"""The sweep around the engine: the job table of a workflow config, gathering job files into point and
sweep files, classification of every layer, and the sweep's figures."""
