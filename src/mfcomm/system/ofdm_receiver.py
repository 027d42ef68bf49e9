"""The OFDM task's neural receiver: a small residual convolutional network over the whole received grid.

The design of Sionna's neural-receiver tutorial (Honkala et al.'s DeepRx; Ait Aoudia & Hoydis, "End-to-end
learning for OFDM", 2021), sized for a CPU: the received grid's real and imaginary parts, ``log10 N0`` and, as
DeepRx has it, the raw least-squares channel estimate on the pilots (``y * conj(p)``, 0 where no pilot is; on a
grid without pilots each symbol read against the grid's local mean, :meth:`GridReceiver.reference`) are five
input channels of a (symbols x subcarriers) image; ``blocks`` residual blocks of two 3 x 3 convolutions (each
after a normalisation over the channels and the grid, and a ReLU) see a neighbourhood of resource elements that
grows with depth, so the network estimates and equalises the channel jointly with demapping, from pilots where
there are any and from a pilot superimposed on the symbols where there are none. A last 3 x 3 convolution
gives ``b`` LLRs per resource element (logits, Sionna's sign); those of the data resource elements are kept.

Example
-------
>>> import torch
>>> mask = torch.ones(14, 72, dtype=torch.bool); mask[2] = False
>>> rx = GridReceiver(4, mask)
>>> llr = rx(torch.zeros(2, 14, 72, dtype=torch.complex64), torch.full((2, 1), 0.1))
>>> llr.shape
torch.Size([2, 936, 4])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WINDOW = (13, 15)
"""OFDM symbols x subcarriers over which a receiver without pilots averages the received grid (odd sizes)."""


class ResidualBlock(nn.Module):
    """Two (norm, ReLU, 3 x 3 convolution) layers and a skip connection, ``channels`` wide."""

    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.GroupNorm(1, channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(1, channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.layers(z)


class GridReceiver(nn.Module):
    """``(y, N0) -> LLRs``: ``y`` (batch, symbols, subcarriers) complex64, ``N0`` (batch, 1) -> (batch, data, b)
    LLRs of the data resource elements, in the grid's row-major order (``data_mask``: (symbols, subcarriers)
    bool, True on data; ``pilots``: the grid's unit-energy pilots where they sit, 0 elsewhere; None: no pilots).
    The learned constellation's LLR training makes the network an estimator, equaliser and demapper at once (the
    mask and the pilots are the grid's, not weights: they are not saved)."""

    def __init__(
        self,
        bits_per_symbol: int,
        data_mask: torch.Tensor,
        channels: int = 32,
        blocks: int = 3,
        pilots: torch.Tensor | None = None,
    ):
        super().__init__()
        self.bits_per_symbol = bits_per_symbol
        self.data_mask: torch.Tensor
        self.register_buffer("data_mask", data_mask.clone(), persistent=False)
        grid = pilots if pilots is not None else torch.zeros(data_mask.shape, dtype=torch.complex64)
        self.pilot_grid: torch.Tensor
        self.register_buffer("pilot_grid", grid.to(torch.complex64).clone(), persistent=False)
        self.has_pilots = bool(grid.any())
        self.inp = nn.Conv2d(5, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.out = nn.Conv2d(channels, bits_per_symbol, 3, padding=1)

    def forward(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        log_n0 = torch.log10(n0.to(y.real.dtype)).reshape(-1, 1, 1).expand(y.shape)
        h_ls = self.reference(y, n0.to(y.real.dtype).reshape(-1, 1, 1))
        z = torch.stack([y.real, y.imag, log_n0, h_ls.real, h_ls.imag], dim=1)  # (batch, 5, symbols, subcarriers)
        llr = self.out(self.blocks(self.inp(z))).permute(0, 2, 3, 1)  # (batch, symbols, subcarriers, b)
        return llr[:, self.data_mask]

    def reference(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        """``y`` against what it is known to carry: on pilots ``y conj(p)``, the raw LS channel estimate (unit-energy
        pilots; 0 elsewhere). Without pilots, ``y`` over its local mean ``m`` (over ``WINDOW`` resource elements),
        ``y conj(m) / (|m|^2 + N0)``: where the constellation has a mean (a superimposed pilot), ``m`` is the
        channel times it and this is each symbol equalised by it; where it has none, noise the network learns to
        ignore."""
        if self.has_pilots:
            return y * self.pilot_grid.conj()
        m = local_mean(y)
        return y * m.conj() / (m.abs().square() + n0)


def local_mean(y: torch.Tensor, window: tuple[int, int] = WINDOW) -> torch.Tensor:
    """The mean of ``y`` (batch, symbols, subcarriers) complex64 over the ``window`` (odd sizes) of resource
    elements around each, the grid's edges averaging the part of the window that is on it: on a grid without
    pilots, the channel times the superimposed pilot, give or take the data's mean and the channel's change over
    the window (``benchmarks/ofdm_estimate.py`` measures both).

    >>> y = torch.full((1, 14, 72), 0.5 + 0.5j)
    >>> bool(torch.allclose(local_mean(y), y))
    True
    """
    parts = torch.view_as_real(y).permute(0, 3, 1, 2)  # (batch, 2, symbols, subcarriers)
    pad = (window[0] // 2, window[1] // 2)
    mean = F.avg_pool2d(parts, window, stride=1, padding=pad, count_include_pad=False)
    return torch.view_as_complex(mean.permute(0, 2, 3, 1).contiguous())
