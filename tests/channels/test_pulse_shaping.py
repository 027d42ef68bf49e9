"""Pulse shaping at sps > 1: Sionna's root-raised-cosine chain, the noise convention, timing recovery (fractional
delay, clock drift) and frequency-offset correction through a fake stream that resamples what it is sent, and the
transmitted spectrum. No GNU Radio: the streams here stand in for its channel_model.

Accuracy bounds are derived, not tuned. Without noise a recovered symbol's error is at most the sum of
- the truncated filter's inter-symbol interference: rms ``sqrt(sum_{k != 0} g(k sps)^2)`` from its taps
  (2.2e-3 at sps 4, span 16, rolloff 0.35);
- a timing error of at most ``TIMING_TOL`` samples, times the rms slope of the pulse at the symbol instants,
  ``sqrt(sum_k g'(k sps)^2)`` (0.34 per sample at sps 4), asserted on its own;
- the receiver's and this stream's interpolators: below -88 dB and -100 dB of the signal, ``INTERPOLATION`` in all.
"""

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from mfcomm.channels.framing import Framer
from mfcomm.channels.gnuradio import GnuRadioChannel
from mfcomm.channels.pulse_shaping import PulseShaper, transmitted_psd
from mfcomm.channels.timing import interpolate
from mfcomm.errors import ChannelError
from mfcomm.plots import plot_psd
from mfcomm.system.baselines import classical_baseline, closed_form_ser

TIMING_TOL = 0.01
"""Samples: the timing error allowed without noise (measured: 2e-5)."""
INTERPOLATION = 1e-4
QPSK = classical_baseline(16, 2)


class WarpStream:
    """A stream with a fractional delay and a sample clock ``epsilon`` times slower than the sender's: it returns
    ``r[m] = x(m / epsilon - delay)``, rotated by ``freq_offset`` cycles per sample, plus complex noise of variance
    ``n0`` per sample. Resampled with scipy's ``resample_poly`` (Kaiser beta 10, error below -100 dB on these
    signals): ``delay`` in tenths of a sample, ``epsilon`` in steps of 1e-4. Output whose resampling filter would reach
    past the input is held back until more arrives; the rest comes in random pieces."""

    def __init__(self, delay: float, epsilon: float = 1.0, freq_offset: float = 0.0, n0: float = 0.0, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.delay, self.epsilon, self.freq_offset, self.n0 = delay, epsilon, freq_offset, n0
        self.sent: list[np.ndarray] = []
        self.cache = (0, np.zeros(0, np.complex64))  # (input length, its resampled output)
        self.emitted = 0

    def send(self, samples: np.ndarray, deadline: float | None = None) -> None:
        self.sent.append(samples.astype(np.complex64))

    def _resampled(self) -> np.ndarray:
        x = np.concatenate(self.sent) if self.sent else np.zeros(0, np.complex64)
        if self.cache[0] != len(x):
            whole = int(np.ceil(self.delay))
            xp = np.concatenate([np.zeros(whole, np.complex64), x])  # delayed by whole; advanced by the fraction:
            xp = resample_poly(xp, 10, 1, window=("kaiser", 10.0))[round(10 * (whole - self.delay)) :: 10]
            ratio = round(self.epsilon * 10_000)
            if ratio != 10_000:
                xp = resample_poly(xp, ratio, 10_000, window=("kaiser", 10.0))
            self.cache = (len(x), xp)
        return self.cache[1]

    def receive(self, wait: float) -> np.ndarray | None:
        r, have = self._resampled(), self.cache[0]
        ready = min(len(r), int(self.epsilon * (have - 24 + self.delay)))  # filters reach 10 samples each way
        if ready <= self.emitted:
            return None
        k = self.emitted + int(self.rng.integers(1, ready - self.emitted + 1))
        m = np.arange(self.emitted, k)
        noise = self.rng.normal(size=(len(m), 2)) @ np.array([1, 1j]) * np.sqrt(self.n0 / 2)
        out = r[self.emitted : k] * np.exp(2j * np.pi * self.freq_offset * m) + noise
        self.emitted = k
        return out.astype(np.complex64)

    def diagnostic(self) -> str:
        return ""

    def close(self) -> None:
        pass


def _channel(stream: WarpStream, **framing) -> GnuRadioChannel:
    """GnuRadioChannel streaming through ``stream`` with a Framer of ``framing`` (sps, sync, payload, ...)."""
    ch = GnuRadioChannel()
    ch.framer = Framer(**framing)
    ch.deframer = ch.framer.deframer()
    ch.transport = stream
    return ch


def _pulse(sps: int) -> tuple[float, float]:
    """The truncated filter's rms inter-symbol interference and the rms slope (per sample) of its raised-cosine
    pulse ``g = h * h`` at the symbol instants."""
    h = PulseShaper(sps).taps()
    g = np.convolve(h, h).astype(np.complex64)
    centre = len(h) - 1
    t = centre + sps * np.arange(-(centre // sps), centre // sps + 1)
    slope = (interpolate(g, t + 1e-3) - interpolate(g, t - 1e-3)).real / 2e-3
    return float(np.sqrt(2 * np.sum(g[centre + sps :: sps].real ** 2))), float(np.sqrt(np.sum(slope**2)))


def _evm_bound(sps: int) -> float:
    isi, slope = _pulse(sps)
    return isi + TIMING_TOL * slope + INTERPOLATION


def _qpsk(count: int, seed: int) -> torch.Tensor:
    """``count`` QPSK x2 messages' symbols (count, 2) complex64, and their indices."""
    m = torch.randint(16, (count,), generator=torch.Generator().manual_seed(seed))
    return QPSK.codebook[m], m


@pytest.mark.parametrize("sps", [2, 4, 8])
def test_rrc_chain_gives_the_symbols_back_with_unit_energy(sps):
    """shape -> matched -> downsample without a channel: the error is the truncated filter's ISI, at most its
    peak distortion ``D`` for |a| = 1, and the energy per symbol is 1 within ``D`` (Gershgorin on the Toeplitz
    matrix of ``g(k sps)``)."""
    shaper = PulseShaper(sps, rolloff=0.35)
    a = _qpsk(2000, sps)[0].numpy().reshape(-1)
    samples = shaper.shape(a)
    assert samples.shape == (len(a) * sps + shaper.tail,) and samples.dtype == np.complex64
    up = np.zeros(len(a) * sps, np.complex64)
    up[::sps] = a
    assert np.allclose(samples, np.convolve(up, shaper.taps()), atol=1e-6)  # Sionna's filter: the taps, unit energy
    assert np.sum(shaper.taps() ** 2) == pytest.approx(1.0)
    back = shaper.downsample(shaper.matched(samples), len(a))
    bound = shaper.peak_distortion()
    assert bound < 8e-3 and np.abs(back - a).max() <= bound + 1e-5
    assert abs(np.sum(np.abs(samples) ** 2) / len(a) - 1.0) <= bound
    assert np.sqrt(np.mean(np.abs(back - a) ** 2)) <= _pulse(sps)[0] * 1.1  # rms: the ISI's rms, within sampling


def test_noise_of_n0_per_sample_gives_es_n0_after_the_matched_filter():
    """Es/N0 = 10 dB at sps 4: complex noise of variance N0 = 0.1 per sample leaves variance N0 per symbol."""
    shaper, n0, count = PulseShaper(4), 0.1, 40_000
    a = _qpsk(count // 2, 1)[0].numpy().reshape(-1)
    samples = shaper.shape(a)
    noise = np.random.default_rng(1).normal(size=(len(samples), 2)) @ np.array([1, 1j]) * np.sqrt(n0 / 2)
    error = shaper.downsample(shaper.matched((samples + noise).astype(np.complex64)), count) - a
    assert np.mean(np.abs(error) ** 2) == pytest.approx(n0, rel=4 * np.sqrt(1 / count) + 1e-3)  # 4 sigma of chi2


@pytest.mark.parametrize("delay", [0.3, 2.7])
def test_timing_recovery_of_a_fractional_delay(delay):
    """Two calls of 512 messages, four frames each: the stream runs on between calls."""
    ch = _channel(WarpStream(delay), sps=4, sync="gain", payload=256)
    for seed in (1, 2):
        x = _qpsk(512, seed)[0]
        y = ch(x)
        assert abs(ch.deframer.timing - delay) < TIMING_TOL and abs(ch.deframer.period - 4) < 1e-4
        assert float((y - x).abs().square().mean().sqrt()) <= _evm_bound(4)


@pytest.mark.parametrize("epsilon", [1.0001, 0.9999])
def test_timing_recovery_of_a_sample_clock_drift(epsilon):
    """Over 4096 symbols (8 frames, about 20 000 samples) the drift moves the timing by 2 samples."""
    stream = WarpStream(0.3, epsilon)
    ch = _channel(stream, sps=4, sync="gain", payload=512)
    x = _qpsk(2048, 3)[0]
    y = ch(x)
    frames = ch.framer.frames(x.numpy().reshape(-1))
    d, sent_last = ch.deframer, ch.framer.guard + sum(map(len, frames[:-1]))  # after the lead-in of guard zeros
    true_timing = (epsilon - 1) * (sent_last + ch.framer.shaper.delay) + epsilon * 0.3  # of the last frame's symbol 0
    distance = len(ch.framer.preamble) // 2 + 512 + 8  # symbols between the markers
    assert abs(d.timing - true_timing) < TIMING_TOL
    assert abs(d.period - 4 * epsilon) < 2 * TIMING_TOL / distance
    assert float((y - x).abs().square().mean().sqrt()) <= _evm_bound(4)


@pytest.mark.parametrize("sync,freq_offset", [("cfo", 3.5e-3), ("cfo", -1e-3), ("fine", 2e-4)])
def test_frequency_offset_is_removed_at_sps_4(sync, freq_offset):
    """Offsets in cycles per sample, up to 0.87 of the unambiguous 1 / (62 sps) = 4.0e-3; with drift and a gain.
    The offset left rotates the last payload symbol by ``2 pi err L`` from the preamble: bounded by the EVM budget
    as a phase error, ``err < bound / (2 pi frame samples)``."""
    stream = WarpStream(2.7, 1.0001, freq_offset=freq_offset)
    ch = _channel(stream, sps=4, sync=sync, payload=512)
    x = _qpsk(1024, 4)[0]
    y = ch(x)
    frame = len(ch.framer.frames(np.zeros(512, np.complex64))[0])
    assert abs(ch.deframer.cfo - freq_offset) < _evm_bound(4) / (2 * np.pi * frame)
    assert float((y - x).abs().square().mean().sqrt()) <= 2 * _evm_bound(4)  # plus the phase error, as much


def test_qpsk_ser_through_delay_and_drift_matches_the_closed_form():
    """Es/N0 = 7 dB at sps 4 with N0 per sample (the pulse-shaping convention), a delay of 2.7 samples and a clock
    drift of 1e-4, gain sync. The gain estimated from 62 preamble symbols costs 10 log10(1 + 1/62) = 0.07 dB: 0.1 dB
    is allowed. 16 384 QPSK x2 messages; tolerance: the binomial 99.9% interval (3.29 sigma) around the closed forms
    at 7 and 6.9 dB."""
    snr_db, count = 7.0, 16_384
    ch = _channel(WarpStream(2.7, 1.0001, n0=10 ** (-snr_db / 10), seed=5), sps=4, sync="gain", payload=512)
    x, m = _qpsk(count, 5)
    errors = int((QPSK.detect(ch(x), None) != m).sum())
    low, high = (closed_form_ser(QPSK, "awgn", 10 ** (-s / 10)) for s in (snr_db, snr_db - 0.1))
    assert low is not None and high is not None
    z = 3.29
    assert count * low - z * np.sqrt(count * low) <= errors <= count * high + z * np.sqrt(count * high)


@pytest.mark.parametrize("sps", [1, 2, 4])
def test_frames_keep_the_interface_the_stream_uses(sps):
    """``len(frame) - overhead == sps * payload symbols``, a short last frame included; ``extract`` takes samples
    and returns symbols; at sps 1 a frame is its symbols, unfiltered."""
    framer = Framer(payload=100, sync="fine", sps=sps)
    x = _qpsk(125, 6)[0].numpy().reshape(-1)
    frames = framer.frames(x)
    assert [len(f) - framer.overhead for f in frames] == [sps * 100, sps * 100, sps * 50]
    if sps == 1:
        assert np.array_equal(frames[2][: 62 + 50], np.concatenate([framer.preamble, x[200:]]))
    receiver = framer.deframer()
    receiver.push(np.concatenate([np.zeros(5, np.complex64), *frames]))
    sent, out = 0, []
    for f in frames:
        assert receiver.needed(sent, len(f) - framer.overhead) >= sent + 5 + len(f) - framer.guard
        out.append(receiver.extract(sent, len(f) - framer.overhead))
        sent += len(f)
    assert np.abs(np.concatenate(out) - x).max() < 2 * PulseShaper(sps).peak_distortion() + 1e-4


@pytest.mark.parametrize(
    "kwargs,match",
    [({"sps": 0}, "sps"), ({"sps": 2.5}, "sps"), ({"rolloff": 1.5}, "rolloff"), ({"rolloff": -0.1}, "rolloff")],
)
def test_bad_pulse_shaping_parameters_are_one_line_errors(kwargs, match):
    with pytest.raises(ChannelError, match=match) as err:
        Framer(**kwargs)
    assert "\n" not in str(err.value)


def test_transmitted_spectrum_is_flat_in_band_and_low_outside(tmp_path):
    """Unit energy per symbol at sps 4: 0 dB in band (|f| < (1 - rolloff) / 2 cycles per symbol); the truncated
    filter's sidelobes stay 40 dB down beyond (1 + rolloff) / 2 + 0.1."""
    shaper = PulseShaper(4, rolloff=0.35)
    samples = shaper.shape(_qpsk(20_000, 7)[0].numpy().reshape(-1))
    freqs, psd = transmitted_psd(samples, sps=4, nfft=256)
    assert freqs.shape == psd.shape == (256,)
    assert np.abs(psd[np.abs(freqs) < 0.3]).max() < 1.0
    assert psd[np.abs(freqs) > 0.775].max() < -40.0
    path = plot_psd(freqs, psd, tmp_path / "psd.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
