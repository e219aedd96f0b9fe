"""LR-net: train R binary-weight networks at once through the local reparameterisation trick.

Each weight is +1 with probability sigmoid(theta). Instead of sampling weights (no gradient), every
pre-activation is sampled from its Gaussian approximation, mean sum mu a and variance
sum (1 - mu^2) a^2 with mu = tanh(theta / 2), so gradients reach theta. The R runs are a leading
batch dimension of every tensor (theta has shape (R, out, in)); Adam acts elementwise, so the runs
never interact. Every layer's pre-activation is divided by sqrt(fan-in); hidden units are LeakyReLU.

Speed: each layer is two batched matrix products per direction (torch.bmm over the run dimension, no
Python loop over runs), and the loop over steps never reads a value back to the host: the loss stays
on the device and only a caller that logs converts it (one host sync per progress line).
benchmarks/bench_binary.py compares a training step with the bare batched products of the same shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ProgressFn = Callable[[int, int, torch.Tensor], None]
"""(step, total steps, mean training loss as a 0-d tensor on the device: converting it syncs, so only when logging)."""


@dataclass(frozen=True)
class LRNetConfig:
    """Architecture and optimiser of one LR-net ensemble (paper defaults)."""

    widths: tuple[int, ...] = (20, 15, 15, 10)
    leaky_slope: float = 0.1
    scale_output: bool = False  # divide the output pre-activation by sqrt(fan-in) as well
    epochs: int = 100
    lr: float = 0.3
    batch_size: int = 200
    l2: float = 1e-5  # coefficient of sum(theta^2), added to each run's mean cross-entropy
    init_std: float = 0.1

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1


def _scale(layer: int, fan_in: int, cfg: LRNetConfig) -> float:
    last = layer == cfg.n_layers - 1
    return 1.0 if last and not cfg.scale_output else 1.0 / math.sqrt(fan_in)


def _activate(z: torch.Tensor, layer: int, cfg: LRNetConfig) -> torch.Tensor:
    return z if layer == cfg.n_layers - 1 else F.leaky_relu(z, cfg.leaky_slope)


def init_theta(cfg: LRNetConfig, n_runs: int, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
    """theta ~ N(0, init_std^2) per layer, shape (n_runs, out, in)."""
    return [
        (cfg.init_std * torch.randn(n_runs, n_out, n_in, generator=generator, device=device)).requires_grad_()
        for n_in, n_out in zip(cfg.widths[:-1], cfg.widths[1:])
    ]


def lr_logits(thetas: Sequence[torch.Tensor], x: torch.Tensor, cfg: LRNetConfig, generator: torch.Generator) -> torch.Tensor:
    """Sampled logits (R, B, classes) of the stochastic networks on inputs x of shape (R, B, in)."""
    a = x
    for layer, theta in enumerate(thetas):
        mu = torch.tanh(theta / 2)
        mean = torch.bmm(a, mu.transpose(1, 2))
        var = torch.bmm(a * a, (1 - mu * mu).transpose(1, 2))
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        z = (mean + torch.sqrt(var + 1e-12) * eps) * _scale(layer, theta.shape[-1], cfg)
        a = _activate(z, layer, cfg)
    return a


def binary_logits(weights: Sequence[torch.Tensor], x: torch.Tensor, cfg: LRNetConfig) -> torch.Tensor:
    """Deterministic logits (S, B, classes) of S binary networks (weights +-1, shape (S, out, in)) on x (B, in).

    The first layer's input is shared by all networks: one (B, in) x (in, S out) product instead of S
    products on S copies of x. Scale and activation act in place, one pass over each (S, B, out) tensor.
    """
    n_nets, n_out, n_in = weights[0].shape
    a = (x @ weights[0].reshape(n_nets * n_out, n_in).T).view(len(x), n_nets, n_out).transpose(0, 1).contiguous()
    for layer, w in enumerate(weights):
        if layer > 0:
            a = torch.bmm(a, w.transpose(1, 2))
        a.mul_(_scale(layer, w.shape[-1], cfg))
        if layer < cfg.n_layers - 1:
            a = F.leaky_relu_(a, cfg.leaky_slope)
    return a


def accuracy(
    weights: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, cfg: LRNetConfig, max_elements: int = 2**20
) -> torch.Tensor:
    """Fraction of examples each binary network classifies correctly (argmax of logits), shape (S,).

    Networks are taken in chunks of at most `max_elements` activations per layer (4 MB: the elementwise
    passes then run in cache; 5x faster than 256 MB chunks, and 10^5 networks on 10^4 test examples
    would otherwise need tens of GB).
    """
    n_nets = weights[0].shape[0]
    chunk = max(1, max_elements // (len(y) * max(w.shape[1] for w in weights)))
    parts = [
        (binary_logits([w[i : i + chunk] for w in weights], x, cfg).argmax(-1) == y).float().mean(-1)
        for i in range(0, n_nets, chunk)
    ]
    return torch.cat(parts)


def n_steps(cfg: LRNetConfig, n_train: int) -> int:
    """Optimiser steps of a training run: epochs times batches per epoch (the last one may be short)."""
    return cfg.epochs * math.ceil(n_train / cfg.batch_size)


def train_lrnet(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    n_runs: int,
    cfg: LRNetConfig,
    seed: int,
    progress: ProgressFn | None = None,
) -> list[torch.Tensor]:
    """Train n_runs independent LR-nets (own init and batch order each) and return their theta tensors.

    Tensors live on x_train's device. The last batch of an epoch is smaller when batch_size does not
    divide the number of examples.
    """
    device = x_train.device
    gen = torch.Generator(device=device).manual_seed(seed)
    thetas = init_theta(cfg, n_runs, gen, device)
    opt = torch.optim.Adam(thetas, lr=cfg.lr, foreach=True)
    n_train = len(y_train)
    total, step = n_steps(cfg, n_train), 0
    for _ in range(cfg.epochs):
        order = torch.argsort(torch.rand(n_runs, n_train, generator=gen, device=device), dim=1)
        for start in range(0, n_train, cfg.batch_size):
            idx = order[:, start : start + cfg.batch_size]
            logits = lr_logits(thetas, x_train[idx], cfg, gen)
            ce = F.cross_entropy(logits.flatten(0, 1), y_train[idx].flatten(), reduction="sum") / idx.shape[1]
            penalty = cfg.l2 * sum(t.pow(2).sum() for t in thetas)
            opt.zero_grad(set_to_none=True)
            (ce + penalty).backward()  # ce: sum over runs of each run's mean cross-entropy
            opt.step()
            step += 1
            if progress is not None:
                progress(step, total, ce.detach() / n_runs)
    return [t.detach() for t in thetas]


def draw_binary(thetas: Sequence[torch.Tensor], draws_per_run: int, seed: int) -> list[torch.Tensor]:
    """Draw w = +-1 with P(+1) = sigmoid(theta); result (R * draws_per_run, out, in), run-major order."""
    gen = torch.Generator(device=thetas[0].device).manual_seed(seed)
    out = []
    for theta in thetas:
        p = torch.sigmoid(theta).repeat_interleave(draws_per_run, dim=0)
        out.append(torch.where(torch.rand(p.shape, generator=gen, device=p.device) < p, 1.0, -1.0))
    return out
