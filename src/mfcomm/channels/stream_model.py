"""GNU Radio's ``channel_model`` in-process: the built-in channel's keys, and a NumPy engine of the same stream.

The ``gnuradio(...)`` stage without ``flowgraph=`` runs GNU Radio 3.10's ``channels.channel_model`` (the
built-in flowgraph, :mod:`mfcomm.channels.flowgraphs.gr_channel`); with ``engine=python`` it streams instead
through :class:`StreamModel`, this module's emulation of that hierarchical block, behind the same framing, pulse
shaping and synchronisation (:mod:`mfcomm.channels.gnuradio`): what a machine without GNU Radio can train
through, and the in-process reference the flowgraph's speed is measured against (``make bench-radio``).

``channel_model`` is, in this order (GNU Radio's ``channel_model_impl.cc``):

1. ``mmse_resampler_cc(0, epsilon)``, the sample-clock offset: output ``k`` is the input at instant
   ``3 + mu_k + i_k``, stepping by ``float32(epsilon)`` samples, interpolated by GNU Radio's 8-tap MMSE
   interpolator (``mmse_fir_interpolator_cc``) with ``mu`` rounded to 1/128 of a sample. Its taps are the same
   least-squares design as GNU Radio's generated table (:func:`mmse_taps`: the mean squared error of
   interpolating a flat spectrum over a band of a quarter of the sample rate; within 6e-7 of the installed
   table, measured). The first 3 samples are lost, the last 7 held back until more arrive; ``mu`` is exact in
   float64, as GNU Radio's float32 ``mu`` is exact too (a multiple of ``2**-24``);
2. ``fir_filter_ccc(1, taps)``: the multipath, a causal FIR at the sample rate, taps as given;
3. a multiplication by ``sig_source_c``'s ``exp(2j pi freq_offset n)``, ``n`` counting samples from the start;
4. ``fastnoise_source_c`` added: complex Gaussian noise of standard deviation ``noise_voltage`` per sample
   (variance ``noise_voltage**2``, half on I and half on Q). Drawn here from NumPy's PCG64 seeded with ``seed``;
   GNU Radio draws from a pool of 8192 Gaussian samples made from its own seeded generator, so the two engines
   have the same noise statistics, not the same noise samples.

The state (resampler position, filter memory, phase, noise generator) runs on across calls, as a stream block's.
Without noise, the output matches GNU Radio's ``channel_model`` sample for sample to float32 rounding
(``tests/channels/test_stream_model.py``).

Example
-------
>>> import numpy as np
>>> model = ChannelModel(freq_offset=0.01, taps=(1.0, 0.5j))
>>> stream = StreamModel(model)
>>> stream.send(np.ones(100, np.complex64), deadline=0.0)
>>> y = stream.receive(0.0)
>>> len(y), bool(np.allclose(y[1:], (1 + 0.5j) * np.exp(2j * np.pi * 0.01 * np.arange(1, 93)), atol=1e-5))
(93, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfcomm.channels.stage_bounds import check
from mfcomm.errors import ChannelError

__all__ = ["BUILT_IN_KEYS", "ChannelModel", "StreamModel", "built_in", "mmse_taps", "number", "parse_taps"]

BUILT_IN_KEYS: dict[str, float | int | str] = {
    "snr_db": 15.0,
    "freq_offset": 0.0,
    "epsilon": 1.0,
    "taps": "1",
    "seed": 0,
}
"""The built-in channel model's keys and their defaults (the ``gnuradio`` stage without ``flowgraph=``)."""
MMSE_NTAPS, MMSE_STEPS, MMSE_BAND = 8, 128, 0.25
"""GNU Radio's MMSE interpolator: taps, steps of ``mu`` per sample, and the band (of the sample rate) it is
designed for."""


def parse_taps(text: str) -> list[complex]:
    """``1/0.2+0.1j`` -> [1, 0.2+0.1j]; a ChannelError if a tap is not a complex number."""
    try:
        taps = [complex(t) for t in text.split("/")]
    except ValueError:
        raise ChannelError(
            f"channel stage gnuradio: taps must be complex numbers separated by /, not {text!r}"
        ) from None
    if not all(math.isfinite(abs(t)) for t in taps) or not any(taps):
        raise ChannelError(f"channel stage gnuradio: taps must be finite and not all zero, not {text!r}")
    return taps


def number(key: str, value: float | str, kind: type[float] | type[int]) -> float:
    """``value`` as a ``kind``, or a one-line ChannelError naming ``key``."""
    try:
        result = kind(value)
    except (TypeError, ValueError):
        raise ChannelError(f"channel stage gnuradio: {key} must be a number, not {value!r}") from None
    return result


@dataclass(frozen=True)
class ChannelModel:
    """``channel_model``'s parameters: noise standard deviation per complex sample, frequency offset in cycles per
    sample, sample-clock ratio, multipath taps at the sample rate, noise seed."""

    noise_voltage: float = 0.0
    freq_offset: float = 0.0
    epsilon: float = 1.0
    taps: tuple[complex, ...] = (1.0,)
    seed: int = 0

    def options(self) -> dict[str, str]:
        """The built-in flowgraph's option values (``--noise-voltage`` ...), as text."""
        return {
            "noise_voltage": repr(self.noise_voltage),
            "freq_offset": repr(self.freq_offset),
            "epsilon": repr(self.epsilon),
            "taps": ",".join(map(str, self.taps)),
            "seed": str(self.seed),
        }


def built_in(keys: dict[str, float | str]) -> tuple[ChannelModel, str]:
    """The model the stage keys ``keys`` (a subset of :data:`BUILT_IN_KEYS`) describe, and their part of the
    stage's name; a one-line ChannelError for an unknown key or a value out of range."""
    unknown = sorted(set(keys) - set(BUILT_IN_KEYS))
    if unknown:
        raise ChannelError(
            f"channel stage gnuradio: unknown parameter {unknown[0]!r} (the built-in flowgraph takes "
            f"{', '.join(BUILT_IN_KEYS)}; run your own with flowgraph=PATH)"
        )
    given = {**BUILT_IN_KEYS, **keys}
    snr_db, freq_offset, epsilon = (number(k, given[k], float) for k in ("snr_db", "freq_offset", "epsilon"))
    taps, seed = str(given["taps"]), int(number("seed", given["seed"], int))
    check("gnuradio", snr_db=snr_db, freq_offset=freq_offset, epsilon=epsilon, seed=seed)
    model = ChannelModel(10.0 ** (-snr_db / 20.0), freq_offset, epsilon, tuple(parse_taps(taps)), seed)
    name = f"snr_db={snr_db:g},freq_offset={freq_offset:g},epsilon={epsilon:g},taps={taps},seed={seed}"
    return model, name


def mmse_taps(ntaps: int = MMSE_NTAPS, steps: int = MMSE_STEPS, band: float = MMSE_BAND) -> np.ndarray:
    """GNU Radio's MMSE interpolator, (steps + 1, ntaps) float64: row ``j`` weighs inputs ``0 .. ntaps - 1`` to give
    the signal at instant ``ntaps / 2 - 1 + j / steps``. Each row minimises the mean squared error over signals of
    flat spectrum in ``|f| < band`` cycles per sample (normal equations of sinc kernels), the design of GNU Radio's
    ``gen_interpolator_taps``.

    >>> t = mmse_taps()
    >>> t.shape, bool(np.allclose(t[0], np.eye(8)[3])), bool(np.allclose(t[64], t[64][::-1]))
    ((129, 8), True, True)
    """
    d = np.arange(ntaps) - (ntaps // 2 - 1)
    gram = np.sinc(2 * band * (d[:, None] - d[None, :]))
    mu = np.arange(steps + 1) / steps
    return np.linalg.solve(gram, np.sinc(2 * band * (mu[None, :] - d[:, None]))).T


class StreamModel:
    """:class:`ChannelModel` as a sample stream in this process (a :class:`~mfcomm.channels.gnuradio.Transport`):
    what :meth:`send` gets goes through the model at once; :meth:`receive` returns what came out since, (L,)
    complex64, or None (it never waits). Not thread-safe; one stream per channel."""

    def __init__(self, model: ChannelModel):
        self.model = model
        self.rng = np.random.default_rng(model.seed)
        self.table = mmse_taps()
        self.step = float(np.float32(model.epsilon))  # GNU Radio's resampler keeps the ratio as a float32
        self.taps = np.asarray(model.taps, np.complex128)
        self.held = np.zeros(0, np.complex128)  # resampler input from the next output's first tap on
        self.mu = 0.0  # the next output's fractional position after held[3]
        self.memory = np.zeros(len(self.taps) - 1, np.complex128)  # the FIR's last inputs
        self.phase = 0.0  # the mixer's phase at the next sample, cycles
        self.out: list[np.ndarray] = []

    def send(self, samples: np.ndarray, deadline: float) -> None:
        """Put ``samples`` (L,) complex through the model (``deadline`` unused: the stream always takes them)."""
        y = self._multipath(self._resample(np.asarray(samples, np.complex128)))
        k = np.arange(len(y))
        y = y * np.exp(2j * np.pi * (self.phase + self.model.freq_offset * k))
        self.phase = (self.phase + self.model.freq_offset * len(y)) % 1.0
        if self.model.noise_voltage:
            noise = self.rng.standard_normal((len(y), 2)) @ np.array([1.0, 1.0j])
            y = y + noise * (self.model.noise_voltage / math.sqrt(2.0))
        self.out.append(y.astype(np.complex64))

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        """The resampler's outputs for what is held and ``samples``: every output whose 8 inputs have arrived."""
        x = np.concatenate([self.held, samples])
        count = max(0, math.ceil((len(x) - MMSE_NTAPS + 1 - self.mu) / self.step))
        position = self.mu + self.step * np.arange(count + 1)  # exact: multiples of 2**-24, far below 2**29
        first = np.floor(position).astype(np.int64)
        count -= int(count > 0 and first[count - 1] + MMSE_NTAPS > len(x))  # ceil's rounding, at most one
        first, fraction = first[: count + 1], position[: count + 1] - first[: count + 1]
        rows = self.table[np.rint(fraction[:count] * MMSE_STEPS).astype(np.int64)]
        windows = x[first[:count, None] + np.arange(MMSE_NTAPS)]
        self.held, self.mu = x[first[count] :], float(fraction[count])
        return (windows * rows).sum(axis=1)

    def _multipath(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` through the taps, the filter's memory carried from the previous call."""
        if not len(self.memory):
            return samples * self.taps[0]
        x = np.concatenate([self.memory, samples])
        self.memory = x[len(x) - len(self.memory) :]
        return np.convolve(x, self.taps, "valid")

    def receive(self, wait: float) -> np.ndarray | None:
        """What came out of the model since the last call, (L,) complex64; None if nothing (``wait`` unused)."""
        if not self.out:
            return None
        y, self.out = np.concatenate(self.out), []
        return y

    def diagnostic(self) -> str:
        """'': nothing runs that could fail."""
        return ""

    def close(self) -> None:
        """Drop what is in flight (a later stream starts afresh)."""
        self.out, self.held = [], self.held[:0]
