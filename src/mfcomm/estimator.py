"""The transmitter's perturbation and the paper's gradient estimator (Eq. 8), on fed-back losses only.

The transmitter becomes a Gaussian policy around its own output ``xbar``:
``x_p = sqrt(1 - sigma2) xbar + w``, ``w ~ CN(0, sigma2 I)``, which keeps the average energy per symbol
at 1. Its log-density is ``log pi(x_p | xbar) = -||x_p - sqrt(1 - sigma2) xbar||^2 / sigma2 + const``.
With real signalling ``w ~ N(0, sigma2 I)`` on real parts and ``log pi = -||.||^2 / (2 sigma2)``.

Example
-------
>>> import torch
>>> xbar = torch.ones(4, 2, dtype=torch.complex64, requires_grad=True)
>>> x_p = perturb(xbar.detach(), sigma2=0.02)
>>> surrogate(torch.rand(4), x_p, xbar, 0.02).backward()
>>> xbar.grad.shape
torch.Size([4, 2])
"""

from __future__ import annotations

import math

import torch

from mfcomm.channels import complex_normal


def perturb(xbar: torch.Tensor, sigma2: float, real: bool = False) -> torch.Tensor:
    """Energy-preserving Gaussian exploration: ``sqrt(1 - sigma2) xbar + w`` (no gradient flows)."""
    xbar = xbar.detach()
    if real:
        w = torch.randn(xbar.shape, device=xbar.device) * math.sqrt(sigma2)
        return math.sqrt(1.0 - sigma2) * xbar + w.to(xbar.dtype)
    return math.sqrt(1.0 - sigma2) * xbar + complex_normal(tuple(xbar.shape), sigma2, xbar.device)


def log_policy(x_p: torch.Tensor, xbar: torch.Tensor, sigma2: float, real: bool = False) -> torch.Tensor:
    """``log pi(x_p | xbar)`` per example, up to a constant: shape (batch,). Differentiable in ``xbar``."""
    d = x_p - math.sqrt(1.0 - sigma2) * xbar
    squared = d.real.square() + (0.0 if real else d.imag.square())
    return -squared.sum(dim=1) / (2.0 * sigma2 if real else sigma2)


def surrogate(losses: torch.Tensor, x_p: torch.Tensor, xbar: torch.Tensor, sigma2: float,
              real: bool = False) -> torch.Tensor:
    """Surrogate whose gradient w.r.t. theta_T is the estimator of Eq. 8:

        grad ~= (1/S) sum_i l_i * grad_theta_T log pi(x_p,i | xbar_i),  xbar_i = f_T(m_i)

    ``losses`` (the fed-back l_i) and ``x_p`` are constants here; only ``xbar`` carries a gradient.
    """
    return (losses.detach() * log_policy(x_p.detach(), xbar, sigma2, real)).mean()
