"""Framing over a sample stream: a preamble, a delay search, and the receiver's synchronisation.

A stream channel (GNU Radio's flowgraph, a radio) is not a function of one block: it delays the samples,
holds some back until more arrive, rotates them by a frequency offset and adds noise. So each payload of
symbols is sent as a frame ``[preamble | payload | guard zeros]`` and found again on the receive side:

1. delay search: the preamble, two copies of a length-31 Zadoff-Chu sequence, is located by the peak of
   ``(|c1(t)| + |c2(t)|) / sqrt(2 N E(t))``, its correlation with each copy (combined non-coherently, so a
   frequency offset does not cancel the peak) normalised by the window energy: 1 for a clean preamble,
   about 0.9 / sqrt(31) = 0.16 for noise. The first frame is searched over a wide range of delays (its
   preamble is the highest peak within one preamble of the first crossing of ``threshold``: later frames may
   be in the window too); later frames within ``search`` samples of the last delay (the delay drifts with a
   sample-clock offset).
2. synchronisation, the same for every system that uses the channel (``sync``):
   - ``none``: the delay only;
   - ``gain``: and one complex gain ``h`` from the preamble (phase, amplitude), ``y = r / h``;
   - ``cfo``: and first the frequency offset, from the phase between the two copies
     (``f = angle(c2 conj(c1)) / (2 pi N)``, unambiguous for ``|f| < 1/62`` cycles per sample), removed from
     the whole frame before ``h`` is estimated;
   - ``fine``: as ``cfo``, then a fine estimate of what is left of the offset from the phase between the
     preamble and a postamble (one more copy after the payload): the lag is the frame, not 31 samples,
     so the estimate is about ``L/31`` times finer (unambiguous while the coarse error is below
     ``1/(2 lag)``); ``h`` from preamble and postamble together.
The guard zeros flush what the stream holds back, so that a frame's last symbols arrive with it.

Example
-------
>>> import numpy as np
>>> framer = Framer(sync="cfo")
>>> sent = framer.frames(np.ones(100, np.complex64))
>>> receiver = framer.deframer()
>>> receiver.push(np.concatenate([np.zeros(7, np.complex64), sent[0] * np.exp(0.3j)]))
>>> y = receiver.extract(0, 100)
>>> bool(np.allclose(y, 1, atol=1e-4)), receiver.delay
(True, 7)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mfcomm.errors import ChannelError

SYNC_MODES = ("none", "gain", "cfo", "fine")


def zadoff_chu(length: int, root: int) -> np.ndarray:
    """Zadoff-Chu sequence of odd ``length`` (unit magnitude, ideal periodic autocorrelation), complex64."""
    k = np.arange(length)
    return np.exp(-1j * np.pi * root * k * (k + 1) / length).astype(np.complex64)


@dataclass(frozen=True)
class Framer:
    """How symbols are framed: ``payload`` symbols at most per frame, ``guard`` zeros after each, the
    receiver's ``sync`` (see the module doc), the first frame's delay range ``[-search, max_delay]``, later
    frames' ``search`` window, and the detection ``threshold`` on the normalised correlation."""

    payload: int = 512
    guard: int = 64
    sync: str = "cfo"
    search: int = 32
    max_delay: int = 4096
    threshold: float = 0.5
    half: np.ndarray = field(default_factory=lambda: zadoff_chu(31, 1), repr=False)

    def __post_init__(self) -> None:
        if self.sync not in SYNC_MODES:
            raise ChannelError(f"sync must be one of {', '.join(SYNC_MODES)}, not {self.sync!r}")
        if self.payload < 1 or self.guard < 0 or self.search < 0 or self.max_delay < 0:
            raise ChannelError("framing needs payload >= 1 and guard, search, max_delay >= 0")

    @property
    def preamble(self) -> np.ndarray:
        """The preamble: the Zadoff-Chu sequence twice (energy 1 per sample, as the data symbols)."""
        return np.concatenate([self.half, self.half])

    @property
    def postamble(self) -> np.ndarray:
        """One more copy of the sequence after the payload with ``sync=fine``; none otherwise."""
        return self.half if self.sync == "fine" else self.half[:0]

    @property
    def overhead(self) -> int:
        """Samples per frame that are not payload."""
        return len(self.preamble) + len(self.postamble) + self.guard

    def frames(self, symbols: np.ndarray) -> list[np.ndarray]:
        """``symbols`` (L,) complex64 cut into frames ``[preamble | up to payload symbols | postamble |
        guard zeros]``."""
        guard = np.zeros(self.guard, np.complex64)
        return [
            np.concatenate([self.preamble, symbols[i : i + self.payload], self.postamble, guard])
            for i in range(0, len(symbols), self.payload)
        ]

    def deframer(self) -> Deframer:
        return Deframer(self)


class Deframer:
    """The receive side of a stream: samples are pushed as they arrive; frames are extracted in order.

    Stream indices count samples from the start of the stream; the frame sent at index ``s`` is found
    near received index ``s + delay``.
    """

    def __init__(self, framer: Framer):
        self.framer = framer
        self.buffer = np.zeros(0, np.complex64)
        self.start = 0  # stream index of buffer[0]
        self.delay: int | None = None  # last measured delay (None before the first frame)
        self.cfo = 0.0  # last estimated frequency offset, cycles per sample
        self.gain = 1.0 + 0.0j  # last estimated complex gain

    @property
    def end(self) -> int:
        """Stream index one past the last received sample."""
        return self.start + len(self.buffer)

    def push(self, samples: np.ndarray) -> None:
        self.buffer = np.concatenate([self.buffer, samples.astype(np.complex64, copy=False)])

    def _window(self, sent: int) -> tuple[int, int]:
        """Range of received indices where the frame sent at ``sent`` may start."""
        f = self.framer
        if self.delay is None:
            return sent - f.search, sent + f.max_delay
        return sent + self.delay - f.search, sent + self.delay + f.search

    def needed(self, sent: int, length: int) -> int:
        """Stream index the received samples must reach before the frame sent at ``sent`` with ``length``
        payload symbols can be extracted."""
        return self._window(sent)[1] + len(self.framer.preamble) + length + len(self.framer.postamble)

    def extract(self, sent: int, length: int) -> np.ndarray:
        """The synchronised payload (length,) complex64 of the frame sent at ``sent``; drops the samples
        before its end. Raises a ChannelError if the preamble is not found."""
        f = self.framer
        n, p = len(f.half), len(f.preamble)
        lo, hi = self._window(sent)
        lo = max(lo, self.start)
        r = self.buffer[lo - self.start : hi + p - self.start]
        if len(r) < p:
            raise ChannelError(f"stream ended before the frame sent at sample {sent} (have up to {self.end})")
        c1 = np.correlate(r[: len(r) - n], f.half, "valid")
        c2 = np.correlate(r[n:], f.half, "valid")
        energy = np.convolve(np.abs(r) ** 2, np.ones(p), "valid")
        metric = (np.abs(c1) + np.abs(c2)) / np.sqrt(2 * n * np.maximum(energy, 1e-12))
        above = np.flatnonzero(metric >= f.threshold)
        first = int(above[0]) if len(above) else 0  # the earliest frame: a wide window may hold later ones
        best = first + int(np.argmax(metric[first : first + p]))
        if metric[best] < f.threshold:
            raise ChannelError(
                f"preamble not found for the frame sent at sample {sent} (best normalised "
                f"correlation {metric[best]:.2f} < {f.threshold})"
            )
        t, end = lo + best, lo + best + p + length + len(f.postamble)
        frame = self.buffer[t - self.start : end - self.start]
        self.delay = t - sent
        self.buffer = self.buffer[end - self.start :]
        self.start = end
        return self.synchronise(frame, c1[best], c2[best])

    def synchronise(self, frame: np.ndarray, c1: complex, c2: complex) -> np.ndarray:
        """The payload of ``frame`` (preamble first, postamble last) after the framer's ``sync``."""
        f = self.framer
        n, p, q = len(f.half), len(f.preamble), len(f.postamble)
        payload = slice(p, len(frame) - q)
        if f.sync == "none":
            return frame[payload]
        self.cfo = float(np.angle(c2 * np.conj(c1)) / (2 * np.pi * n)) if f.sync in ("cfo", "fine") else 0.0
        k = np.arange(len(frame))
        frame = frame * np.exp(-2j * np.pi * self.cfo * k).astype(np.complex64)
        pre = np.vdot(f.preamble, frame[:p]) / p
        if f.sync == "fine":
            post = np.vdot(f.postamble, frame[len(frame) - q :]) / q
            lag = len(frame) - q / 2 - p / 2  # from the preamble's centre to the postamble's
            residual = float(np.angle(post * np.conj(pre)) / (2 * np.pi * lag))
            self.cfo += residual
            frame = frame * np.exp(-2j * np.pi * residual * k).astype(np.complex64)
            pre = (np.vdot(f.preamble, frame[:p]) + np.vdot(f.postamble, frame[len(frame) - q :])) / (p + q)
        self.gain = complex(pre)
        return (frame[payload] / self.gain).astype(np.complex64)
