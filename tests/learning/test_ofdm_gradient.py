"""The OFDM task's transmitter gradient (Eq. 8 through the OFDM link, the grid receiver and per-resource-element
losses) against the true gradient, by autograd through Sionna's differentiable channel on the same samples.

On a grid of one resource element the per-element credit of the estimator is exact, so its expectation is the
gradient of the loss smoothed by the policy, ``E_w[l(sqrt(1 - sigma2) xbar + w)]``, which autograd gives on the
same draws of ``w``, the channel and the noise (the reparametrisation): their difference has mean 0 at any sigma2
(Theorem 1 then lets sigma2 shrink). On a larger grid the estimator credits each element with its own loss only;
the second test measures how far that local gradient is from the true one (docs/ofdm.md).
"""

from __future__ import annotations

import math

import pytest
import torch

from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.learning.estimator import LossBaseline, perturb, surrogate
from mfcomm.system.bitwise import LearnedConstellation, bits_to_indices, symbol_bce
from mfcomm.system.ofdm_receiver import GridReceiver

pytestmark = pytest.mark.integration


def system(grid: Grid, spec: str, steps: int = 0) -> tuple[LearnedConstellation, GridReceiver, OfdmLink]:
    """A random constellation and a receiver trained ``steps`` steps for it (so that its losses depend on the
    symbols: a random receiver's barely do), then frozen."""
    torch.manual_seed(0)
    const = LearnedConstellation(2, "random", torch.Generator().manual_seed(1))
    rx = GridReceiver(2, grid.data_mask, 8, 1)
    link = OfdmLink(grid, spec, 2, 0.5, (4.0, 4.0), torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(rx.parameters(), 1e-2)
    for _ in range(steps):
        bits = torch.randint(0, 2, (1024, grid.data, 2)).float()
        with torch.no_grad():
            y, n0 = link(const(bits_to_indices(bits)))
        opt.zero_grad()
        symbol_bce(rx(y, n0), bits).mean().backward()
        opt.step()
    rx.requires_grad_(False)
    return const, rx, link


def gradient(const: LearnedConstellation, loss: torch.Tensor) -> torch.Tensor:
    const.raw.grad = None
    loss.backward()
    assert const.raw.grad is not None
    return const.raw.grad.flatten().clone()


def test_eq8_estimate_has_the_true_gradient_as_its_mean():
    grid = Grid(subcarriers=1, symbols=1, pilots="none", cp=0)
    const, rx, link = system(grid, "tdl(model=A) | awgn", steps=200)
    sigma2, batch, batches, generator = 0.02, 8192, 40, torch.Generator().manual_seed(3)
    differences, true = [], []
    for _ in range(batches):
        bits = torch.randint(0, 2, (batch, grid.data, 2), generator=generator).float()
        xbar = const(bits_to_indices(bits))
        x_p = perturb(xbar, sigma2, generator=generator)
        y, n0, h = link.transmit(x_p)
        assert h is not None
        losses = symbol_bce(rx(y, n0), bits).view(-1, 1)
        advantages = losses - LossBaseline("batch", 4)(losses, torch.zeros(len(losses), dtype=torch.long))
        model_free = gradient(const, surrogate(advantages, x_p, xbar, sigma2))
        xbar = const(bits_to_indices(bits))
        x_r = math.sqrt(1 - sigma2) * xbar + (x_p - math.sqrt(1 - sigma2) * xbar.detach())  # x_p, differentiable
        y_r = h * grid.map(x_r) + (y - h * grid.map(x_p))  # the same channel and noise
        exact = gradient(const, symbol_bce(rx(y_r, n0), bits).mean())
        differences.append(model_free - exact)
        true.append(exact)
    d, t = torch.stack(differences), torch.stack(true)
    standard_error = d.std(dim=0) / math.sqrt(batches)
    z = d.mean(dim=0) / standard_error
    assert z.abs().max() < 4, z  # 8 components: each within 4 standard errors of the true gradient
    assert (t.mean(dim=0).abs() / standard_error).max() > 4  # and the test can tell the gradient from zero


def test_local_credit_against_the_full_gradient_on_a_small_grid():
    """On 4 x 8 resource elements the gradient the estimator targets (each element's own loss, the others' symbols
    held) points within about 25 degrees of the true one (cosine > 0.9; 0.914 at this seed)."""
    grid = Grid(subcarriers=8, symbols=4, pilots="none")
    const, rx, link = system(grid, "tdl(model=A) | awgn")
    batch, data, generator = 64, grid.data, torch.Generator().manual_seed(4)
    local, full = torch.zeros(8), torch.zeros(8)
    eye = torch.eye(data, dtype=torch.bool)
    for _ in range(20):
        bits = torch.randint(0, 2, (batch, data, 2), generator=generator).float()
        xbar = const(bits_to_indices(bits))
        y, n0, h = link.transmit(xbar.detach())
        assert h is not None
        noise = y - h * grid.map(xbar.detach())
        full += gradient(const, symbol_bce(rx(h * grid.map(xbar) + noise, n0), bits).mean())
        xbar = const(bits_to_indices(bits))
        rows = torch.where(eye[None], xbar[:, None, :], xbar.detach()[:, None, :]).reshape(batch * data, data)
        y_rows = (h[:, None] * grid.map(rows).view(batch, data, *h.shape[1:]) + noise[:, None]).flatten(0, 1)
        losses = symbol_bce(rx(y_rows, n0.repeat_interleave(data, 0)), bits.repeat_interleave(data, 0))
        local += gradient(const, losses.view(batch, data, data).diagonal(dim1=1, dim2=2).mean())
    cosine = float(local @ full / (local.norm() * full.norm()))
    assert cosine > 0.9, cosine
