"""The receiver ``f_R``: a received block of ``n`` symbols -> logits over the M messages.

With ``equalizer=True`` it first estimates the channel gain and equalises, as a radio transformer
network does (O'Shea & Hoydis 2017): a small network reads the block and outputs ``h_hat``; the
classifier then sees ``y / h_hat`` beside ``y``. This is what lets it detect under Rayleigh block
fading, where ``h`` is unknown to it; on AWGN it is not needed.

Example
-------
>>> import torch
>>> rx = Receiver(messages=16, channel_uses=2)
>>> rx(torch.zeros(5, 2, dtype=torch.complex64)).shape
torch.Size([5, 16])
"""

from __future__ import annotations

import torch
from torch import nn

from mfcomm.system.transmitter import mlp


def as_features(y: torch.Tensor, real: bool) -> torch.Tensor:
    """(batch, n) complex -> (batch, 2n) real [Re, Im interleaved], or (batch, n) real parts."""
    return y.real if real else torch.view_as_real(y).flatten(1)


class Receiver(nn.Module):
    """Dense classifier over the received block, optionally after a learned channel equaliser.

    Parameters: ``messages`` (M), ``channel_uses`` (n), ``hidden`` widths, ``equalizer``, ``real``
    (real signalling: only real parts carry signal, the imaginary parts are ignored).
    Input ``y``: (batch, n) complex64. Output: (batch, M) float32 logits.
    """

    def __init__(
        self,
        messages: int,
        channel_uses: int,
        hidden: list[int] | tuple[int, ...] = (128, 128),
        equalizer: bool = False,
        real: bool = False,
    ):
        super().__init__()
        self.messages, self.real, self.equalizer = messages, real, equalizer
        dims = channel_uses if real else 2 * channel_uses
        hidden = list(hidden)
        self.estimator = mlp([dims, hidden[0] if hidden else 2 * dims, 2]) if equalizer else None
        self.classifier = mlp([2 * dims if equalizer else dims, *hidden, messages])

    def equalize(self, y: torch.Tensor) -> torch.Tensor:
        """Features of ``y`` and of ``y / h_hat``, with ``h_hat`` estimated from ``y``."""
        assert self.estimator is not None  # equalize is called only with equalizer=True
        h = torch.view_as_complex(self.estimator(as_features(y, self.real)).contiguous()).unsqueeze(1)
        y_eq = y * h.conj() / (h.real.square() + h.imag.square() + 1e-3)  # y / h_hat, kept finite
        return torch.cat([as_features(y, self.real), as_features(y_eq, self.real)], dim=1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        features = self.equalize(y) if self.equalizer else as_features(y, self.real)
        return self.classifier(features)
