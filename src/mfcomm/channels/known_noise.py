"""Channels that tell the receiver their noise: ``(y, n0) = channel(x)``, for the bits task's demapper.

A neural demapper takes ``log10 N0`` with each received symbol (Sionna's design), so the bits task's channel
returns the noise variance of each row (codeword) with ``y``: :class:`AwgnEbnoRange` draws it per codeword from an
Eb/N0 range, :class:`KnownNoise` states the one N0 of any :class:`~mfcomm.channels.contract.Channel` (a chain, a
black box). Both keep the :class:`~mfcomm.channels.contract.Sampler` contract, so
:class:`~mfcomm.channels.counting.Counted` counts their uses.

Example
-------
>>> import torch
>>> ch = AwgnEbnoRange(4.0, 8.0, info_bits=3.0, generator=torch.Generator().manual_seed(0))
>>> y, n0 = ch(torch.ones(2, 5, dtype=torch.complex64))
>>> y.shape, n0.shape
(torch.Size([2, 5]), torch.Size([2, 1]))
"""

from __future__ import annotations

import torch

from mfcomm.channels.contract import Channel, complex_normal


class AwgnEbnoRange:
    """AWGN whose Eb/N0 is drawn uniformly in ``[low, high]`` dB once per row (codeword).

    ``info_bits`` information bits per channel use set N0 from Eb/N0 (Sionna's ``ebnodb2no``).
    """

    differentiable = True

    def __init__(self, low: float, high: float, info_bits: float, generator: torch.Generator | None = None):
        self.low, self.high, self.info_bits, self.generator = low, high, info_bits, generator
        self.name = f"awgn(Eb/N0 {low:g}..{high:g} dB)"

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (batch, s) complex64 -> ``y`` (batch, s) complex64, ``n0`` (batch, 1) float32."""
        u = torch.rand(x.shape[0], 1, device=x.device, generator=self.generator)
        ebno_db = self.low + (self.high - self.low) * u
        n0 = 1.0 / (10.0 ** (ebno_db / 10.0) * self.info_bits)
        return x + complex_normal(tuple(x.shape), 1.0, x.device, self.generator) * n0.sqrt(), n0


class KnownNoise:
    """Any :class:`~mfcomm.channels.contract.Channel` with the one N0 the receiver is told."""

    def __init__(self, channel: Channel, n0: float):
        self.channel, self.n0 = channel, n0
        self.name, self.differentiable = channel.name, channel.differentiable

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (batch, s) complex64 -> the channel's ``y``, and ``n0`` as a (batch, 1) tensor."""
        return self.channel(x), torch.full((x.shape[0], 1), self.n0, device=x.device)

    @property
    def counters(self) -> dict[str, float]:
        """The channel's (a radio's bursts: :mod:`mfcomm.channels.radio`), passed on."""
        return dict(getattr(self.channel, "counters", None) or {})
