"""What a training step needs to know of the task: what an example is, how it is sent, and its loss.

The training loops (:mod:`mfcomm.learning.model_free`, :mod:`mfcomm.learning.model_based`) are written once for
both tasks; a task draws a batch of *labels*, sends them through the transmitter and scores the receiver's
output per *example*, the unit the transmitter's policy perturbs and the feedback link reports a loss for:

- :class:`Symbols`: a label is a message in {0, ..., M-1}; an example is its block of n channel uses; the loss
  is the cross-entropy of the receiver's logits;
- :class:`Bits`: a label is a codeword's coded bits, (symbols, b); an example is one symbol carrying b bits;
  the loss is the symbol's binary cross-entropy of the demapper's LLRs, which take the N0 the channel tells.

Example
-------
>>> import torch
>>> from mfcomm.system.transmitter import Transmitter
>>> tx, examples = Transmitter(16, 2), Symbols(16)
>>> m = examples.draw(4, "cpu", torch.Generator().manual_seed(0))
>>> examples.send(tx, m).shape, examples.indices(m).shape
(torch.Size([4, 2]), torch.Size([4]))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from mfcomm.system.bitwise import bits_to_indices, symbol_bce


class Sender(Protocol):
    """A transmitter as the training steps see it: a :class:`~mfcomm.system.transmitter.Transmitter` or a
    :class:`~mfcomm.system.bitwise.LearnedConstellation`."""

    messages: int
    real: bool
    """Real signalling: the perturbation is real too."""

    def __call__(self, labels: torch.Tensor) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


class Examples(Protocol):
    """What a training step draws, sends and scores: the examples of a task (:class:`Symbols` or :class:`Bits`)."""

    def draw(self, batch: int, device: torch.device | str, generator: torch.Generator | None) -> torch.Tensor:
        """``batch`` random labels."""
        ...

    def repeat(self, labels: torch.Tensor, times: int) -> torch.Tensor:
        """Each label ``times`` times in a row (one per perturbation)."""
        ...

    def send(self, tx: Sender, labels: torch.Tensor) -> torch.Tensor:
        """The transmitter's symbols for ``labels``, in the shape the channel takes (batch first)."""
        ...

    def indices(self, labels: torch.Tensor) -> torch.Tensor:
        """The message index of each example, flattened: (examples,) int64."""
        ...

    def loss(self, rx: nn.Module, y: Any, labels: torch.Tensor) -> torch.Tensor:
        """The mean loss of the receiver's output for the channel's output ``y`` (with its graph)."""
        ...

    def losses(self, rx: nn.Module, y: Any, labels: torch.Tensor) -> torch.Tensor:
        """The loss of each example, (examples,) float32 (with its graph)."""
        ...


class Symbols:
    """Messages of ``messages`` values (M; needed only to draw them), each sent in one block of the
    transmitter's n channel uses."""

    def __init__(self, messages: int = 0):
        self.messages = messages

    def draw(self, batch: int, device: torch.device | str, generator: torch.Generator | None) -> torch.Tensor:
        """(batch,) int64 messages, uniform."""
        return torch.randint(self.messages, (batch,), device=device, generator=generator)

    def repeat(self, labels: torch.Tensor, times: int) -> torch.Tensor:
        return labels.repeat_interleave(times)

    def send(self, tx: Sender, labels: torch.Tensor) -> torch.Tensor:
        return tx(labels)

    def indices(self, labels: torch.Tensor) -> torch.Tensor:
        return labels

    def loss(self, rx: nn.Module, y: Any, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(rx(y), labels)

    def losses(self, rx: nn.Module, y: Any, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(rx(y), labels, reduction="none")


class Bits:
    """Codewords of ``symbols`` symbols of ``bits_per_symbol`` uniform coded bits each (the outer code is not
    needed for training, as in Sionna's tutorial); the channel returns ``(y, n0)``."""

    def __init__(self, bits_per_symbol: int, symbols: int):
        self.bits_per_symbol, self.symbols = bits_per_symbol, symbols

    def draw(self, batch: int, device: torch.device | str, generator: torch.Generator | None) -> torch.Tensor:
        """(batch, symbols, b) float bits, uniform."""
        shape = (batch, self.symbols, self.bits_per_symbol)
        return torch.randint(0, 2, shape, device=device, generator=generator).float()

    def repeat(self, labels: torch.Tensor, times: int) -> torch.Tensor:
        if times != 1:
            raise ValueError("the bits task perturbs each symbol once")
        return labels

    def send(self, tx: Sender, labels: torch.Tensor) -> torch.Tensor:
        return tx(bits_to_indices(labels))

    def indices(self, labels: torch.Tensor) -> torch.Tensor:
        return bits_to_indices(labels).flatten()

    def loss(self, rx: nn.Module, y: Any, labels: torch.Tensor) -> torch.Tensor:
        return symbol_bce(rx(*y), labels).mean()

    def losses(self, rx: nn.Module, y: Any, labels: torch.Tensor) -> torch.Tensor:
        return symbol_bce(rx(*y), labels).flatten()
