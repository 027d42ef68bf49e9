"""Framing over a sample stream: a preamble, a delay search, and the receiver's synchronisation.

A stream channel (GNU Radio's flowgraph, a radio) is not a function of one block: it delays the samples,
holds some back until more arrive, rotates them by a frequency offset and adds noise. So each payload of
symbols is sent as a frame ``[preamble | payload | postamble]``, pulse-shaped at ``sps`` samples per symbol
(:mod:`mfcomm.channels.pulse_shaping`: root raised cosine, ``rolloff``, energy 1 per symbol; none at ``sps = 1``),
then ``guard`` zero samples, and found again on the receive side. Indices, ``guard``, ``overhead``, ``search``
and ``max_delay`` count samples; ``len(frame) - overhead == sps * payload symbols``.

1. delay search: the preamble, two copies of a length-31 Zadoff-Chu sequence, is located by the peak of
   ``(|c1(t)| + |c2(t)|) / sqrt(2 N E(t))``, the matched-filter output's correlation with each copy (one
   symbol every ``sps`` samples; combined non-coherently, so a frequency offset does not cancel the peak)
   normalised by the energy of those samples: 1 for a clean preamble, about 0.9 / sqrt(31) = 0.16 for noise.
   The first frame is searched over a wide range of delays (its preamble is the highest peak within one
   preamble of the first crossing of ``threshold``: later frames may be in the window too); later frames within
   ``search`` samples of the last delay (the delay drifts with a sample-clock offset).
2. timing, at ``sps > 1`` only (:mod:`mfcomm.channels.timing`), in every ``sync`` mode: the fractional delay
   and the sample-clock drift, from the preamble's and the postamble's correlation peaks; the matched-filter
   output is interpolated at the recovered symbol instants. The postamble is then always sent: one more copy
   of the sequence with 8 symbols of cyclic extension each side.
3. synchronisation, the same for every system that uses the channel (``sync``):
   - ``none``: the delay (and timing) only;
   - ``gain``: and one complex gain ``h`` from the preamble (phase, amplitude), ``y = r / h``;
   - ``cfo``: and first the frequency offset, from the phase between the two copies, N sps samples apart
     (``f = angle(c2 conj(c1)) / (2 pi N sps)`` cycles per sample, unambiguous for ``|f| < 1/(62 sps)``:
     1/62 cycles per symbol), removed from the whole frame (at ``sps > 1`` from its samples, before the matched
     filter) before ``h`` is estimated;
   - ``fine``: as ``cfo``, then a fine estimate of what is left of the offset from the phase between the
     preamble and a postamble (one more copy after the payload): the lag is the frame, not 31 symbols,
     so the estimate is about ``L/31`` times finer (unambiguous while the coarse error is below
     ``1/(2 lag)``); ``h`` from preamble and postamble together.
   ``cfo`` reports the estimate in cycles per sample (per symbol at ``sps = 1``).
The guard zeros flush what the stream holds back, so that a frame's last symbols arrive with it.

Example
-------
>>> framer = Framer(sync="cfo")
>>> receiver = framer.deframer()
>>> receiver.push(np.concatenate([np.zeros(7, np.complex64), framer.frames(np.ones(100, np.complex64))[0]]))
>>> bool(np.allclose(receiver.extract(0, 100), 1, atol=1e-4)), receiver.delay
(True, 7)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mfcomm.channels.pulse_shaping import PulseShaper
from mfcomm.channels.timing import HALF_TAPS, Marker, recover
from mfcomm.errors import ChannelError

SYNC_MODES = ("none", "gain", "cfo", "fine")
EXTENSION = 8
"""Symbols of cyclic extension on each side of the postamble at ``sps > 1``."""
TRACK_CYCLES = 0.1
"""Radio bursts start from ``Deframer.prior`` (good bursts' offset), not the preamble's, while the two differ by less
than this many cycles over its two copies (6 standard deviations of the preamble's estimate at 8 dB)."""


def _fit(sent: np.ndarray, received: np.ndarray) -> float:
    """``Re <sent, received> / (|sent| |received|)``: 1 for the symbols sent, synchronised."""
    return float(np.vdot(sent, received).real) / max(float(np.linalg.norm(sent) * np.linalg.norm(received)), 1e-30)


def zadoff_chu(length: int, root: int) -> np.ndarray:
    """Zadoff-Chu sequence of odd ``length`` (unit magnitude, ideal periodic autocorrelation), complex64."""
    k = np.arange(length)
    return np.exp(-1j * np.pi * root * k * (k + 1) / length).astype(np.complex64)


@dataclass(frozen=True)
class Framer:
    """How symbols are framed: ``payload`` symbols at most per frame, ``guard`` zeros after each, the
    receiver's ``sync`` (see the module doc), the first frame's delay range ``[-search, max_delay]``, later
    frames' ``search`` window, the detection ``threshold`` on the normalised correlation, and the pulse
    shaping: ``sps`` samples per symbol, root-raised-cosine ``rolloff`` and ``span`` in symbols. ``radio``:
    bursts for a free-running radio (:mod:`mfcomm.channels.bursts`): a postamble always, of another root
    (:attr:`closing`), so that it never passes for a preamble on a stream searched end to end."""

    payload: int = 512
    guard: int = 64
    sync: str = "cfo"
    search: int = 32
    max_delay: int = 4096
    threshold: float = 0.5
    sps: int = 1
    rolloff: float = 0.35
    span: int = 16
    radio: bool = False
    half: np.ndarray = field(default_factory=lambda: zadoff_chu(31, 1), repr=False)
    shaper: PulseShaper = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sync not in SYNC_MODES:
            raise ChannelError(f"sync must be one of {', '.join(SYNC_MODES)}, not {self.sync!r}")
        if self.payload < 1 or self.guard < 0 or self.search < 0 or self.max_delay < 0:
            raise ChannelError("framing needs payload >= 1 and guard, search, max_delay >= 0")
        object.__setattr__(self, "shaper", PulseShaper(self.sps, self.rolloff, self.span))

    @property
    def preamble(self) -> np.ndarray:
        """The preamble symbols: the Zadoff-Chu sequence twice (energy 1 per symbol, as the data symbols)."""
        return np.concatenate([self.half, self.half])

    @property
    def closing(self) -> np.ndarray:
        """The postamble's sequence: the preamble's, or for ``radio`` bursts a Zadoff-Chu sequence of root 2."""
        return self.closing_of(2)

    def closing_of(self, root: int) -> np.ndarray:  # closing, of another root (2 to 30: radio bursts)
        return zadoff_chu(len(self.half), root) if self.radio else self.half

    @property
    def postamble(self) -> np.ndarray:
        """Symbols after the payload: one more copy of the sequence with ``sync=fine`` or ``radio``, none
        otherwise; at ``sps > 1`` always, with ``EXTENSION`` symbols of cyclic extension each side (the timing's
        second marker)."""
        return self.postamble_of(2)

    def postamble_of(self, root: int) -> np.ndarray:
        """:attr:`postamble` of Zadoff-Chu root ``root`` (radio bursts)."""
        code = self.closing_of(root)
        if self.sps > 1:
            return np.concatenate([code[-EXTENSION:], code, code[:EXTENSION]])
        return code if self.sync == "fine" or self.radio else code[:0]

    @property
    def overhead(self) -> int:
        """Samples per frame that are not payload: the markers, the filter's tail and the guard."""
        return self.sps * (len(self.preamble) + len(self.postamble)) + self.shaper.tail + self.guard

    def frames(self, symbols: np.ndarray) -> list[np.ndarray]:
        """``symbols`` (L,) complex64 cut into frames of samples: ``[preamble | up to payload symbols |
        postamble]`` pulse-shaped, then ``guard`` zeros."""
        return [self.frame(symbols[i : i + self.payload]) for i in range(0, len(symbols), self.payload)]

    def frame(self, payload: np.ndarray, root: int = 2) -> np.ndarray:
        """One frame of samples: ``[preamble | payload | postamble]`` pulse-shaped, then ``guard`` zeros (``root``:
        a radio burst's postamble root, from its id, so that its end cannot pass for another's)."""
        symbols = np.concatenate([self.preamble, payload, self.postamble_of(root)])
        return np.concatenate([self.shaper.shape(symbols), np.zeros(self.guard, np.complex64)])

    def deframer(self) -> Deframer:
        return Deframer(self)


class Deframer:
    """The receive side of a stream: samples are pushed as they arrive; frames are extracted in order.

    Stream indices count samples from the start of the stream; the frame sent at index ``s`` is found
    near received index ``s + delay``. At ``sps > 1``, ``timing`` is the last frame's delay to a fraction of a
    sample and ``period`` its samples per symbol (``sps`` times the clock ratio).
    """

    def __init__(self, framer: Framer):
        self.framer = framer
        self.buffer = np.zeros(0, np.complex64)
        self.start = 0  # stream index of buffer[0]
        self.delay: int | None = None  # last measured delay (None before the first frame)
        self.timing = 0.0  # last fractional delay, samples
        self.period = float(framer.sps)  # last samples per symbol
        self.cfo = 0.0  # last estimated frequency offset, cycles per sample
        self.gain = 1.0 + 0.0j  # last estimated complex gain
        self.margin = 0 if framer.sps == 1 else 2 * framer.sps + HALF_TAPS + 1  # drift search and interpolation
        self.fit = 1.0  # the last frame's synchronised markers against those sent (_fit), the worse of the two
        self.prior: float | None = None  # radio bursts: a trusted frequency offset to start from (see take)
        self.root = 2  # the next radio frame's postamble root (Framer.frame's root)

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

    def _span(self, length: int) -> int:
        """Samples of a frame with ``length`` payload samples, without its guard."""
        f = self.framer
        return f.sps * (len(f.preamble) + len(f.postamble)) + length + f.shaper.tail

    def ready(self, t: int, length: int) -> bool:
        """Whether the frame found at stream index ``t`` with ``length`` payload samples has all arrived."""
        return self.end >= t + self._span(length) + self.margin

    def needed(self, sent: int, length: int) -> int:
        """Stream index the received samples must reach before the frame sent at ``sent`` with ``length``
        payload samples can be extracted."""
        return self._window(sent)[1] + self._span(length) + self.margin

    def _samples(self, first: int, stop: int) -> np.ndarray:
        """Received samples ``first .. stop - 1`` (stream indices), zeros where none are held."""
        out = np.zeros(stop - first, np.complex64)
        lo, hi = max(first, self.start), min(stop, self.end)
        if hi > lo:
            out[lo - first : hi - first] = self.buffer[lo - self.start : hi - self.start]
        return out

    def _find(self, sent: int) -> tuple[int, complex, complex]:
        """Stream index where the frame sent at ``sent`` starts, and its copies' correlations ``c1``, ``c2``."""
        f = self.framer
        n, p, sps, d = len(f.half), len(f.preamble), f.sps, f.shaper.delay
        lo, hi = self._window(sent)
        lo = max(lo, self.start)
        r = self.buffer[lo - self.start : hi + sps * p + 2 * d - self.start]
        if len(r) < sps * p + 2 * d:
            raise ChannelError(f"stream ended before the frame sent at sample {sent} (have up to {self.end})")
        y = f.shaper.matched(r)[d:]  # a frame starting at lo + i has its symbol 0 at y[i]
        code, window = np.zeros((n - 1) * sps + 1, np.complex64), np.zeros((p - 1) * sps + 1)
        code[::sps], window[::sps] = f.half, 1.0
        c1 = np.correlate(y[: len(y) - n * sps], code, "valid")
        c2 = np.correlate(y[n * sps :], code, "valid")
        energy = np.convolve(np.abs(y) ** 2, window, "valid")
        metric = (np.abs(c1) + np.abs(c2)) / np.sqrt(2 * n * np.maximum(energy, 1e-12))
        above = np.flatnonzero(metric >= f.threshold)
        first = int(above[0]) if len(above) else 0  # the earliest frame: a wide window may hold later ones
        best = first + int(np.argmax(metric[first : first + sps * p]))
        if metric[best] < f.threshold:
            raise ChannelError(
                f"preamble not found for the frame sent at sample {sent} (best normalised "
                f"correlation {metric[best]:.2f} < {f.threshold})"
            )
        return lo + best, c1[best], c2[best]

    def extract(self, sent: int, length: int) -> np.ndarray:
        """The synchronised payload (length // sps,) complex64 of the frame sent at ``sent`` with ``length``
        payload samples; drops the samples before its end. Raises a ChannelError if the preamble is not found."""
        t, c1, c2 = self._find(sent)
        return self.take(t, c1, c2, sent, length)

    def take(self, t: int, c1: complex, c2: complex, sent: int, length: int) -> np.ndarray:
        """The synchronised payload of the frame found at stream index ``t`` with preamble correlations ``c1``,
        ``c2`` (sent at ``sent``, ``length`` payload samples); drops the samples before its end."""
        f = self.framer
        end = t + self._span(length)
        self.delay = t - sent
        coarse = float(np.angle(c2 * np.conj(c1)) / (2 * np.pi * len(f.half) * f.sps))
        tracked = self.prior is not None and abs(coarse - self.prior) * len(f.half) * f.sps < TRACK_CYCLES
        if tracked:  # a radio's offset drifts slowly: the last good burst's fine estimate is the better start
            coarse = float(self.prior)  # type: ignore[arg-type]  # not None when tracked
        self.cfo = coarse if f.sync in ("cfo", "fine") else 0.0
        if f.sps == 1:
            frame, rotate = self.buffer[t - self.start : end - self.start], self.cfo
        else:  # the coarse offset is removed from the samples; what is left, from the symbols on time
            frame, n, rotate = self._timed(sent, t, length // f.sps), len(f.half), 0.0
            if f.sync in ("cfo", "fine") and not tracked:
                rotate = float(np.angle(np.vdot(f.half, frame[n : 2 * n]) * np.conj(np.vdot(f.half, frame[:n]))))
                rotate /= 2 * np.pi * n
                self.cfo += rotate / self.period
        self.buffer = self.buffer[end - self.start :]
        self.start = end
        return self._synchronise(frame, rotate)

    def _timed(self, sent: int, t: int, length: int) -> np.ndarray:
        """The frame starting near stream index ``t`` with ``length`` payload symbols: its frequency offset
        removed, matched-filtered and interpolated at the recovered symbol instants, (p + length + q,) complex64."""
        f, m = self.framer, self.margin
        segment = self._samples(t - m, t + self._span(length * f.sps) + m)
        segment *= np.exp(-2j * np.pi * self.cfo * (np.arange(len(segment)) - m)).astype(np.complex64)
        first = Marker(np.roll(f.half, -(len(f.half) // 2)), len(f.half) // 2)
        last = Marker(f.closing_of(self.root), len(f.preamble) + length + EXTENSION)
        count = len(f.preamble) + length + len(f.postamble)
        y = f.shaper.matched(segment)
        symbols, start, self.period = recover(y, first, last, m + f.shaper.delay, f.sps, count, 2 * f.sps)
        self.timing = t - m + start - f.shaper.delay - sent
        return symbols

    def _synchronise(self, frame: np.ndarray, rotate: float) -> np.ndarray:
        """The payload of ``frame`` (symbols, preamble first, postamble last) after the framer's ``sync``, first
        rotated back by ``rotate`` cycles per symbol."""
        f = self.framer
        p, q = len(f.preamble), len(f.postamble)
        payload = slice(p, len(frame) - q)
        if f.sync == "none":
            return frame[payload]
        k = np.arange(len(frame))
        frame = frame * np.exp(-2j * np.pi * rotate * k).astype(np.complex64)
        pre = np.vdot(f.preamble, frame[:p]) / p
        if f.sync == "fine":
            post = np.vdot(f.postamble_of(self.root), frame[len(frame) - q :]) / q
            lag = len(frame) - q / 2 - p / 2  # from the preamble's centre to the postamble's, symbols
            residual = float(np.angle(post * np.conj(pre)) / (2 * np.pi * lag))
            self.cfo += residual / self.period
            frame = frame * np.exp(-2j * np.pi * residual * k).astype(np.complex64)
            closing = np.vdot(f.postamble_of(self.root), frame[len(frame) - q :])
            pre = (np.vdot(f.preamble, frame[:p]) + closing) / (p + q)
        self.gain = complex(pre)
        if q:  # the markers as synchronised: the least real part of their correlation with those sent, at most 1
            post = f.postamble_of(self.root)
            self.fit = min(_fit(f.preamble, frame[:p] / self.gain), _fit(post, frame[len(frame) - q :] / self.gain))
        return (frame[payload] / self.gain).astype(np.complex64)
