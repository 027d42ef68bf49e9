"""The symbol-wise transmitter ``f_T``: message ``m`` -> ``n`` channel symbols with unit average energy.

Example
-------
>>> import torch
>>> tx = Transmitter(messages=16, channel_uses=2)
>>> x = tx(torch.tensor([0, 5, 15]))
>>> x.shape, x.dtype
(torch.Size([3, 2]), torch.complex64)
>>> round(float(tx.codebook().detach().abs().square().mean()), 5)
1.0
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def mlp(sizes: list[int]) -> nn.Sequential:
    """Dense layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def normalize(codebook: torch.Tensor, mode: str) -> torch.Tensor:
    """Scale an (M, n) codebook to unit energy per symbol.

    ``average``: ``x_m <- x_m / sqrt(sum_m' ||x_m'||^2 / (M n))`` over all M messages, exact and
    independent of the batch. ``per-message``: ``||x_m||^2 = n`` for every m.
    """
    n = codebook.shape[1]
    energy = codebook.real.square() + codebook.imag.square()
    if mode == "average":
        return codebook * torch.rsqrt(energy.mean())
    return codebook * torch.rsqrt(energy.sum(dim=1, keepdim=True) / n)


class Transmitter(nn.Module):
    """Message embedding (then optional dense layers) -> ``n`` complex (or real) symbols, normalised.

    Parameters: ``messages`` (M), ``channel_uses`` (n), ``hidden`` widths after the embedding (empty:
    the embedding is the codebook itself), ``normalization`` (``average`` or ``per-message``),
    ``real`` (real signalling: imaginary parts are zero and the energy is 1 per real use).
    Input ``m``: (batch,) int64. Output ``x``: (batch, n) complex64.
    """

    all_messages: torch.Tensor  # a buffer, registered in __init__: 0, ..., M-1

    def __init__(
        self,
        messages: int,
        channel_uses: int,
        hidden: list[int] | tuple[int, ...] = (),
        normalization: str = "average",
        real: bool = False,
    ):
        super().__init__()
        self.messages, self.channel_uses, self.real = messages, channel_uses, real
        self.normalization = normalization
        out = channel_uses if real else 2 * channel_uses
        widths = list(hidden)
        self.embedding = nn.Embedding(messages, widths[0] if widths else out)
        self.dense = mlp([*widths, out]) if widths else nn.Identity()
        self.activation = nn.ReLU() if widths else nn.Identity()
        self.register_buffer("all_messages", torch.arange(messages), persistent=False)

    def codebook(self) -> torch.Tensor:
        """All M normalised codewords, (M, n) complex64."""
        raw = self.dense(self.activation(self.embedding(self.all_messages)))
        if self.real:
            symbols = torch.complex(raw, torch.zeros_like(raw))
        else:
            symbols = torch.view_as_complex(raw.reshape(self.messages, self.channel_uses, 2).contiguous())
        return normalize(symbols, self.normalization)

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        return self.codebook()[m]
