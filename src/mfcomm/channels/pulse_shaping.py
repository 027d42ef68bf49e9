"""Pulse shaping and matched filtering at ``sps`` samples per symbol with Sionna's root-raised-cosine filter,
and the transmitted spectrum.

The filter is :class:`sionna.phy.signal.RootRaisedCosineFilter` (``beta`` = ``rolloff``, ``span_in_symbols``,
``K = 2 * (span * sps // 2) + 1`` taps) with Sionna's ``normalize=True``: its taps have unit energy,
``sum |h|^2 = 1``. Symbols are upsampled with :class:`~sionna.phy.signal.Upsampling` and filtered (``padding="full"``:
``N * sps + K - 1`` samples); the matched filter is the same filter (``padding="same"``: the output stays aligned
with its input), and :class:`~sionna.phy.signal.Downsampling` takes symbol ``k`` at sample ``k * sps + delay``,
``delay = (K - 1) / 2``.

Normalisation, so that Es/N0 keeps its meaning: with unit-energy taps each symbol's pulse carries its own energy,
so the shaped samples have energy 1 per symbol (average power ``1/sps`` per sample), and the raised-cosine pulse
``h * h`` is 1 at its peak, so the matched filter gives the symbols back with gain 1. White noise of variance
``sigma^2`` per sample leaves the unit-energy matched filter with variance ``sigma^2`` per symbol: a stream must
add **N0 = 10**(-snr_db/10) of complex noise per sample, whatever ``sps``** (the same ``noise_voltage`` as at
one sample per symbol; the SNR per sample is then ``Es/N0 / sps``).

At ``sps = 1`` there is no filter: :meth:`PulseShaper.shape` and :meth:`PulseShaper.matched` return their input and
Sionna is not imported. The truncated filter is not exactly Nyquist: its inter-symbol interference is at most
:meth:`PulseShaper.peak_distortion` (6e-3 for span 16 at sps 4, rolloff 0.35).

Example
-------
>>> import numpy as np
>>> shaper = PulseShaper(sps=4, rolloff=0.35, span_in_symbols=16)
>>> symbols = np.exp(2j * np.pi * np.arange(200) / 7).astype(np.complex64)
>>> samples = shaper.shape(symbols)
>>> samples.shape, shaper.tail
((864,), 64)
>>> back = shaper.downsample(shaper.matched(samples), 200)
>>> bool(np.abs(back - symbols).max() <= shaper.peak_distortion() + 1e-5)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mfcomm.errors import ChannelError
from mfcomm.sionna_import import phy


class PulseShaper:
    """Root-raised-cosine pulse shaping and matched filtering at ``sps`` samples per symbol (see the module doc).

    Bad parameters (``sps < 1``, ``rolloff`` outside [0, 1], ``span_in_symbols < 2``) raise a ChannelError.
    """

    def __init__(self, sps: int, rolloff: float = 0.35, span_in_symbols: int = 16):
        if not (isinstance(sps, int | np.integer) and sps >= 1):
            raise ChannelError(f"pulse shaping needs an integer sps >= 1, not {sps!r}")
        if not 0.0 <= rolloff <= 1.0:
            raise ChannelError(f"pulse shaping needs a rolloff in [0, 1], not {rolloff!r}")
        if span_in_symbols < 2:
            raise ChannelError(f"pulse shaping needs span_in_symbols >= 2, not {span_in_symbols!r}")
        self.sps, self.rolloff, self.span = int(sps), float(rolloff), int(span_in_symbols)
        self._rrc: Any = None  # Sionna's RootRaisedCosineFilter, built on first use
        self._taps: np.ndarray | None = None

    @property
    def length(self) -> int:
        """Filter taps K (odd; 1 at ``sps = 1``: no filter)."""
        return 1 if self.sps == 1 else 2 * (self.span * self.sps // 2) + 1

    @property
    def delay(self) -> int:
        """Samples from a symbol's first sample to its pulse's centre, ``(K - 1) / 2``."""
        return (self.length - 1) // 2

    @property
    def tail(self) -> int:
        """Samples :meth:`shape` adds after ``N * sps``: ``K - 1``."""
        return self.length - 1

    def _filter(self) -> Any:
        if self._rrc is None:
            signal = phy().signal
            self._rrc = signal.RootRaisedCosineFilter(
                self.span, self.sps, self.rolloff, normalize=True, precision="single", device="cpu"
            )
        return self._rrc

    def taps(self) -> np.ndarray:
        """The filter's unit-energy taps (K,) float64 (``[1.0]`` at ``sps = 1``)."""
        if self.sps == 1:
            return np.ones(1)
        h = self._filter().coefficients.detach().numpy().astype(np.float64)
        return h / np.linalg.norm(h)

    def peak_distortion(self) -> float:
        """Worst-case inter-symbol interference of the truncated filter, ``sum_{k != 0} |g(k sps)|`` with
        ``g = h * h`` (exactly 0 for an untruncated root-raised cosine): a bound on ``|y_k - a_k|`` for
        ``|a| <= 1`` through shape, matched filter and downsampling."""
        h = self.taps()
        g = np.convolve(h, h)[len(h) - 1 :: self.sps]
        return float(np.abs(g[1:]).sum() * 2 + abs(g[0] - 1.0))

    def _coefficients(self) -> np.ndarray:
        """The unit-energy taps (:meth:`taps`) as float32, for NumPy's convolution."""
        if self._taps is None:
            self._taps = self.taps().astype(np.float32)
        return self._taps

    def shape(self, symbols: np.ndarray) -> np.ndarray:
        """``symbols`` (N,) complex64 -> samples (N * sps + K - 1,) complex64 of energy 1 per unit-energy symbol:
        Sionna's ``Upsampling`` then the filter with ``padding="full"``, computed with NumPy's convolution (the
        same numbers to float32 rounding; Torch's convolution of a few thousand samples costs more in thread
        hand-offs than in arithmetic, and its time varied widely call to call beside training)."""
        if self.sps == 1:
            return symbols.astype(np.complex64, copy=False)
        up = np.zeros(len(symbols) * self.sps, np.complex64)
        up[:: self.sps] = symbols
        return np.convolve(up, self._coefficients()).astype(np.complex64, copy=False)

    def matched(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` (L,) complex64 through the matched filter (the same real, symmetric taps), aligned with its
        input as Sionna's ``padding="same"``: (L,) complex64."""
        if self.sps == 1:
            return samples.astype(np.complex64, copy=False)
        return np.convolve(np.asarray(samples, np.complex64), self._coefficients()[::-1], "same").astype(
            np.complex64, copy=False
        )

    def downsample(self, filtered: np.ndarray, count: int) -> np.ndarray:
        """``count`` symbols (count,) complex64 from matched-filtered samples: one every ``sps`` from ``delay``."""
        keep = phy().signal.Downsampling(self.sps, offset=self.delay, num_symbols=count, device="cpu")
        return keep(torch.from_numpy(np.ascontiguousarray(filtered, np.complex64))).numpy()


def transmitted_psd(samples: np.ndarray, sps: int = 1, nfft: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Welch's estimate of the power spectral density of ``samples`` (L,) complex with Sionna's ``empirical_psd``:
    segments of ``nfft`` samples overlapping by half, each through Sionna's ``HannWindow`` (unit average power, so
    that the levels stay those of the periodogram), zero-padded to one segment if shorter. Returns ``freqs`` (nfft,)
    float32 in cycles per symbol (from ``-sps/2`` to ``sps/2``, Sionna's grid) and ``psd_db`` (nfft,) float32,
    ``10 log10 E|X(f)|^2`` with the unitary DFT (0 dB: unit-power white samples, or symbols of unit energy
    pulse-shaped at any ``sps``, in band).

    >>> freqs, psd = transmitted_psd(np.ones(512, np.complex64), sps=2, nfft=8)
    >>> float(freqs[0]), float(freqs[-1]), int(np.argmax(psd))
    (-1.0, 1.0, 4)
    """
    signal = phy().signal
    x = np.asarray(samples, np.complex64)
    x = np.pad(x, (0, max(nfft - len(x), 0)))
    segments = np.lib.stride_tricks.sliding_window_view(x, nfft)[:: max(nfft // 2, 1)]
    windowed = signal.HannWindow(normalize=True, precision="single", device="cpu")(torch.from_numpy(segments.copy()))
    freqs, psd = signal.empirical_psd(windowed, show=False, oversampling=float(sps), precision="single")
    return freqs.numpy(), (10 * np.log10(np.maximum(psd.numpy(), 1e-20))).astype(np.float32)
