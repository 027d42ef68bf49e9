"""Over the air: symbols through a free-running radio as bursts, each matched to what was sent by its id.

A radio's receive stream runs from its start whether or not anything was sent; its transmit side plays what
arrives and zeros on underrun; a host that falls behind loses blocks of received samples. So, for the
``gnuradio(..., radio=true)`` stage, :class:`RadioLink`:

1. waits for the receive stream, and takes its first samples (noise alone) for the first DC and IQ estimates;
2. sends each call's symbols as bursts of at most ``payload`` symbols (:mod:`mfcomm.channels.bursts`: preamble,
   header with a 16-bit id, payload, postamble), **paced** to the radio's sample rate: a leaky bucket on the
   transport's clock keeps at most :data:`AHEAD_SECONDS` of air queued ahead of the radio;
3. corrects what comes back for DC and IQ imbalance (:mod:`mfcomm.channels.radio_frontend`), finds bursts on it
   (:class:`~mfcomm.channels.bursts.BurstDetector`), reads their ids, and synchronises each one with the framing's
   front-end (:class:`~mfcomm.channels.framing.Deframer`: timing at ``sps > 1``, ``sync``);
4. **matches** a burst to its payload by id only, so no example is given an observation that is not its own; a
   burst is lost if a later one arrives first, if its synchronised markers are not those sent (:data:`FIT`,
   :data:`MAX_CLOCK_OFFSET`), or if it is not back in time; its payload is sent again under a new id.

Counters (:attr:`RadioLink.counters`, cumulative) and faults (each one ChannelError line): see
``docs/over-the-air.md``.

Example
-------
>>> import numpy as np
>>> from mfcomm.channels.framing import Framer
>>> from mfcomm.channels.radio_model import RadioEmulator, radio_model
>>> model, _ = radio_model({"snr_db": 30, "overflow": 0}, samp_rate=1e6)
>>> link = RadioLink(Framer(sync="fine", sps=4, guard=128, radio=True), RadioEmulator(model), 1e6, 1.0, 10.0, "radio")
>>> x = np.exp(2j * np.pi * np.arange(1000) / 8).astype(np.complex64)
>>> y = link(x)
>>> float(np.abs(y - x).max()) < 0.3, link.counters["bursts_sent"], link.counters["bursts_lost"]
(True, 2, 0)
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mfcomm.channels.bursts import HEADER_SYMBOLS, ID_SPACE, BurstDetector, closing_root, header
from mfcomm.channels.framing import Framer
from mfcomm.channels.radio_frontend import FrontEnd
from mfcomm.errors import ChannelError

AHEAD_SECONDS = 0.02
"""Air time mfcomm queues ahead of the radio at most (at least one burst)."""
STALL_SECONDS = 2.0
"""A receive stream that ran and then delivers nothing for this long has stopped."""
POLL_SECONDS = 0.005  # a receive's wait
FIT = 0.7
"""The least real part of the normalised correlation of a burst's synchronised postamble with the one sent: below,
samples were lost or zeros slipped in inside it, or its frequency offset is wrong."""
MAX_CLOCK_OFFSET = 200e-6  # radios: +-50 ppm; a burst's timing beyond this: samples slipped inside it
START_SAMPLES = 8192  # noise-only samples taken before the first burst: the first DC and IQ estimates
PRIOR_STEP = 0.1
"""Weight of each good burst's frequency offset in the running one the next bursts start from."""
HISTORY = 4096  # sent bursts whose lengths are remembered (to skip a late copy in one piece)


class RadioTransport(Protocol):
    """A radio's two streams (:class:`~mfcomm.channels.gnuradio.Transport`) and its clock, ``seconds()``, that
    the pacing counts air time by."""

    def send(self, samples: np.ndarray, deadline: float) -> None: ...
    def receive(self, wait: float) -> np.ndarray | None: ...
    def seconds(self) -> float: ...
    def diagnostic(self) -> str: ...
    def close(self) -> None: ...


@dataclass
class Pending:
    """A burst in flight: which payload it carries, its place in the send order, and by which received stream
    clock time (seconds) it must have come back (``due``), measured from ``aired`` (when its air time ends)."""

    piece: int
    order: int
    aired: float
    due: float


class RadioLink:
    """Symbols through a free-running radio (see the module doc): ``link(symbols)`` -> the received symbols.

    ``framer`` must be a radio framer (``radio=True``) with ``sync`` cfo or fine; ``transport`` the radio;
    ``samp_rate`` its sample rate; ``max_latency`` seconds; ``timeout`` seconds per call; ``label`` names it in
    errors.
    """

    def __init__(
        self,
        framer: Framer,
        transport: RadioTransport,
        samp_rate: float,
        max_latency: float,
        timeout: float,
        label: str,
    ):
        if not framer.radio or framer.sync not in ("cfo", "fine"):
            raise ChannelError("radio=true needs sync=cfo or sync=fine (a radio has a frequency offset)")
        self.framer, self.transport, self.label = framer, transport, label
        self.rate, self.max_latency, self.timeout = samp_rate, max_latency, timeout
        self.deframer, self.detector = framer.deframer(), BurstDetector(framer)
        self.scanned = 0  # received stream index to search from
        self.front = FrontEnd()
        self.started = False
        self.level, self.clock = 0.0, 0.0  # the leaky bucket: samples queued ahead of the radio, at clock seconds
        self.next_id, self.order = 0, 0
        self.lengths: collections.OrderedDict[int, int] = collections.OrderedDict()
        self.overdue: dict[int, Pending] = {}  # bursts given up for late in this call
        self.latency: float | None = None  # largest recent latency, seconds
        self.last_samples = time.monotonic()
        self.found_any = False
        self.counters: dict[str, float] = dict.fromkeys(
            ("bursts_sent", "bursts_lost", "bursts_resent", "false_detections", "bursts_stale", "symbols_resent"), 0
        )
        self.counters["air_seconds"] = 0.0

    def __call__(self, symbols: np.ndarray) -> np.ndarray:
        """``symbols`` (L,) complex64 through the radio: (L,) complex64, each burst's payload synchronised."""
        deadline = time.monotonic() + self.timeout
        self._start(deadline)
        size = self.framer.payload
        pieces = [symbols[i : i + size] for i in range(0, len(symbols), size)]
        self.out: list[np.ndarray | None] = [None] * len(pieces)
        self.queue = queue = collections.deque(range(len(pieces)))
        self.overdue.clear()
        self.pending: dict[int, Pending] = {}
        pending = self.pending
        self.tried: set[int] = set()
        while queue or pending:
            self._send(pieces, deadline)
            samples = self.transport.receive(POLL_SECONDS)
            if samples is not None and len(samples):
                self.last_samples = time.monotonic()
                self._push(samples)
                for burst_id, t, payload in self._bursts():
                    self._match(burst_id, t, payload)
            elif time.monotonic() - self.last_samples > STALL_SECONDS:
                self._fail(f"the radio's receive stream stopped (no samples for {STALL_SECONDS:g} s)")
            now = self.transport.seconds()
            for burst_id in [b for b, p in pending.items() if p.due < now]:
                self.overdue[burst_id] = pending[burst_id]  # if it comes back, its latency is checked
                self._lost(pending.pop(burst_id))
            if time.monotonic() > deadline:
                self._timed_out(len(queue) + len(pending), len(pieces))
        return np.concatenate([piece for piece in self.out if piece is not None]) if pieces else symbols.copy()

    def _fail(self, what: str) -> None:
        said = self.transport.diagnostic()
        raise ChannelError(f"channel {self.label}: {what}" + (f" (flowgraph's last words: {said})" if said else ""))

    def _timed_out(self, missing: int, total: int) -> None:
        if not self.found_any:
            self._fail(
                f"no burst found within {self.timeout:g} s: check the gains (too low, or saturating), the centre "
                "frequency of both sides, and the cable or antennas (the receive stream runs)"
            )
        self._fail(f"{missing} of {total} bursts not received within {self.timeout:g} s")

    def _start(self, deadline: float) -> None:
        """Wait for the radio's receive stream; its first samples (noise) set the DC and IQ estimates."""
        if self.started:
            return
        first: list[np.ndarray] = []
        while sum(map(len, first)) < START_SAMPLES:
            samples = self.transport.receive(POLL_SECONDS)
            if samples is not None and len(samples):
                first.append(samples)
            elif time.monotonic() > deadline:
                self._fail(f"no samples from the radio within {self.timeout:g} s")
        raw = np.concatenate(first)
        self._check_clipping(raw)
        self.front.start(raw)
        self.started, self.clock, self.last_samples = True, self.transport.seconds(), time.monotonic()
        self._push(raw, check=False)
        self.scanned = self.deframer.end

    def _check_clipping(self, raw: np.ndarray) -> None:
        said = self.front.saturated(raw)
        if said:
            self._fail(said)

    def _push(self, raw: np.ndarray, check: bool = True) -> None:
        """Received samples, corrected for DC and IQ imbalance, onto the deframer's buffer; the IQ estimate
        updated from them; samples no search needs any more dropped."""
        if check:
            self._check_clipping(raw)
        self.deframer.push(self.front.correct(raw))
        keep = self.scanned - self.framer.guard - 4 * self.framer.sps - self.deframer.margin
        if keep > self.deframer.start:
            self.deframer.buffer = self.deframer.buffer[keep - self.deframer.start :]
            self.deframer.start = keep

    def _allowance(self) -> float:
        """Seconds after its air time by which a burst is due back (before any has come back: the time-out)."""
        if self.latency is None:
            return self.timeout
        return min(self.max_latency, 2 * self.latency + 0.02)

    def _send(self, pieces: list[np.ndarray], deadline: float) -> None:
        """Send queued pieces as bursts while the pacing allows."""
        now = self.transport.seconds()
        self.level = max(0.0, self.level - (now - self.clock) * self.rate)
        self.clock = now
        ahead = AHEAD_SECONDS * self.rate
        queue, pending, tried = self.queue, self.pending, self.tried
        while queue:
            piece = queue[0]
            burst_id = self.next_id
            payload = (HEADER_SYMBOLS + len(pieces[piece])) * self.framer.sps  # samples; the frame adds overhead
            if self.level > 0 and self.level + self.framer.overhead + payload > ahead:
                return  # (the burst is shaped only once it may go)
            queue.popleft()
            frame = self.framer.frame(np.concatenate([header(burst_id), pieces[piece]]), closing_root(burst_id))
            self.transport.send(frame, deadline)
            aired = now + (self.level + len(frame)) / self.rate
            pending[burst_id] = Pending(piece, self.order, aired, aired + self._allowance())
            self.lengths[burst_id] = payload
            if len(self.lengths) > HISTORY:
                self.lengths.popitem(last=False)
            self.next_id, self.order = (burst_id + 1) % ID_SPACE, self.order + 1
            self.level += len(frame)
            self.counters["bursts_sent"] += 1
            self.counters["air_seconds"] += (len(frame) - self.framer.guard) / self.rate
            if piece in tried:
                self.counters["bursts_resent"] += 1
                self.counters["symbols_resent"] += len(pieces[piece])
            tried.add(piece)

    def _lost(self, burst: Pending) -> None:
        self.counters["bursts_lost"] += 1
        self.queue.append(burst.piece)

    def _match(self, burst_id: int, t: int, payload: np.ndarray | None) -> None:
        """A burst found at stream index ``t``: its payload to its own piece, or lost (``payload`` None: damaged);
        bursts sent before it and still pending are lost (a radio keeps the order); a copy of a burst whose piece
        has its observation is stale; one given up for late is checked against ``max_latency``."""
        pending, out = self.pending, self.out
        burst = pending.pop(burst_id, None) or self.overdue.pop(burst_id, None)
        latency = self.transport.seconds() - burst.aired if burst else 0.0
        if latency > self.max_latency and self.latency is not None:  # the first includes the radio's start
            self._fail(
                f"bursts come back {latency:.3g} s after they go on air, beyond max_latency = "
                f"{self.max_latency:g} s (raise max_latency, or see why the radio's buffers fill)"
            )
        if burst is None or out[burst.piece] is not None:
            self.counters["bursts_stale"] += 1
            return
        self.latency = max(min(latency, self.max_latency), 0.9 * (self.latency or 0.0))
        for earlier in [b for b, p in pending.items() if p.order < burst.order]:
            self._lost(pending.pop(earlier))
        if payload is None:
            self._lost(burst)
        else:
            out[burst.piece] = payload

    def _bursts(self) -> list[tuple[int, int, np.ndarray | None]]:
        """The bursts complete in the buffer, in stream order: (id, stream index, payload symbols or None if
        damaged)."""
        d, f = self.deframer, self.framer
        done: list[tuple[int, int, np.ndarray | None]] = []
        while True:
            found, first = self.detector.scan(d.buffer, self.scanned - d.start)
            if not found:
                self.scanned = d.start + first
                return done
            t, c1, c2 = found[0]
            t += d.start
            if d.end < t + self.detector.reach + (HEADER_SYMBOLS + 4) * f.sps + d.margin:
                self.scanned = t  # its header has not all arrived
                return done
            burst_id = self.detector.header(d.buffer, t - d.start, c1, c2)
            if burst_id is None or burst_id not in self.lengths:
                self.counters["false_detections"] += 1
                self.scanned = t + f.sps * len(f.preamble)
                continue
            length = self.lengths[burst_id]
            if not d.ready(t, length):
                self.scanned = t  # the burst has not all arrived
                return done
            self.found_any = True
            self._track_dc(t)
            d.root = closing_root(burst_id)
            symbols = d.take(t, c1, c2, t, length)
            self.scanned = d.start
            good = d.fit >= FIT and abs(d.period / f.sps - 1) <= MAX_CLOCK_OFFSET
            if good:  # a running mean: one burst's estimate on the wrong side of an ambiguity cannot hold
                d.prior = d.cfo if d.prior is None else d.prior + PRIOR_STEP * (d.cfo - d.prior)
            done.append((burst_id, t, symbols[HEADER_SYMBOLS:] if good else None))

    def _track_dc(self, t: int) -> None:
        """The DC estimate updated from the guard zeros before the burst found at ``t``, and the burst corrected."""
        d, f = self.deframer, self.framer
        lo, hi = max(d.start, t - f.guard + 2 * f.sps), t - 2 * f.sps
        step = self.front.track_dc(d.buffer[lo - d.start : hi - d.start] if hi > lo else d.buffer[:0])
        d.buffer[max(0, t - d.margin - d.start) :] -= np.complex64(step)
