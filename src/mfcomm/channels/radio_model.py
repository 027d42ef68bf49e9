"""A free-running radio in-process: the emulator's keys, and a NumPy engine of it on a virtual clock.

A real radio does not wait for the host. Its receive stream delivers ``samp_rate`` samples a second from its start
whether or not anything was sent; its transmit side plays what arrives, in order, and zeros when it runs dry; a host
that falls behind loses whole blocks of received samples. ``examples/flowgraphs/radio_emulator.grc`` emulates such
a radio in GNU Radio; :class:`RadioEmulator` is the same emulator, same keys and formulas, in this process: what
tests and machines without GNU Radio train through. Its clock is virtual: the air moves on by ``chunk`` samples
each time the receiver reads, so a run is deterministic.

Each :meth:`RadioEmulator.receive` plays the next ``chunk`` samples of air, in this order (as the ``.grc``):

(b) the transmit queue: what :meth:`~RadioEmulator.send` queued, zeros for what it lacks (underrun);
(c) a delay line of ``round(latency * samp_rate)`` samples, zeros at first;
(d) GNU Radio's ``channel_model`` (:class:`~mfcomm.channels.stream_model.StreamModel`): ``taps = (a,)`` with
    ``a = 10**(gain_db/20)``, ``noise_voltage = a * 10**(-snr_db/20)``, ``epsilon = 1 + ppm * 1e-6``,
    ``freq_offset``, ``seed``. As GNU Radio's, it drops the first 3 samples (a burst comes out ``delay - 3``
    samples after it was played) and holds the last 7 back;
(e) the front-end: with ``I, Q`` the parts of (d)'s output, ``g = 10**(iq_amplitude_db/20)``,
    ``phi = radians(iq_phase_deg)`` and ``d = dc_offset * a * (1+1j)/sqrt(2)``,
    ``z = I + 1j*g*(Q*cos(phi) - I*sin(phi)) + d``, then I and Q each clipped to ``[-full_scale, full_scale]``;
(f) overflow: the output in consecutive blocks of ``overflow_block`` samples (a partial block waits for the rest),
    each dropped whole with probability ``overflow`` (NumPy's PCG64 seeded with ``seed + 1``).

The test knobs (not in the ``.grc``) act on :meth:`~RadioEmulator.send`, once per call (PCG64 seeded with
``seed + 2``): ``burst_loss`` drops the call's samples, ``burst_repeat`` queues them twice, ``burst_delay`` holds them
back until after the next call's; ``stall_after`` seconds of air stop the receive stream for good.

Example
-------
>>> import numpy as np
>>> model, name = radio_model({"overflow": 0, "ppm": 0}, samp_rate=1e6)
>>> name.split(",")[:3]
['snr_db=20', 'gain_db=-20', 'freq_offset=0.001']
>>> radio = RadioEmulator(model)
>>> y = radio.receive(0.0)  # nothing sent, yet noise and DC come out
>>> len(y), radio.air, radio.seconds(), bool(abs(y.mean() - model.dc) < 1e-3)
(3072, 4096, 0.004096, True)
>>> radio.send(np.ones(5000, np.complex64), deadline=0.0)
>>> radio.queued, len(radio.receive(0.0)), radio.queued
(5000, 4096, 904)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from mfcomm.channels.stream_model import ChannelModel, StreamModel, number
from mfcomm.errors import ChannelError

__all__ = ["RADIO_KEYS", "TEST_KNOBS", "RadioEmulator", "RadioModel", "radio_model"]

TEST_KNOBS = ("burst_loss", "burst_repeat", "burst_delay", "stall_after")
"""Keys for tests only, not in the ``.grc``: probabilities per :meth:`RadioEmulator.send` call, and the seconds of
air after which the receive stream stops (0: never). In a stage's name only when not 0."""
CHUNK = 4096
"""Samples of air each :meth:`RadioEmulator.receive` plays, by default."""
PREFIX = "channel stage gnuradio"


@dataclass(frozen=True)
class RadioModel:
    """The emulator's parameters (:data:`RADIO_KEYS`), its sample rate and the samples each receive plays; a
    one-line ChannelError if one is out of range."""

    snr_db: float = 20.0
    gain_db: float = -20.0
    freq_offset: float = 1e-3
    ppm: float = 20.0
    dc_offset: float = 0.05
    iq_amplitude_db: float = 0.5
    iq_phase_deg: float = 3.0
    full_scale: float = 1.0
    overflow: float = 0.002
    overflow_block: int = 1024
    latency: float = 0.002
    seed: int = 0
    burst_loss: float = 0.0
    burst_repeat: float = 0.0
    burst_delay: float = 0.0
    stall_after: float = 0.0
    samp_rate: float = 1e6
    chunk: int = CHUNK

    def __post_init__(self) -> None:
        finite = ("snr_db", "gain_db", "dc_offset", "iq_amplitude_db", "iq_phase_deg")
        probabilities = ("overflow", "burst_loss", "burst_repeat", "burst_delay")
        rules = [
            *((k, math.isfinite(getattr(self, k)), "finite") for k in finite),
            ("freq_offset", abs(self.freq_offset) < 0.5, "in (-0.5, 0.5) cycles per sample"),
            ("ppm", abs(self.ppm) < 1000, "in (-1000, 1000)"),
            *((k, 0 <= getattr(self, k) < 1, "a probability in [0, 1)") for k in probabilities),
            ("overflow_block", self.overflow_block >= 1, ">= 1"),
            ("latency", 0 <= self.latency < 1e3, "in [0, 1000) seconds"),
            ("full_scale", 0 < self.full_scale < math.inf, "finite and > 0"),
            ("stall_after", 0 <= self.stall_after < math.inf, "finite and >= 0 seconds (0: never)"),
            ("seed", self.seed >= 0, ">= 0"),
            ("samp_rate", 0 < self.samp_rate < math.inf, "finite and > 0"),
            ("chunk", self.chunk >= 1, ">= 1"),
        ]
        for key, ok, rule in rules:
            if not ok:
                raise ChannelError(f"{PREFIX}: the radio emulator's {key} must be {rule}, not {getattr(self, key)!r}")

    @property
    def gain(self) -> float:
        """The amplitude gain, ``10**(gain_db/20)``."""
        return 10.0 ** (self.gain_db / 20.0)

    @property
    def dc(self) -> complex:
        """The DC offset added after the gain, ``dc_offset * gain * (1+1j)/sqrt(2)``."""
        return self.dc_offset * self.gain * (1 + 1j) / math.sqrt(2.0)

    @property
    def delay(self) -> int:
        """The delay line's length in samples, ``round(latency * samp_rate)``."""
        return round(self.latency * self.samp_rate)

    def channel(self) -> ChannelModel:
        """Step (d): GNU Radio's ``channel_model`` with this radio's gain, noise, offsets and seed."""
        noise_voltage = self.gain * 10.0 ** (-self.snr_db / 20.0)
        return ChannelModel(noise_voltage, self.freq_offset, 1.0 + self.ppm * 1e-6, (self.gain,), self.seed)


RADIO_KEYS: dict[str, float | int] = {
    f.name: f.default  # type: ignore[misc]  # every field has a plain default
    for f in fields(RadioModel)
    if f.name not in ("samp_rate", "chunk")
}
"""The emulator's keys and their defaults (:class:`RadioModel`'s, written once there): SNR and gain in dB, frequency
offset in cycles per sample, sample-clock offset in ppm, DC offset (of full scale, before the gain), IQ imbalance
(dB, degrees), the converter's full scale, overflow probability per block of samples, latency in seconds, seed;
then :data:`TEST_KNOBS`."""


def radio_model(keys: dict[str, float | str], samp_rate: float) -> tuple[RadioModel, str]:
    """The emulator the stage keys ``keys`` (a subset of :data:`RADIO_KEYS`) describe, and their part of the stage's
    name (every emulator key, the test knobs when not 0); a one-line ChannelError for an unknown key or a value out
    of range."""
    unknown = sorted(set(keys) - set(RADIO_KEYS))
    if unknown:
        raise ChannelError(
            f"{PREFIX}: unknown parameter {unknown[0]!r} (the radio emulator takes {', '.join(RADIO_KEYS)})"
        )
    given = {**RADIO_KEYS, **keys}
    floats = {k: number(k, given[k], float) for k, v in RADIO_KEYS.items() if isinstance(v, float)}
    block, seed = (int(number(k, given[k], int)) for k in ("overflow_block", "seed"))
    model = RadioModel(**floats, overflow_block=block, seed=seed, samp_rate=samp_rate, chunk=CHUNK)
    values = asdict(model)
    name = ",".join(
        f"{k}={values[k]:g}" if isinstance(values[k], float) else f"{k}={values[k]}"
        for k in RADIO_KEYS
        if k not in TEST_KNOBS or values[k] != 0
    )
    return model, name


class RadioEmulator:
    """:class:`RadioModel` as a free-running radio in this process (a :class:`~mfcomm.channels.gnuradio.Transport`)
    on a virtual clock: :meth:`receive` plays ``chunk`` samples of air and returns what came out of them. Not
    thread-safe; one emulator per channel."""

    def __init__(self, model: RadioModel):
        self.model = model
        self.stream = StreamModel(model.channel())
        self.drops = np.random.default_rng(model.seed + 1)  # (f): one draw per whole block
        self.knobs = np.random.default_rng(model.seed + 2)  # the test knobs: three draws per send() call
        self.queue: list[np.ndarray] = []  # (b): what send() queued, in order
        self.held: list[np.ndarray] = []  # burst_delay: what waits for the next send() call
        self.line = np.zeros(model.delay, np.complex64)  # (c)
        self.partial = np.zeros(0, np.complex64)  # (f): the block not yet complete
        self.air = 0  # samples the clock produced
        self.sent = 0  # samples send() got
        self.blocks = self.dropped = 0  # (f): whole blocks seen, and dropped
        self.stop = math.ceil(model.stall_after * model.samp_rate)  # the air at which receive stops (0: never)

    @property
    def queued(self) -> int:
        """Samples waiting in the transmit queue (not counting any burst_delay holds back)."""
        return sum(len(x) for x in self.queue)

    @property
    def stalled(self) -> bool:
        """Whether the receive stream has stopped (``stall_after`` seconds of air)."""
        return 0 < self.stop <= self.air

    def seconds(self) -> float:
        """The radio's air time so far: samples the clock produced / samp_rate."""
        return self.air / self.model.samp_rate

    def send(self, samples: np.ndarray, deadline: float) -> None:
        """Queue ``samples`` (L,) complex for the transmitter (``deadline`` unused: the queue takes all), through
        the test knobs."""
        x = np.array(samples, np.complex64).reshape(-1)  # a copy: the caller may reuse its buffer
        self.sent += len(x)
        loss, repeat, delay = self.knobs.random(3)
        released, self.held = self.held, []
        m = self.model
        bursts = [] if loss < m.burst_loss else [x, x] if repeat < m.burst_repeat else [x]
        (self.held if delay < m.burst_delay else self.queue).extend(bursts)
        self.queue.extend(released)

    def _take(self, n: int) -> np.ndarray:
        """(b): the next ``n`` samples the transmitter plays, zeros past what is queued."""
        out, filled = np.zeros(n, np.complex64), 0
        while filled < n and self.queue:
            head = self.queue[0]
            k = min(n - filled, len(head))
            out[filled : filled + k] = head[:k]
            filled += k
            if k == len(head):
                self.queue.pop(0)
            else:
                self.queue[0] = head[k:]
        return out

    def _front_end(self, r: np.ndarray) -> np.ndarray:
        """(e): IQ imbalance, DC offset, clipping of the channel's output ``r``."""
        m = self.model
        g, phi = 10.0 ** (m.iq_amplitude_db / 20.0), math.radians(m.iq_phase_deg)
        i, q = r.real.astype(np.float64), r.imag.astype(np.float64)
        z = i + 1j * g * (q * math.cos(phi) - i * math.sin(phi)) + m.dc
        s = m.full_scale
        return (np.clip(z.real, -s, s) + 1j * np.clip(z.imag, -s, s)).astype(np.complex64)

    def _overflow(self, z: np.ndarray) -> np.ndarray:
        """(f): the whole blocks of ``z`` (after what was held) that were not dropped; the rest held."""
        size = self.model.overflow_block
        x = np.concatenate([self.partial, z])
        whole = len(x) // size
        self.partial = x[whole * size :]
        kept = self.drops.random(whole) >= self.model.overflow
        self.blocks, self.dropped = self.blocks + whole, self.dropped + int(whole - kept.sum())
        return x[: whole * size].reshape(whole, size)[kept].reshape(-1)

    def receive(self, wait: float) -> np.ndarray | None:
        """Play the next ``chunk`` samples of air (fewer up to a stall; ``wait`` unused) and return what came out,
        (L,) complex64, L possibly 0; None once the stream has stalled."""
        if self.stalled:
            return None
        n = self.model.chunk if not self.stop else min(self.model.chunk, self.stop - self.air)
        x = np.concatenate([self.line, self._take(n)])
        self.line, self.air = x[n:], self.air + n
        self.stream.send(x[:n], deadline=0.0)
        r = self.stream.receive(0.0)
        y = self._overflow(self._front_end(np.zeros(0, np.complex64) if r is None else r))
        return None if not len(y) and self.stalled else y

    def diagnostic(self) -> str:
        """Why nothing comes back, if the stream has stalled; else ''."""
        if self.stalled:
            return f"radio emulator: receive stream stalled after {self.seconds():g} s of air (stall_after)"
        return ""

    def close(self) -> None:
        """Drop what is queued or held (the clock and the channel's state stay)."""
        self.queue, self.held, self.partial = [], [], self.partial[:0]
