"""What training spends on a channel: channel uses (one per symbol sent), and a radio's burst counters.

Channel uses are training's cost on real hardware, so they are counted in one place, :class:`Counted`, which wraps
the channel a run trains through; a radio's resends (:mod:`mfcomm.channels.radio`) count too.

Example
-------
>>> import torch
>>> from mfcomm.channels.contract import AWGN
>>> ch = Counted(AWGN(0.1))
>>> _ = ch(torch.zeros(10, 3, dtype=torch.complex64))
>>> ch.uses
30
"""

from __future__ import annotations

from typing import Any, Generic

import torch

from mfcomm.channels.contract import Sampler, Y


def channel_uses(x: torch.Tensor) -> int:
    """The channel uses that sending ``x`` spends: one per symbol, ``batch * n`` for ``x`` of shape (batch, n)."""
    return x.numel()


class Counted(Generic[Y]):
    """Wraps a channel and counts the symbols sent through it (``uses``): training's cost on real hardware.

    The one place mfcomm counts channel uses (:func:`channel_uses`, or the channel's own ``channel_uses(x)``: an
    OFDM link counts every resource element of a slot, pilots included). ``channel``: any ``y = channel(x)`` with
    ``name`` and ``differentiable``, its output passed on as it is; ``uses`` starts at ``uses`` (a resumed run's).
    A channel's ``counters`` (a radio's bursts: :mod:`mfcomm.channels.radio`) add up in :attr:`counters`, its
    resends counted as uses; both are in the checkpoint (:meth:`state_dict`).

    >>> from mfcomm.channels.contract import AWGN
    >>> ch = Counted(AWGN(0.1))
    >>> _ = ch(torch.zeros(10, 3, dtype=torch.complex64))
    >>> ch.uses, ch.name, ch.counters
    (30, 'awgn', {})
    """

    def __init__(self, channel: Sampler[Y], uses: int = 0):
        self.channel = channel
        self.name, self.differentiable = channel.name, channel.differentiable
        self.uses = uses
        self.counters: dict[str, float] = {}
        self._seen = dict(getattr(channel, "counters", None) or {})

    def __call__(self, x: torch.Tensor) -> Y:
        try:
            return self.channel(x)
        finally:
            now = dict(getattr(self.channel, "counters", None) or {})
            for key, value in now.items():
                self.counters[key] = self.counters.get(key, 0) + value - self._seen.get(key, 0)
            resent = now.get("symbols_resent", 0) - self._seen.get("symbols_resent", 0)
            self._seen = now
            self.uses += getattr(self.channel, "channel_uses", channel_uses)(x) + int(resent)

    def skip(self) -> None:
        """Leave out of the counters what the channel counted since the last call (an SER probe's bursts, which
        are not training's)."""
        self._seen = dict(getattr(self.channel, "counters", None) or {})

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the uses and the counters so far."""
        return {"uses": self.uses, "counters": dict(self.counters)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.uses, self.counters = int(state["uses"]), dict(state.get("counters", {}))
