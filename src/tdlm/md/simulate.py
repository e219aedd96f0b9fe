"""Run one simulate job end to end and write its netCDF file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from tdlm.device import resolve_device
from tdlm.md.checks import Divergence
from tdlm.md.observables import pair_index
from tdlm.md.params import SimParams
from tdlm.md.run import Runner
from tdlm.md.segments import totals
from tdlm.md.setup import noise_seed, prepare, sample_seeds, time_grids
from tdlm.storage import build_dataset, check_writable, point_coords, provenance, write_atomic

log = logging.getLogger("tdlm")


def default_checkpoint(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def run(params: SimParams, out: str | Path, record_divergence: bool = False) -> xr.Dataset:
    """Simulate (resuming from the checkpoint if there is one), write `out` atomically, drop the checkpoint.

    A divergence raises Divergence; with `record_divergence` (a sweep: one diverged point must not sink
    the others, and rerunning it would diverge again) `out` instead records the failure and no physics.
    """
    check_writable(out)  # before the data, the wait phase and the branches, not after them
    if not record_divergence:
        return _run(params, out)
    try:
        return _run(params, out)
    except Divergence as err:
        log.error("diverged: %s; recorded in %s (no observables)", err, out)
        ds = xr.Dataset(
            coords=point_coords(params.M, params.N, params.L, params.T),
            attrs=provenance(
                params.flat(),
                {"diverged": 1, "divergence": str(err), **params.choices()},
                step="tdlm simulate",
                device=resolve_device(params.device),
            ),
        )
        write_atomic(ds, out)
        return ds


def series_coords(params: SimParams) -> dict[str, Any]:
    """The coordinates of the job file's recorded series (and of a checkpoint's records): samples, waiting
    times, both phases' record times, replicas and their pairs, layers, and the point."""
    t_w, history_times, branch_times = time_grids(params)
    a, b = pair_index(params.n_replicas)
    return {
        "sample": np.asarray(params.samples),
        "t_w": np.asarray(t_w),
        "t": branch_times,
        "history_time": history_times,
        "replica": np.arange(params.n_replicas),
        "pair": np.arange(len(a)),
        "pair_a": ("pair", a.numpy()),
        "pair_b": ("pair", b.numpy()),
        "layer": np.arange(1, params.L + 1),
        **point_coords(params.M, params.N, params.L, params.T),
    }


def _run(params: SimParams, out: str | Path) -> xr.Dataset:
    setup = prepare(params)
    ckpt = Path(params.checkpoint_path) if params.checkpoint_path else default_checkpoint(out)
    log.info(
        "simulate: M=%d N=%d L=%d samples=%s t_w=%s t*=%d replicas=%d on %s/%s (%d coordinates per configuration)",
        params.M,
        params.N,
        params.L,
        list(params.samples),
        list(setup.t_w),
        params.t_star,
        params.n_replicas,
        setup.device,
        params.dtype,
        setup.layout.per_config,
    )
    runner = Runner(setup, ckpt)
    recorder, state, _ = runner.run()
    layout, R, n_tw, S = setup.branched, params.n_replicas, len(setup.t_w), setup.layout.S
    per_config = lambda which: layout.per_config_view(state.position, which).reshape(S, n_tw, R, -1).cpu().numpy()  # noqa: E731
    snapshots = {"J_final": per_config("weights")}
    weight_layer = np.concatenate([np.full(layout.sizes[l - 1], l) for l in range(1, layout.L + 1)])
    spin_layer = np.concatenate([np.full(layout.sizes[layout.L + l - 1], l) for l in range(1, layout.L)])
    coords = {**series_coords(params), "weight_layer": ("weight_index", weight_layer)}
    if params.store_spins:
        snapshots["S_final"] = per_config("spins")
        coords["spin_layer"] = ("spin_index", spin_layer)
    snapshots["train_index"] = np.stack([d.train_index for d in setup.datasets])
    n_test = setup.test.x.shape[1]
    snapshots["test_index"] = np.stack([d.test_index[:n_test] for d in setup.datasets])
    segments = runner.segments.upto("branch", state.step)
    extra = {
        "devices_json": json.dumps(runner.devices),
        # what the job cost, one segment per process that advanced it (tdlm.md.segments)
        "segments_json": json.dumps(segments),
        **totals(segments),
        "cuda_graph_replayed": runner.graph_replayed,
        "torch_threads": torch.get_num_threads(),
        "widths": list(layout.widths),
        # the flat buffer's order, on which the uniform noise's numbers hang (Layout.spin_major)
        "feature_major_spins": [l for l in range(1, layout.L) if layout.feature_major(l)] or "none",
        "n_test_used": n_test,
        "alpha": params.M / params.N,
        "ln_alpha": float(np.log(params.M / params.N)),
        "data_seeds": [sample_seeds(params.seed, s)[0] for s in params.samples],
        "init_seeds": [sample_seeds(params.seed, s)[1] for s in params.samples],
        "noise_seed": noise_seed(params.seed, params.samples),
        **params.choices(),
    }
    attrs = provenance(params.flat(), extra, step="tdlm simulate", device=setup.device)
    ds = build_dataset(recorder.arrays, coords, snapshots, attrs)
    write_atomic(ds, out)
    ckpt.unlink(missing_ok=True)
    log.info("wrote %s", out)
    return ds
