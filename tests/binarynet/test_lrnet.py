import numpy as np
import pytest
import torch

from tdlm.binarynet.data import load_split
from tdlm.binarynet.lrnet import LRNetConfig, accuracy, binary_logits, draw_binary, lr_logits, train_lrnet


def test_draws_follow_sigmoid_theta() -> None:
    theta = torch.tensor([[[-2.0, 0.0, 1.0]]])
    w = draw_binary([theta], draws_per_run=20000, seed=0)[0]
    assert w.shape == (20000, 1, 3)
    assert set(w.unique().tolist()) == {-1.0, 1.0}
    freq = (w == 1).float().mean(0)[0]
    torch.testing.assert_close(freq, torch.sigmoid(theta)[0, 0], atol=0.015, rtol=0)


def test_local_reparameterisation_matches_binary_weights() -> None:
    """One layer: LR pre-activations have the mean and variance of w.a with w ~ Bernoulli(sigmoid(theta))
    (20000 draws each; tolerance about 5 standard errors)."""
    cfg = LRNetConfig(widths=(5, 3))
    theta = torch.tensor([[[0.5, -1.0, 2.0, 0.0, -0.3], [1.5, 1.5, -2.5, 0.2, 0.7], [0.0, 0.0, 0.0, 0.0, 0.0]]])
    x = torch.tensor([[0.3, -1.2, 0.8, 2.0, -0.5]])
    n = 20000
    gen = torch.Generator().manual_seed(1)
    lr = lr_logits([theta.expand(n, 3, 5)], x.expand(n, 1, 5), cfg, gen)[:, 0]
    binary = binary_logits(draw_binary([theta], n, seed=2), x, cfg)[:, 0]
    torch.testing.assert_close(lr.mean(0), binary.mean(0), atol=0.08, rtol=0)
    torch.testing.assert_close(lr.var(0), binary.var(0), atol=0.0, rtol=0.06)
    mu = torch.tanh(theta[0] / 2)
    torch.testing.assert_close(binary.mean(0), (mu @ x[0]), atol=0.08, rtol=0)


def test_training_learns_digits_and_is_reproducible() -> None:
    split = load_split("digits", n_train=600, n_test=400)
    x, y = torch.tensor(split.x_train), torch.tensor(split.y_train)
    cfg = LRNetConfig(widths=(20, 10), epochs=15)
    thetas = train_lrnet(x, y, n_runs=8, cfg=cfg, seed=3)
    again = train_lrnet(x, y, n_runs=8, cfg=cfg, seed=3)
    torch.testing.assert_close(thetas[0], again[0])
    assert not torch.allclose(thetas[0][0], thetas[0][1])  # each run has its own init and batch order
    w = draw_binary(thetas, 1, seed=4)
    acc = accuracy(w, torch.tensor(split.x_test), torch.tensor(split.y_test), cfg)
    assert acc.shape == (8,)
    assert acc.mean() > 0.5  # chance is 0.1


def test_permutation_of_runs_gives_per_run_functions() -> None:
    """binary_logits of a stack equals the logits of each network alone (runs never mix)."""
    cfg = LRNetConfig(widths=(4, 3, 2))
    gen = torch.Generator().manual_seed(0)
    w = [
        torch.where(torch.rand(5, 3, 4, generator=gen) < 0.5, 1.0, -1.0),
        torch.where(torch.rand(5, 2, 3, generator=gen) < 0.5, 1.0, -1.0),
    ]
    x = torch.randn(7, 4, generator=gen)
    stacked = binary_logits(w, x, cfg)
    for s in range(5):
        torch.testing.assert_close(stacked[s], binary_logits([w[0][s : s + 1], w[1][s : s + 1]], x, cfg)[0])


def _digits_on(device: str, n_train: int, n_test: int) -> tuple[torch.Tensor, ...]:
    """Training and test images and labels of the digits split, on `device`."""
    split = load_split("digits", n_train=n_train, n_test=n_test)
    arrays = (split.x_train, split.y_train, split.x_test, split.y_test)
    return tuple(torch.tensor(a, device=torch.device(device)) for a in arrays)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_runs_on_cuda() -> None:
    x, y, x_test, y_test = _digits_on("cuda", 400, 200)
    cfg = LRNetConfig(widths=(20, 15, 10), epochs=5)
    thetas = train_lrnet(x, y, n_runs=32, cfg=cfg, seed=0)
    assert thetas[0].device.type == "cuda"
    w = draw_binary(thetas, 2, seed=1)
    acc = accuracy(w, x_test, y_test, cfg)
    assert acc.shape == (64,) and bool(np.isfinite(acc.cpu().numpy()).all())


def test_progress_gets_the_loss_as_a_device_tensor() -> None:
    """The training loop reads nothing back per step: the callback receives a 0-d tensor (converting it
    is the caller's host sync, done only when a line is logged)."""
    split = load_split("digits", n_train=200, n_test=100)
    seen = []
    train_lrnet(
        torch.tensor(split.x_train),
        torch.tensor(split.y_train),
        n_runs=3,
        cfg=LRNetConfig(widths=(20, 10), epochs=2, batch_size=100),
        seed=0,
        progress=lambda step, total, loss: seen.append((step, total, loss)),
    )
    assert [s for s, _, _ in seen] == [1, 2, 3, 4] and all(t == 4 for _, t, _ in seen)
    assert all(isinstance(loss, torch.Tensor) and loss.ndim == 0 for _, _, loss in seen)
    assert 0 < float(seen[-1][2]) < float(np.log(10)) * 3


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_never_syncs_with_the_host_on_cuda() -> None:
    x, y, _, _ = _digits_on("cuda", 400, 100)
    cfg = LRNetConfig(widths=(20, 15, 10), epochs=2)
    torch.cuda.set_sync_debug_mode("error")  # any implicit device-to-host copy raises
    try:
        train_lrnet(x, y, n_runs=8, cfg=cfg, seed=0, progress=lambda step, total, loss: None)
    finally:
        torch.cuda.set_sync_debug_mode("default")
