"""The transmitter's perturbation and the paper's gradient estimator (Eq. 8), on fed-back losses only.

The transmitter becomes a Gaussian policy around its own output ``xbar``:
``x_p = sqrt(1 - sigma2) xbar + w``, ``w ~ CN(0, sigma2 I)``, which keeps the average energy per symbol
at 1. Its log-density is ``log pi(x_p | xbar) = -||x_p - sqrt(1 - sigma2) xbar||^2 / sigma2 + const``.
With real signalling ``w ~ N(0, sigma2 I)`` on real parts and ``log pi = -||.||^2 / (2 sigma2)``.

Variance reduction (docs/estimator.md argues why each keeps the estimate unbiased): ``K`` perturbations
per message, antithetic pairs ``(w, -w)``, and baselines ``b_i`` subtracted from the losses, each built
only from samples independent of sample ``i``, so that ``E[b_i grad log pi_i] = 0``.

The transmitter's side of a transmitter step (:func:`mfcomm.learning.model_free.train_model_free`) is
:func:`perturb` before the channel, and :class:`LossBaseline` and :func:`surrogate` (Eq. 8) on the losses fed back.

Example
-------
One estimate: 4 messages, each perturbed twice (an antithetic pair), their fed-back losses less the batch
baseline, Eq. 8 into the transmitter's gradient:

>>> import torch
>>> xbar = torch.ones(8, 2, dtype=torch.complex64, requires_grad=True)  # f_T(m), each message twice in a row
>>> x_p = perturb(xbar, 0.02, perturbations=2, antithetic=True)  # sent through the channel
>>> fed_back = torch.rand(4, 2)  # the receiver's losses of x_p, through the feedback link: (messages, K)
>>> advantages = fed_back - LossBaseline("batch", 16)(fed_back, torch.arange(4))
>>> surrogate(advantages, x_p, xbar, 0.02).backward()
>>> xbar.grad.shape
torch.Size([8, 2])
"""

from __future__ import annotations

import math

import torch

from mfcomm.channels.contract import complex_normal


def exploration(
    shape: tuple[int, int, int],
    sigma2: float,
    device: torch.device | str,
    real: bool = False,
    antithetic: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Policy noise ``w`` of shape (messages, K, n): CN(0, sigma2) (real: N(0, sigma2)) per symbol.

    With ``antithetic`` the second half of the K perturbations of each message is the negated first half.
    """
    b, k, n = shape
    drawn = (b, k // 2 if antithetic else k, n)
    if real:
        w = torch.complex(
            torch.randn(drawn, device=device, generator=generator) * math.sqrt(sigma2),
            torch.zeros(drawn, device=device),
        )
    else:
        w = complex_normal(drawn, sigma2, device, generator)
    return torch.cat([w, -w], dim=1) if antithetic else w


def perturb(
    xbar: torch.Tensor,
    sigma2: float,
    real: bool = False,
    perturbations: int = 1,
    antithetic: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The Gaussian policy's sample: ``x_p = sqrt(1 - sigma2) xbar + w``, ``w`` from :func:`exploration` (the energy
    per symbol stays 1; no gradient flows).

    ``xbar``: (labels, ...) complex64, the K ``perturbations`` of each label in consecutive rows (as
    :meth:`~mfcomm.learning.examples.Examples.repeat` gives them); ``x_p`` has its shape.
    """
    xbar = xbar.detach()
    shape = (xbar.shape[0] // perturbations, perturbations, xbar[0].numel())
    w = exploration(shape, sigma2, xbar.device, real, antithetic, generator)
    return math.sqrt(1.0 - sigma2) * xbar + w.view_as(xbar)


def log_policy(x_p: torch.Tensor, xbar: torch.Tensor, sigma2: float, real: bool = False) -> torch.Tensor:
    """``log pi(x_p | xbar)`` per example, up to a constant: shape (batch,). Differentiable in ``xbar``."""
    d = x_p - math.sqrt(1.0 - sigma2) * xbar
    squared = d.real.square() + (0.0 if real else d.imag.square())
    return -squared.sum(dim=1) / (2.0 * sigma2 if real else sigma2)


def surrogate(
    losses: torch.Tensor, x_p: torch.Tensor, xbar: torch.Tensor, sigma2: float, real: bool = False
) -> torch.Tensor:
    """Surrogate whose gradient w.r.t. theta_T is the estimator of Eq. 8:

        grad ~= (1/S) sum_i l_i * grad_theta_T log pi(x_p,i | xbar_i),  xbar_i = f_T(m_i)

    ``losses`` (the S fed-back l_i, or l_i - b_i with a baseline, in any shape) and ``x_p`` are constants here;
    only ``xbar`` carries a gradient. ``x_p`` and ``xbar`` hold one example per loss, in the losses' order (an
    example: a message's block of n symbols, or one symbol of the bits task), so they are read as (S, n).
    """
    rows = losses.numel()
    log_pi = log_policy(x_p.detach().reshape(rows, -1), xbar.reshape(rows, -1), sigma2, real)
    return (losses.detach().flatten() * log_pi).mean()


class LossBaseline:
    """``b`` to subtract from fed-back losses (messages, K), from samples independent of each sample.

    - ``none``: b = 0 (the paper's plain estimator);
    - ``batch``: for each message, the mean loss of all *other* messages in the batch (leave-one-out);
    - ``message``: the mean loss of the other perturbations of the same message (K >= 2; with antithetic
      pairs the partner is left out too, K >= 4);
    - ``running``: a per-message exponential moving average of past batches' losses (decay 0.9).
    """

    def __init__(self, kind: str, messages: int, antithetic: bool = False, decay: float = 0.9):
        self.kind, self.antithetic, self.decay = kind, antithetic, decay
        self.running = torch.zeros(messages)
        self.seen = torch.zeros(messages, dtype=torch.bool)

    def __call__(self, losses: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        rows, k = losses.shape
        if self.kind == "none":
            return torch.zeros_like(losses)
        if self.kind == "batch":
            row_sums = losses.sum(dim=1, keepdim=True)
            return ((losses.sum() - row_sums) / (max(rows - 1, 1) * k)).expand(rows, k)  # one row: 0
        if self.kind == "message":
            left_out = losses + (losses.roll(k // 2, dims=1) if self.antithetic else 0.0)
            return (losses.sum(dim=1, keepdim=True) - left_out) / (k - 1 - int(self.antithetic))
        self.running, self.seen = self.running.to(losses.device), self.seen.to(losses.device)
        b = torch.where(self.seen[m], self.running[m], 0.0).unsqueeze(1).expand(rows, k)
        # update after use, so that b never depends on this batch: per-message batch means, then the EMA
        sums = torch.zeros_like(self.running).index_add_(0, m, losses.mean(dim=1))
        counts = torch.zeros_like(self.running).index_add_(0, m, torch.ones_like(sums[m]))
        present = counts > 0
        batch_mean = sums / counts.clamp_min(1)
        updated = torch.where(self.seen, self.decay * self.running + (1 - self.decay) * batch_mean, batch_mean)
        self.running = torch.where(present, updated, self.running)
        self.seen = self.seen | present
        return b


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimiser step on ``loss`` (0-d, with its graph); returns it detached."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def geometric(step: int, steps: int, start: float, final: float | None) -> float:
    """A value at ``step`` (1-based) of ``steps``: constant, or geometric from ``start`` to ``final``."""
    if final is None or steps <= 1:
        return start
    return start * (final / start) ** ((step - 1) / (steps - 1))


def sigma2_at(iteration: int, iterations: int, start: float, final: float | None) -> float:
    """Perturbation variance at ``iteration`` (1-based): constant, or geometric from ``start`` to ``final``."""
    return geometric(iteration, iterations, start, final)
