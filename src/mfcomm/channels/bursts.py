"""Bursts on a free-running radio's stream: a header that names each burst, and a detector that finds them.

A radio's receive stream runs whether or not anything was sent, so a burst must say where it starts and which it
is. A radio burst (:class:`~mfcomm.channels.framing.Framer` with ``radio=True``) is, in symbols,
``[preamble (62) | header (32) | payload | postamble]``, pulse-shaped, then ``guard`` zeros:

- the **header** names the burst: its 16-bit id and the id's CRC-16 (CCITT, ``binascii.crc_hqx``) as 32 BPSK
  symbols (+1 for a 0 bit). It is read after the preamble's gain and frequency offset are removed
  (:meth:`BurstDetector.header`); a header whose CRC fails is not a burst of ours (a false detection, or a burst
  damaged by lost samples). A random word passes the CRC with probability 2**-16.
- the **detector** (:meth:`BurstDetector.scan`) slides the preamble's normalised correlation (the metric of
  :mod:`mfcomm.channels.framing`: ``(|c1| + |c2|) / sqrt(2 N E)``, 1 for a clean preamble) along the whole
  stream and reports each cluster of values at or above ``threshold`` at its peak. Its exact law at ``sps = 1``
  on white noise of variance ``N0`` per sample: in one offset's 62 samples take the orthonormal basis whose first
  two vectors are the code on each copy; then ``c_i = sqrt(N) u_i`` with ``u_i`` the window's coordinates on them
  and ``E = |u1|^2 + |u2|^2 + N0 G``, ``G`` Gamma(60, 1) (the other 60 complex coordinates), so the metric passes
  ``threshold`` iff ``G <= ((|u1| + |u2|)^2 / (2 threshold^2) - |u1|^2 - |u2|^2) / N0``, with ``|u_i|`` Rayleigh of
  mean square ``N0`` on noise alone and Rice (``nu = sqrt(N)``, ``sigma^2 = N0 / 2``) at a preamble. Integrated
  (:func:`false_alarm_probability`, :func:`miss_probability`): an offset passes the default 0.6 on noise with
  probability 1.6e-11 (one false alarm in about 17 hours of a 1 Msps stream at one sample per symbol; fewer at
  ``sps > 1``, where neighbouring offsets are not independent), and a preamble at 0 dB is missed with probability
  4.1e-3 (1.5e-11 at 3 dB). ``tests/channels/test_bursts.py`` measures both against these values.
  The postamble, of another Zadoff-Chu root, correlates with the preamble's at ``sqrt(31)`` at every lag, so it
  never passes for a preamble.

Example
-------
>>> import numpy as np
>>> from mfcomm.channels.framing import Framer
>>> framer = Framer(sync="cfo", radio=True)
>>> burst = framer.frame(np.concatenate([header(7), np.ones(100, np.complex64)]))
>>> stream = np.concatenate([np.zeros(300, np.complex64), burst * np.exp(0.5j), np.zeros(200, np.complex64)])
>>> detector = BurstDetector(framer)
>>> [(t, detector.header(stream, t, c1, c2)) for t, c1, c2 in detector.scan(stream, 0)[0]]
[(300, 7)]
"""

from __future__ import annotations

import binascii
import math

import numpy as np
from scipy import special, stats

from mfcomm.channels.framing import Framer
from mfcomm.channels.timing import HALF_TAPS, Marker, interpolate, peak

HEADER_SYMBOLS = 32
"""Symbols of a burst's header: a 16-bit id and its CRC-16, one BPSK symbol per bit."""
ID_SPACE = 1 << 16
"""Burst ids count modulo this."""
THRESHOLD = 0.6
"""The detector's threshold on the normalised preamble correlation (see the module doc)."""


def closing_root(burst_id: int) -> int:
    """The Zadoff-Chu root of burst ``burst_id``'s postamble, 2 to 30 in turn: neighbouring bursts' postambles
    correlate at ``sqrt(31)`` only, so a burst whose end was lost and replaced by the next one's fails the
    synchronised postamble check (:mod:`mfcomm.channels.radio`), whatever frequency offset is estimated."""
    return 2 + burst_id % 29


def header(burst_id: int) -> np.ndarray:
    """The header symbols (32,) complex64 of burst ``burst_id`` (taken modulo :data:`ID_SPACE`)."""
    word = burst_id % ID_SPACE
    crc = binascii.crc_hqx(word.to_bytes(2, "big"), 0xFFFF)
    bits = ((word << 16 | crc) >> np.arange(HEADER_SYMBOLS - 1, -1, -1)) & 1
    return (1.0 - 2.0 * bits).astype(np.complex64)


def read_header(symbols: np.ndarray) -> int | None:
    """The burst id that the header symbols (32,) carry (hard BPSK decisions), or None if the CRC fails."""
    bits = (np.real(symbols[:HEADER_SYMBOLS]) < 0).astype(np.int64)
    word = int((bits << np.arange(HEADER_SYMBOLS - 1, -1, -1)).sum())
    burst_id, crc = word >> 16, word & 0xFFFF
    return burst_id if binascii.crc_hqx(burst_id.to_bytes(2, "big"), 0xFFFF) == crc else None


def _passes(threshold: float, snr_db: float | None, length: int, points: int = 801) -> float:
    """The probability that the metric at one offset reaches ``threshold``: on noise alone (``snr_db`` None) or at
    a preamble's own offset received at Es/N0 ``snr_db`` (the exact law of the module doc, at ``sps = 1``)."""
    n0 = 1.0 if snr_db is None else 10.0 ** (-snr_db / 10.0)
    sigma = math.sqrt(n0 / 2)
    if snr_db is None:
        r = np.linspace(0.0, 14 * sigma, points)
        density = stats.rayleigh.pdf(r, scale=sigma)
    else:
        nu = math.sqrt(length)
        r = np.linspace(max(0.0, nu - 14 * sigma), nu + 14 * sigma, points)
        density = stats.rice.pdf(r, nu / sigma, scale=sigma)
    weight = density * (r[1] - r[0])
    weight[[0, -1]] /= 2  # the trapezoidal rule
    r1, r2 = r[:, None], r[None, :]
    limit = ((r1 + r2) ** 2 / (2 * threshold**2) - r1**2 - r2**2) / n0
    return float(weight @ np.where(limit > 0, special.gammainc(2 * length - 2, np.maximum(limit, 0.0)), 0.0) @ weight)


def false_alarm_probability(threshold: float = THRESHOLD, length: int = 31) -> float:
    """The probability that the detector's metric at one sample offset passes ``threshold`` on noise alone (the
    exact law of the module doc; ``length`` symbols per copy)."""
    return _passes(threshold, None, length)


def miss_probability(snr_db: float, threshold: float = THRESHOLD, length: int = 31) -> float:
    """The probability that a preamble received at Es/N0 ``snr_db`` leaves the metric below ``threshold`` at its
    own offset (the exact law of the module doc)."""
    return 1.0 - _passes(threshold, snr_db, length)


class BurstDetector:
    """Finds radio bursts (``framer.radio``) on a stream of samples and reads their headers (see the module doc)."""

    def __init__(self, framer: Framer, threshold: float = THRESHOLD):
        self.framer, self.threshold = framer, threshold
        f = framer
        self.reach = f.sps * (len(f.preamble) - 1) + 2 * f.shaper.delay + 1
        """Samples from a metric's offset to the last one it needs."""
        self.code = np.zeros((len(f.half) - 1) * f.sps + 1, np.complex64)
        self.code[:: f.sps] = f.half
        self.window = np.zeros((len(f.preamble) - 1) * f.sps + 1)
        self.window[:: f.sps] = 1.0

    def metric(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The normalised correlation at every offset of ``r`` whose preamble lies within it, with ``c1``, ``c2``."""
        f = self.framer
        n, sps = len(f.half), f.sps
        y = f.shaper.matched(r)[f.shaper.delay :]
        y = y[: max(0, len(r) - 2 * f.shaper.delay)]  # the filter's full outputs only
        c1 = np.correlate(y[: len(y) - n * sps], self.code, "valid")
        c2 = np.correlate(y[n * sps :], self.code, "valid")
        energy = np.convolve(np.abs(y) ** 2, self.window, "valid")
        return (np.abs(c1) + np.abs(c2)) / np.sqrt(2 * n * np.maximum(energy, 1e-30)), c1, c2

    def scan(self, r: np.ndarray, first: int) -> tuple[list[tuple[int, complex, complex]], int]:
        """The bursts found in ``r`` at offsets ``first`` on, as (offset, c1, c2) at each cluster's peak, and
        the offset to scan from next time (later samples may change what is found from there)."""
        span = self.framer.sps * len(self.framer.preamble)
        found: list[tuple[int, complex, complex]] = []
        if len(r) - first < self.reach:
            return found, first
        metric, c1, c2 = self.metric(r[first:])
        i = 0
        while True:
            above = np.flatnonzero(metric[i:] >= self.threshold)
            if not len(above):
                return found, first + len(metric)
            start = i + int(above[0])
            if start + span > len(metric):  # the cluster may go on past what is known
                return found, first + start
            best = start + int(np.argmax(metric[start : start + span]))
            found.append((first + best, complex(c1[best]), complex(c2[best])))
            i = best + span

    def header(self, r: np.ndarray, t: int, c1: complex, c2: complex) -> int | None:
        """The id in the header of the burst found at offset ``t`` of ``r`` (None if its CRC fails): the preamble's
        frequency offset and gain removed, at ``sps > 1`` timed by the preamble's marker alone."""
        f = self.framer
        n, p, sps = len(f.half), len(f.preamble), f.sps
        cfo = float(np.angle(c2 * np.conj(c1)) / (2 * np.pi * n * sps))
        count = p + HEADER_SYMBOLS
        if sps == 1:
            frame = r[t : t + count] * np.exp(-2j * np.pi * cfo * np.arange(count)).astype(np.complex64)
        else:
            m = 2 * sps + HALF_TAPS + 1
            segment = r[max(0, t - m) : t + count * sps + 2 * f.shaper.delay + m]
            lead = min(m, t)
            segment = segment * np.exp(-2j * np.pi * cfo * (np.arange(len(segment)) - lead)).astype(np.complex64)
            y = f.shaper.matched(segment)
            first = Marker(np.roll(f.half, -(n // 2)), n // 2)
            t_first = peak(y, first.code, lead + f.shaper.delay + first.index * sps, sps, 1)
            frame = interpolate(y, t_first - first.index * sps + sps * np.arange(count))
        if len(frame) < count:
            return None
        gain = np.vdot(f.preamble, frame[:p]) / p
        return read_header(frame[p:] / gain) if abs(gain) > 0 else None
