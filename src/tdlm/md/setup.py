"""What a job derives from its parameters before the first step: device, data, layout, time grids,
the initial state and the branching of replicas.

Every seed is a function of (seed, sample) alone, so a sample's data and initial positions do not depend
on how samples are packed into jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from tdlm.data import Dataset, draw, load_pool
from tdlm.device import resolve_device
from tdlm.md.energy import Boundary, fused_spin_major
from tdlm.md.integrate import maxwell_boltzmann
from tdlm.md.layout import Layout
from tdlm.md.params import SimParams
from tdlm.md.state import MDState


def log_grid(t_max: int, per_decade: int, extra: tuple[int, ...] = ()) -> np.ndarray:
    """0, then about `per_decade` integer times per decade up to t_max (inclusive), plus `extra`."""
    if t_max <= 0:
        return np.array(sorted({0, *extra}), dtype=np.int64)
    n = int(np.ceil(np.log10(t_max) * per_decade)) + 1
    grid = np.round(np.logspace(0, np.log10(t_max), n)).astype(np.int64)
    return np.array(sorted({0, t_max, *grid.tolist(), *extra}), dtype=np.int64)


def sample_seeds(seed: int, sample: int) -> tuple[int, int]:
    """(data seed, initial-state seed) of one sample; independent of how samples are packed into jobs."""
    data_seed, init_seed = np.random.SeedSequence([seed, sample]).generate_state(2)
    return int(data_seed), int(init_seed)


def noise_seed(seed: int, samples: tuple[int, ...]) -> int:
    """Seed of the job's thermal-noise stream (shared by the samples batched in the job)."""
    return int(np.random.SeedSequence([seed, *samples, 2**31 - 1]).generate_state(1)[0])


@dataclass
class Setup:
    """Everything a job derives from its parameters before the first step."""

    params: SimParams
    device: torch.device
    dtype: torch.dtype
    datasets: list[Dataset]
    train: Boundary
    test: Boundary
    layout: Layout  # before branching (K = 1)
    t_w: tuple[int, ...]  # sorted
    history_times: np.ndarray
    branch_times: np.ndarray

    @property
    def branched(self) -> Layout:
        return self.layout.with_k(len(self.t_w) * self.params.n_replicas)


def time_grids(params: SimParams) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """(the waiting times in order, the wait phase's record times, the branches' record times): the job's
    clock, fixed by its parameters alone (also for reading a checkpoint's records without the data)."""
    t_w = tuple(sorted(params.t_w))
    return t_w, log_grid(t_w[-1], params.record_per_decade, t_w), log_grid(params.t_star, params.record_per_decade)


def prepare(params: SimParams) -> Setup:
    """Device, each sample's training and test set (cut to the shortest test set), layout and time grids."""
    device = resolve_device(params.device)
    dtype = {"float32": torch.float32, "float64": torch.float64}[params.dtype]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = params.tf32
        torch.backends.cudnn.allow_tf32 = params.tf32
    classes = list(params.data.classes)
    pool = load_pool(params.data.source, classes, params.data.path)
    datasets = [
        draw(pool, classes, params.M, params.n_test, np.random.default_rng(sample_seeds(params.seed, s)[0]))
        for s in params.samples
    ]
    n_test = min(len(d.test_index) for d in datasets)
    if n_test == 0:
        raise ValueError(f"M: {params.M} leaves no test examples in {params.data.source}; lower M")
    tensor = lambda a: torch.as_tensor(np.stack(a), dtype=dtype, device=device)  # noqa: E731
    train = Boundary(tensor([d.x_train for d in datasets]), tensor([d.y_train for d in datasets]))
    test = Boundary(tensor([d.x_test[:n_test] for d in datasets]), tensor([d.y_test[:n_test] for d in datasets]))
    widths = (train.x.shape[-1],) + (params.N,) * (params.L - 1) + (len(classes),)
    t_w, history_times, branch_times = time_grids(params)
    layout = Layout(widths, params.M, len(params.samples), 1, params.preactivation)
    if params.noise == "uniform":  # its fused force pass reads and writes narrow layers' spins feature-major
        layout = replace(layout, spin_major=fused_spin_major(layout, dtype, device))
    return Setup(
        params,
        device,
        dtype,
        datasets,
        train,
        test,
        layout,
        t_w,
        history_times,
        branch_times,
    )


def initial_state(setup: Setup) -> MDState:
    """Uniform positions per sample from the sample's own seed; Maxwell-Boltzmann velocities at T, or zero
    ones (`init_velocities: zero`, which then draws nothing from the noise generator)."""
    layout, p = setup.layout, setup.params
    position = torch.empty(layout.total, dtype=setup.dtype, device=setup.device)
    for s, sample in enumerate(p.samples):
        g = torch.Generator(device="cpu").manual_seed(sample_seeds(p.seed, sample)[1])
        for block in layout.blocks(position):
            block[s].copy_(torch.rand(block[s].shape, generator=g, dtype=setup.dtype).mul_(2).sub_(1))
    rng = torch.Generator(device=setup.device).manual_seed(noise_seed(p.seed, p.samples))
    if p.init_velocities == "zero":
        velocity = torch.zeros(layout.total, dtype=setup.dtype, device=setup.device)
    else:
        velocity = maxwell_boltzmann(layout.total, p.T, rng, setup.dtype, setup.device)
    return MDState(position, velocity, rng, 0)


def branch(setup: Setup, snapshots: torch.Tensor) -> torch.Tensor:
    """Positions of every replica of every branch: snapshot n_tw x S configurations -> (S, n_tw*R) layout."""
    R, before, after = setup.params.n_replicas, setup.layout, setup.branched
    out = torch.empty(after.total, dtype=snapshots.dtype, device=snapshots.device)
    per_tw = [before.blocks(snap) for snap in snapshots]
    for i, target in enumerate(after.blocks(out)):
        stacked = torch.cat([blocks[i] for blocks in per_tw], dim=1)  # (S, n_tw, ...)
        target.copy_(stacked.repeat_interleave(R, dim=1))
    return out
