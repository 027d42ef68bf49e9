"""The feedback link: how the receiver's per-example losses reach the transmitter.

- ``perfect``: the losses as computed (32-bit floats);
- ``noisy``: each loss plus Gaussian noise of standard deviation ``noise`` (Goutay et al. 2019);
- ``quantized``: each loss quantised to ``bits`` bits, uniformly over the batch's range [min, max], which
  is sent once per batch (two floats); reconstruction at the cell midpoints. With 1 bit the transmitter
  learns only which examples did worse than the batch's midpoint (Song et al. 2019 report that this can
  suffice).

Example
-------
>>> import torch
>>> link = FeedbackLink("quantized", bits=1)
>>> link(torch.tensor([0.0, 0.1, 0.9, 1.0])).tolist()
[0.25, 0.25, 0.75, 0.75]
>>> link.bits_sent
68
"""

from __future__ import annotations

import torch


class FeedbackLink:
    """Carries a batch of losses from receiver to transmitter; counts the bits it sent (``bits_sent``)."""

    def __init__(
        self, kind: str = "perfect", bits: int = 1, noise: float = 0.1, generator: torch.Generator | None = None
    ):
        self.kind, self.bits, self.noise, self.generator = kind, bits, noise, generator
        self.bits_sent = 0

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        if self.kind == "perfect":
            self.bits_sent += 32 * losses.numel()
            return losses
        if self.kind == "noisy":
            self.bits_sent += 32 * losses.numel()
            return losses + self.noise * torch.randn(
                losses.shape, generator=self.generator, dtype=losses.dtype, device=losses.device
            )
        self.bits_sent += self.bits * losses.numel() + 64
        low, high = losses.min(), losses.max()
        levels = 2**self.bits
        step = torch.clamp(high - low, min=torch.finfo(losses.dtype).tiny) / levels
        index = torch.clamp(torch.floor((losses - low) / step), 0, levels - 1)
        return low + (index + 0.5) * step
