"""The Eq. 8 estimator: its exact form, and Theorem 1 against the true back-propagated gradient."""

import math

import pytest
import torch
import torch.nn.functional as F

from mfcomm.channels.contract import AWGN
from mfcomm.learning.estimator import log_policy, perturb, surrogate
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter


def test_surrogate_gradient_is_loss_times_score():
    torch.manual_seed(0)
    s2, a = 0.1, math.sqrt(0.9)
    xbar = torch.randn(6, 3, dtype=torch.complex64, requires_grad=True)
    x_p = perturb(xbar, s2)
    losses = torch.rand(6)
    surrogate(losses, x_p, xbar, s2).backward()
    # d/dRe + i d/dIm of -|x_p - a xbar|^2 / s2 is 2 a (x_p - a xbar) / s2
    expected = losses[:, None] / 6 * 2 * a * (x_p - a * xbar.detach()) / s2
    assert torch.allclose(xbar.grad, expected, atol=1e-5)


def test_perturbation_keeps_average_energy_and_has_policy_variance():
    torch.manual_seed(0)
    s2 = 0.2
    xbar = torch.exp(1j * torch.rand(200_000, 2) * 6.283).to(torch.complex64)  # unit energy
    x_p = perturb(xbar, s2)
    assert float(x_p.abs().square().mean()) == pytest.approx(1.0, abs=0.01)  # SE ~ 0.002
    w = x_p - math.sqrt(1 - s2) * xbar
    assert float(w.abs().square().mean()) == pytest.approx(s2, rel=0.02)
    assert torch.allclose(log_policy(x_p, xbar, s2), -w.abs().square().sum(1) / s2, rtol=1e-4)


def _chunk_gradients(tx, loss_fn, chunks, size):
    """``chunks`` independent gradient estimates, each from ``size`` messages: (chunks, params)."""
    out = []
    for _ in range(chunks):
        m = torch.randint(tx.messages, (size,))
        tx.zero_grad()
        loss_fn(m).backward()
        out.append(tx.embedding.weight.grad.flatten().clone())
    return torch.stack(out)


def test_theorem1_bias_shrinks_and_cosine_rises_as_sigma_shrinks():
    torch.manual_seed(0)
    messages, uses = 8, 2
    tx, rx, channel = Transmitter(messages, uses), Receiver(messages, uses, (32,)), AWGN(0.2)
    opt = torch.optim.Adam([*tx.parameters(), *rx.parameters()], lr=1e-2)
    for _ in range(100):  # a partly trained system, so that losses and gradients are typical
        m = torch.randint(messages, (256,))
        loss = F.cross_entropy(rx(channel(tx(m))), m)
        opt.zero_grad()
        loss.backward()
        opt.step()
    rx.requires_grad_(False)
    chunks, size = 64, 1 << 15

    def true_loss(m):  # back-propagation through the differentiable channel: the true gradient
        return F.cross_entropy(rx(channel(tx(m))), m)

    def estimate(s2):
        def loss(m):
            xbar = tx(m)
            x_p = perturb(xbar, s2)
            with torch.no_grad():
                losses = F.cross_entropy(rx(channel(x_p)), m, reduction="none")
            return surrogate(losses, x_p, xbar, s2)

        return loss

    truth = _chunk_gradients(tx, true_loss, chunks, size)
    g = truth.mean(0)
    results = {}
    for s2 in (0.5, 0.2, 0.05, 0.01):
        est = _chunk_gradients(tx, estimate(s2), chunks, size)
        e = est.mean(0)
        # rms norm of the Monte Carlo error in (e - g); a chi variable in 32 dimensions stays below
        # twice its rms with probability > 1 - 1e-12, so +-2 noise brackets the true bias
        noise = math.sqrt((est.var(0).sum() + truth.var(0).sum()) / chunks)
        bias = float((e - g).norm())
        results[s2] = (bias - 2 * noise, bias + 2 * noise, float(F.cosine_similarity(e, g, dim=0)))
    lo, hi, cos = zip(*(results[s] for s in (0.5, 0.2, 0.05)), strict=True)
    assert lo[0] > hi[1] and lo[1] > hi[2], results  # bias strictly shrinks with sigma
    assert results[0.01][1] < lo[1], results  # and keeps shrinking
    assert cos[0] < cos[1] < cos[2], results  # cosine similarity rises ...
    assert 1 - cos[2] < (1 - cos[0]) / 10, results  # ... towards 1
