"""The MD engine of one simulate job: layout of the state, box, energy, integrator, observables,
checkpoints, and the run from parameters to a job file."""
