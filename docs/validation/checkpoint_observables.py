"""The branch-phase observables of running (or interrupted) jobs, read from their checkpoints without rerunning
or stopping them.

Measured on the checkpoint's state with the engine's own `measure_branches` (quantities that job files written
by older code do not hold, e.g. `q_test_tanh`, at the checkpoint's time): prints per checkpoint (its first
sample, its largest t_w) the time since t_w, the test accuracies (sign, tanh; mean over replicas) and the
test-input overlaps q_test (sign network) and q_test_tanh (tanh network, normalised) per layer (mean over
pairs), then their mean over the checkpoints given (one per sample).

    python docs/validation/checkpoint_observables.py results/validation/checkpoints/M~2000/N~10/L~10/T~1e-05/job~*.ckpt \
        --data data/mnist01

With --series, instead the series the jobs have recorded so far (the checkpoints of one point, one per sample
or group of samples), reduced as the gather reduces a job, and compare.py's tables of them at the last branch
time that every job has reached: the test-input q*_l of Fig. 3(d), the aging of Fig. 2(g, h) (normalised, per
layer as in Fig. 3, then raw):

    python docs/validation/checkpoint_observables.py --series results/validation-aging/checkpoints/M~2000/N~10/L~10/T~1e-05/job~*.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from tdlm.md.checkpoint import read
from tdlm.md.observables import measure_branches
from tdlm.md.params import build
from tdlm.md.setup import branch, prepare
from tdlm.md.simulate import series_coords
from tdlm.storage import build_dataset
from tdlm.sweep.gather import reduce_job

sys.path.insert(0, str(Path(__file__).parent))
from compare import aging_layer_rows, aging_rows, heldout_rows  # noqa: E402  (docs/validation/compare.py, beside this script)

NAMES = ("q_test", "q_test_tanh")


def observables(path: Path, data: str | None = None) -> tuple[int, dict[str, np.ndarray]]:
    """(steps since t_w, {accuracy, accuracy_tanh: (t_w, replicas), q_test, q_test_tanh: (t_w, pairs, layers
    1..L-1)}) of sample 0 of the job."""
    payload = read(path)
    if payload["phase"] != "branch":
        raise SystemExit(f"{path}: phase {payload['phase']}; these observables exist in the branch phase only")
    values = dict(payload["params"], **({"data.path": data} if data else {}))
    setup = prepare(build(values))
    layout = setup.branched
    position, velocity = payload["position"].to(setup.dtype), payload["velocity"].to(setup.dtype)
    measured = measure_branches(
        layout,
        position,
        velocity,
        branch(setup, payload["snapshots"].to(setup.dtype)),
        setup.train,
        setup.test,
        len(setup.t_w),
        setup.params.n_replicas,
    )
    out = {name: measured[name][0].numpy() for name in ("accuracy", "accuracy_tanh")}
    out.update({name: measured[name][0, ..., :-1].numpy() for name in NAMES})
    return int(payload["step"]), out


def recorded_series(paths: list[Path]) -> xr.Dataset:
    """The branch series recorded so far by the jobs of one point (dimensions sample, t_w, t, layer; NaN at the
    times not reached yet), each job built as `tdlm simulate` builds its file and reduced by the gather's
    `reduce_job`."""
    parts = []
    for path in paths:
        payload = read(path)
        if payload["phase"] != "branch":
            raise SystemExit(f"{path}: phase {payload['phase']}; no branch series recorded yet")
        job = build_dataset(payload["records"], series_coords(build(payload["params"])), {}, {})
        parts.append(reduce_job(job, path))
    return xr.concat(parts, "sample")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--data", default=None, help="MNIST folder, if not the jobs' data.path")
    ap.add_argument("--series", action="store_true", help="tables of the series recorded so far")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.series:
        point = recorded_series(args.checkpoints)
        print(heldout_rows(point), aging_rows(point, "q_norm"), aging_layer_rows(point), aging_rows(point, "q"), sep="\n\n")
        return
    rows = []
    for path in args.checkpoints:
        step, obs = observables(path, args.data)
        rows.append(obs)
        sign, tanh = obs["accuracy"][-1].mean(), obs["accuracy_tanh"][-1].mean()
        print(f"{path}: t = {step} after t_w; A sign {sign:.3f}, A tanh {tanh:.3f}")
        for name in NAMES:
            print(f"  {name}: " + " ".join(f"{v:.2f}" for v in obs[name][-1].mean(axis=0)))
    if len(rows) > 1:
        print(f"mean over the {len(rows)} checkpoints:")
        for name in NAMES:
            print(f"  {name}: " + " ".join(f"{v:.2f}" for v in np.mean([r[name][-1].mean(axis=0) for r in rows], axis=0)))


if __name__ == "__main__":
    main()
