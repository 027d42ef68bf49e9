"""Bit-wise systems: a trainable constellation (geometry and labelling) and a neural demapper.

The transmitter maps each group of ``b`` coded bits to one of ``2**b`` points; point ``i`` carries the
label ``i`` written in binary, most significant bit first (Sionna's implicit labelling, so the points
drop into a Sionna ``Constellation("custom", b, points=...)`` unchanged). The receiver maps a received
symbol and ``log10(N0)`` to ``b`` LLRs with Sionna's sign convention, ``LLR = ln P(bit=1) / P(bit=0)``
(logits), which is what Sionna's demappers output and its LDPC decoder expects.

Training minimises the binary cross-entropy (BCE) of those LLRs: its complement ``b - sum_i BCE_i / ln 2``
is the bit-metric decoding (BMD) rate, what a binary outer code can achieve with this demapper.

Example
-------
>>> import torch
>>> const = LearnedConstellation(bits_per_symbol=4)
>>> x = const(bits_to_indices(torch.tensor([[0., 0., 1., 1.]])))
>>> x.shape, x.dtype
(torch.Size([1]), torch.complex64)
>>> round(float(const.points().detach().abs().square().mean()), 5)
1.0
>>> llr = NeuralDemapper(4)(x.view(1, 1), torch.tensor([[0.1]]))
>>> llr.shape
torch.Size([1, 1, 4])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mfcomm.system.baselines import qam_points
from mfcomm.system.transmitter import mlp

INITS = ("classical", "random")


class LearnedConstellation(nn.Module):
    """``2**b`` trainable points, centred and scaled to unit average energy on every use.

    ``init="classical"`` starts from Gray-labelled QAM (``b`` even), ``"random"`` from CN(0, 1) draws
    (seeded by ``generator``), whose labelling is then learned too. ``pilot``: the share of the energy in a fixed
    offset on the diagonal added to every point, a pilot superimposed on every symbol that makes the channel
    identifiable without pilot resource elements (the learned points keep the rest).
    """

    def __init__(
        self,
        bits_per_symbol: int,
        init: str = "classical",
        generator: torch.Generator | None = None,
        pilot: float = 0.0,
    ):
        super().__init__()
        if init == "classical" and bits_per_symbol % 2 and bits_per_symbol != 1:
            raise ValueError(f"QAM needs an even number of bits per symbol, not {bits_per_symbol}")
        self.bits_per_symbol, self.messages, self.pilot = bits_per_symbol, 2**bits_per_symbol, pilot
        self.real = False  # complex symbols: the perturbation is circularly symmetric
        start = (
            qam_points(bits_per_symbol)
            if init == "classical"
            else torch.view_as_complex(torch.randn(2**bits_per_symbol, 2, generator=generator) / math.sqrt(2))
        )
        self.raw = nn.Parameter(torch.view_as_real(start).clone())

    def points(self) -> torch.Tensor:
        """The normalised points, (2**b,) complex64, index = bit label."""
        p = torch.view_as_complex(self.raw)
        p = p - p.mean()
        p = p / p.abs().square().mean().sqrt()
        if not self.pilot:
            return p
        return math.sqrt(1 - self.pilot) * p + math.sqrt(self.pilot / 2) * (1 + 1j)

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Symbol indices (any shape) -> complex64 symbols of the same shape."""
        return self.points()[indices]


class NeuralDemapper(nn.Module):
    """``(y, N0) -> b`` LLRs per symbol: dense layers on ``[Re y, Im y, log10 N0]`` (Sionna's tutorial design)."""

    def __init__(self, bits_per_symbol: int, hidden: list[int] | None = None):
        super().__init__()
        self.bits_per_symbol = bits_per_symbol
        self.net = mlp([3, *(hidden if hidden is not None else [128, 128]), bits_per_symbol])

    def forward(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        """``y``: (batch, s) complex64; ``n0``: broadcastable to ``y`` -> LLRs (batch, s, b)."""
        log_n0 = torch.log10(n0.to(y.real.dtype)).expand(y.shape)
        return self.net(torch.stack([y.real, y.imag, log_n0], dim=-1))


def bits_to_indices(bits: torch.Tensor) -> torch.Tensor:
    """(..., b) bits, most significant first -> (...) symbol indices (the points' labels)."""
    b = bits.shape[-1]
    weights = 2 ** torch.arange(b - 1, -1, -1, device=bits.device)
    return (bits.long() * weights).sum(dim=-1)


def group_bits(bits: torch.Tensor, bits_per_symbol: int) -> torch.Tensor:
    """(batch, s*b) -> (batch, s, b): the bits each symbol carries."""
    return bits.view(*bits.shape[:-1], -1, bits_per_symbol)


def indices_to_bits(indices: torch.Tensor, bits_per_symbol: int) -> torch.Tensor:
    """(...) indices -> (..., b) float bits, MSB first."""
    shifts = torch.arange(bits_per_symbol - 1, -1, -1, device=indices.device)
    return ((indices.unsqueeze(-1) >> shifts) & 1).float()


def symbol_bce(llr: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """BCE (nats) per symbol, averaged over its ``b`` bits: (batch, s, b) -> (batch, s)."""
    return F.binary_cross_entropy_with_logits(llr, bits, reduction="none").mean(dim=-1)


def bmd_rate(mean_bce_nats: float, bits_per_symbol: int) -> float:
    """BMD rate (bits per channel use) from the mean per-bit BCE in nats: ``b (1 - BCE / ln 2)``."""
    return bits_per_symbol * (1.0 - mean_bce_nats / math.log(2.0))
