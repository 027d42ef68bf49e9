"""The feedback link: how the receiver's per-example losses reach the transmitter.

What each loss becomes:

- ``perfect``: the loss as computed (32-bit floats);
- ``noisy``: the loss plus Gaussian noise of standard deviation ``noise`` (Goutay et al. 2019);
- ``quantized``: the loss quantised to ``bits`` bits. ``cells = "quantile"`` (the default): 2**bits cells of
  equal counts over the batch, each loss sent as its cell's mean, which every frame carries (2**bits floats);
  with 1 bit the transmitter learns which examples did worse than the batch's median, and by how much on
  average (Song et al. 2019 report that 1 bit can suffice). ``cells = "uniform"``: cells of equal width over the
  batch's range [min, max] (two floats a frame), reconstruction at the cell midpoints; a few large losses then
  put nearly every other loss in the lowest cell.

How they travel: in frames of ``frame`` losses (whole messages: a multiple of the ``perturbations`` each message
was sent with), each lost with probability ``loss``, independently, as a link loses packets. A lost loss comes
out as NaN: the transmitter's step uses the losses that arrived (:class:`mfcomm.learning.delay.LateEstimate`), an
unbiased estimate since what is lost does not depend on the losses. ``bits_sent`` and ``frames_lost`` count.

Example
-------
>>> import torch
>>> link = FeedbackLink("quantized", bits=1)
>>> link(torch.tensor([0.0, 0.5, 4.0, 2.0])).tolist()
[0.25, 0.25, 3.0, 3.0]
>>> link.bits_sent
68
>>> FeedbackLink("quantized", bits=1, cells="uniform")(torch.tensor([0.0, 0.5, 4.0, 2.0])).tolist()
[1.0, 1.0, 3.0, 3.0]
>>> lossy = FeedbackLink(loss=0.5, frame=2, generator=torch.Generator().manual_seed(1))
>>> lossy(torch.tensor([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])).tolist(), lossy.frames_lost
([0.5, 1.5, nan, nan, nan, nan], 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mfcomm.errors import DivergedError

if TYPE_CHECKING:
    from mfcomm.config.fields import Config

FRAME = 256
"""Losses per feedback frame by default: 1 KiB of 32-bit floats, a packet of a typical link."""


class FeedbackLink:
    """Carries a batch of losses from receiver to transmitter, in frames of ``frame`` losses (``frame = 0``: one
    frame per batch) that it loses with probability ``loss``; counts the bits it sent and the frames it lost."""

    def __init__(
        self,
        kind: str = "perfect",
        bits: int = 1,
        noise: float = 0.1,
        generator: torch.Generator | None = None,
        loss: float = 0.0,
        frame: int = FRAME,
        perturbations: int = 1,
        cells: str = "quantile",
    ):
        self.kind, self.bits, self.noise, self.generator, self.cells = kind, bits, noise, generator, cells
        self.loss = loss
        self.frame = frame_length(frame, perturbations)
        self.bits_sent = self.frames_sent = self.frames_lost = self.steps = 0

    def frames(self, count: int) -> int:
        """Frames that carry ``count`` losses."""
        return -(-count // self.frame) if self.frame else 1

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        """``losses`` (examples,) float32 as the transmitter receives them: changed by the link, NaN where lost."""
        self.steps += 1
        if not bool(torch.isfinite(losses).all()):  # NaN means lost from here on: a diverged loss must not pass as one
            raise DivergedError(f"training diverged at transmitter step {self.steps}: a per-example loss is not finite")
        frames = self.frames(losses.numel())
        self.frames_sent += frames
        received = self.carry(losses, frames)
        if not self.loss:
            return received
        lost = torch.rand(frames, generator=self.generator, device=losses.device) < self.loss
        self.frames_lost += int(lost.sum())
        per_loss = lost.repeat_interleave(self.frame or losses.numel())[: losses.numel()]
        return received.masked_fill(per_loss, float("nan"))

    def counters(self) -> dict[str, int]:
        """What ``metrics.csv`` logs of the link: the bits sent and, where frames can be lost, the frames lost."""
        return {"feedback_bits": self.bits_sent, **({"feedback_frames_lost": self.frames_lost} if self.loss else {})}

    def carry(self, losses: torch.Tensor, frames: int) -> torch.Tensor:
        """What the link makes of each loss (see the module docstring), and its bits."""
        if self.kind == "perfect":
            self.bits_sent += 32 * losses.numel()
            return losses
        if self.kind == "noisy":
            self.bits_sent += 32 * losses.numel()
            return losses + self.noise * torch.randn(
                losses.shape, generator=self.generator, dtype=losses.dtype, device=losses.device
            )
        levels = 2**self.bits
        if self.cells == "quantile":  # 2**bits cells of equal counts, each loss sent as its cell's mean
            self.bits_sent += self.bits * losses.numel() + 32 * levels * frames
            cell = torch.empty_like(losses, dtype=torch.long)
            cell[losses.argsort()] = torch.arange(losses.numel(), device=losses.device) * levels // losses.numel()
            sums = torch.zeros(levels, dtype=losses.dtype, device=losses.device).index_add_(0, cell, losses)
            counts = torch.bincount(cell, minlength=levels).clamp_min(1)
            return (sums / counts)[cell]
        self.bits_sent += self.bits * losses.numel() + 64 * frames
        low, high = losses.min(), losses.max()
        step = torch.clamp(high - low, min=torch.finfo(losses.dtype).tiny) / levels
        index = torch.clamp(torch.floor((losses - low) / step), 0, levels - 1)
        return low + (index + 0.5) * step


def feedback_link(cfg: Config, generator: torch.Generator | None) -> FeedbackLink:
    """The feedback link ``cfg`` describes (kind, bits, noise, frame loss, frames), drawing from ``generator``."""
    return FeedbackLink(
        cfg.feedback,
        cfg.feedback_bits,
        cfg.feedback_noise,
        generator,
        cfg.feedback_loss,
        cfg.feedback_frame,
        cfg.perturbations,
        cfg.feedback_cells,
    )


def frame_length(frame: int, perturbations: int = 1) -> int:
    """Losses per frame: ``frame`` rounded down to whole messages of ``perturbations`` losses (0: one per step)."""
    return max(perturbations, frame - frame % perturbations) if frame else 0


def pack(fed_back: torch.Tensor, frame: int) -> tuple[torch.Tensor, str]:
    """What crosses a link from ``fed_back`` (NaN where lost): the losses that arrived, and the frames lost as a
    bit mask in hex (bit i: frame i of ``frame`` losses; ``frame = 0``: one frame). :func:`unpack` undoes it.

    >>> pack(torch.tensor([0.5, float("nan"), float("nan"), 1.5]), 1)
    (tensor([0.5000, 1.5000]), '6')
    """
    lost = fed_back.isnan()[:: frame or max(fed_back.numel(), 1)].tolist()
    return fed_back[~fed_back.isnan()], format(sum(1 << i for i, gone in enumerate(lost) if gone), "x")


def unpack(values: torch.Tensor, lost: str, count: int, frame: int) -> torch.Tensor:
    """The ``count`` losses :func:`pack` packed, NaN in the lost frames; ValueError for a mask or a number of
    values that does not fit.

    >>> unpack(torch.tensor([0.5, 1.5]), "6", 4, 1).tolist()
    [0.5, nan, nan, 1.5]
    """
    frame = frame or count
    frames = -(-count // frame)
    try:
        mask = int(lost, 16)
    except ValueError:
        mask = -1
    if not 0 <= mask < 2**frames:
        raise ValueError(f"lost frames {lost!r} are not a mask of {frames} frames")
    missing = torch.tensor([(mask >> i) & 1 for i in range(frames)], dtype=torch.bool).repeat_interleave(frame)
    missing = missing[:count]
    if values.shape != (count - int(missing.sum()),):
        raise ValueError(f"expected {count} losses less the lost, received {tuple(values.shape)}")
    return torch.full((count,), float("nan")).masked_scatter(~missing, values)
