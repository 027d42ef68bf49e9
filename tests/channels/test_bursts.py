"""Radio bursts (:mod:`mfcomm.channels.bursts`): the header's id and CRC, and the detector's false-alarm and miss
rates measured against the design values (:func:`false_alarm_probability`, :func:`miss_probability`) and against
the exact law of the metric derived below; the postamble never passes for a preamble; bursts found and named at
``sps = 4`` through a frequency offset, a fractional delay and an unknown gain.

Every statistical check uses a fixed seed and an interval of probability 1 - :data:`ALPHA` (two-sided, exact
binomial or Poisson quantiles), so a correct detector fails one about once in a million seeds.

The exact law of the metric at ``sps = 1`` on white Gaussian noise of variance ``N0`` per sample (unit-energy
symbols): in the 62 samples of one offset's window take the orthonormal basis whose first two vectors are the
code on the first and on the second copy (``e_i = code / sqrt(N)``, ``N = 31``). Then ``c_i = sqrt(N) u_i`` with
``u_i`` the window's coordinate on ``e_i`` and the energy ``E = |u1|^2 + |u2|^2 + N0 G``, ``G`` Gamma(60, 1) the
other 60 complex coordinates; so the metric ``(|u1| + |u2|) / sqrt(2 E)`` passes ``threshold`` iff
``G <= ((|u1| + |u2|)^2 / (2 threshold^2) - |u1|^2 - |u2|^2) / N0``. On noise alone ``|u_i|`` is Rayleigh of
mean square ``N0``; with a preamble it is Rice with ``nu = sqrt(N)``, ``sigma^2 = N0 / 2``. :func:`exact_law`
integrates this over ``|u1|``, ``|u2|`` (a smooth integrand: a fine grid converges to 1e-12), written here again
from the derivation as the independent reference the module's design values must equal.
"""

import itertools

import numpy as np
import pytest
from scipy import special, stats
from scipy.stats import binom, poisson

from mfcomm.channels.bursts import (
    HEADER_SYMBOLS,
    ID_SPACE,
    THRESHOLD,
    BurstDetector,
    false_alarm_probability,
    header,
    miss_probability,
    read_header,
)
from mfcomm.channels.framing import Framer, zadoff_chu

ALPHA = 1e-6
"""Each statistical check's probability of failing a correct detector."""
N = 31
"""Symbols per copy of the preamble's sequence."""
REST = 2 * N - 2
"""Complex dimensions of a window that are neither copy's code."""


def count_range(cdf: np.ndarray) -> tuple[int, int]:
    """The least ``lo`` and ``hi`` with ``P(K < lo) <= ALPHA / 2`` and ``P(K > hi) <= ALPHA / 2``, from the
    cumulative distribution ``cdf[k] = P(K <= k)`` of a count ``K`` (two-sided, exact)."""
    lo = int(np.searchsorted(cdf, ALPHA / 2, side="right"))  # P(K <= lo - 1) <= ALPHA / 2
    hi = int(np.searchsorted(cdf, 1 - ALPHA / 2, side="left"))  # P(K <= hi) >= 1 - ALPHA / 2
    return lo, hi


def poisson_range(mean: float) -> tuple[int, int]:
    """Counts a Poisson variable of ``mean`` stays within with probability 1 - ALPHA (two-sided, exact)."""
    return count_range(poisson.cdf(np.arange(int(mean + 20 * np.sqrt(mean) + 50)), mean))


def binomial_range(n: int, p: float) -> tuple[int, int]:
    """Counts a Binomial(n, p) variable stays within with probability 1 - ALPHA (two-sided, exact)."""
    return count_range(binom.cdf(np.arange(n + 1), n, p))


def exact_law(threshold: float, n0: float, signal: bool, points: int = 801) -> float:
    """The exact probability (see the module doc) that the metric at one offset passes ``threshold`` on noise
    alone (``signal`` False), or that a preamble's own offset stays below it (``signal`` True)."""
    sigma = np.sqrt(n0 / 2)
    if signal:
        nu = np.sqrt(N)
        r = np.linspace(max(0.0, nu - 14 * sigma), nu + 14 * sigma, points)
        density = stats.rice.pdf(r, nu / sigma, scale=sigma)
    else:
        r = np.linspace(0.0, 14 * sigma, points)
        density = stats.rayleigh.pdf(r, scale=sigma)
    weight = density * (r[1] - r[0])
    weight[[0, -1]] /= 2  # the trapezoidal rule
    assert abs(weight.sum() - 1) < 1e-3  # the grid holds the density (the trapezoidal rule errs by 3e-5 at 0)
    r1, r2 = r[:, None], r[None, :]
    limit = ((r1 + r2) ** 2 / (2 * threshold**2) - r1**2 - r2**2) / n0
    passes = np.where(limit > 0, special.gammainc(REST, np.maximum(limit, 0.0)), 0.0)
    p = float(weight @ passes @ weight)
    return 1.0 - p if signal else p


def noise(rng: np.random.Generator, n: int, n0: float = 1.0) -> np.ndarray:
    """Complex white Gaussian noise of variance ``n0`` per sample, (n,) complex64."""
    return (np.sqrt(n0 / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)


def qpsk(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(1j * np.pi / 4 * (2 * rng.integers(0, 4, n) + 1)).astype(np.complex64)


# --- the header -------------------------------------------------------------------------------------------------


def test_header_round_trip_for_every_id():
    ids = np.arange(ID_SPACE)
    words = np.array([header(int(i)) for i in ids])
    assert words.shape == (ID_SPACE, HEADER_SYMBOLS) and words.dtype == np.complex64
    assert set(np.unique(words)) == {1 + 0j, -1 + 0j}  # BPSK
    assert [read_header(w) for w in words] == list(ids)
    assert len({w.tobytes() for w in words}) == ID_SPACE  # distinct headers
    for burst_id in (0, 1, 65535, 12345):  # ids count modulo ID_SPACE
        assert np.array_equal(header(burst_id + ID_SPACE), header(burst_id))
    # hard decisions: any positive gain and small noise leave the id as it is
    rng = np.random.default_rng(1)
    for burst_id in (0, 1, 65535, *rng.integers(0, ID_SPACE, 20)):
        soft = 0.3 * header(int(burst_id)) + 0.05 * noise(rng, HEADER_SYMBOLS)
        assert read_header(soft) == burst_id


def test_any_error_of_up_to_three_bits_fails_the_crc():
    """CRC-16-CCITT has Hamming distance 4 on 16 data bits: every 1-, 2- and 3-bit error is detected."""
    rng = np.random.default_rng(2)
    for burst_id in (0, 1, 65535, *rng.integers(0, ID_SPACE, 500)):
        word = header(int(burst_id))
        for k in range(HEADER_SYMBOLS):
            flipped = word.copy()
            flipped[k] *= -1
            assert read_header(flipped) is None, (burst_id, k)
    for burst_id in (0, 1, 65535, 40000):
        word = header(burst_id)
        for i in range(HEADER_SYMBOLS):
            for j in range(i + 1, HEADER_SYMBOLS):
                flipped = word.copy()
                flipped[[i, j]] *= -1
                assert read_header(flipped) is None
                for k in range(j + 1, HEADER_SYMBOLS):
                    flipped[k] *= -1
                    assert read_header(flipped) is None, (burst_id, i, j, k)
                    flipped[k] *= -1


def test_random_words_pass_the_crc_with_probability_two_to_the_minus_16():
    """2**18 random +-1 words: a pass count within the binomial interval of p = 2**-16 (mean 4; the interval at
    ALPHA is [0, 17]), and every word that passes is the header of the id it reads."""
    rng = np.random.default_rng(3)
    n = 1 << 18
    words = (1 - 2 * rng.integers(0, 2, (n, HEADER_SYMBOLS))).astype(np.complex64)
    read = [read_header(w) for w in words]
    passed = [(w, i) for w, i in zip(words, read, strict=True) if i is not None]
    lo, hi = binomial_range(n, 2.0**-16)
    assert lo <= len(passed) <= hi, (len(passed), (lo, hi))
    assert all(np.array_equal(w, header(i)) for w, i in passed)


# --- false alarms on noise alone ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noise_only() -> np.ndarray:
    """4e6 samples of unit-variance complex white Gaussian noise."""
    return noise(np.random.default_rng(4), 4_000_000)


LOW = 0.42
"""A threshold low enough that 2e6 offsets give about a hundred false alarms (exact law: 4.6e-5 per offset)."""


def false_alarms(noise_only: np.ndarray) -> tuple[int, int]:
    """Offsets whose metric passes LOW, and offsets counted: only offsets ``t`` with ``t mod 62 < 31``, so that no
    two counted offsets share a copy's correlation (``c2(t) = c1(t + 31)``: passes at lags of 31 come in pairs);
    the counted offsets' windows still overlap, but on orthogonal codes, so the count is taken as Poisson."""
    metric, _, _ = BurstDetector(Framer(radio=True), threshold=LOW).metric(noise_only)
    counted = (np.arange(len(metric)) % (2 * N)) < N
    return int((metric[counted] >= LOW).sum()), int(counted.sum())


def test_false_alarm_rate_against_the_exact_law(noise_only):
    """Measured: 77 of 2.0e6 offsets (seed 4); exact law 4.637e-5 per offset (mean 92.7, interval [50, 144])."""
    count, offsets = false_alarms(noise_only)
    p = exact_law(LOW, 1.0, signal=False)
    assert p == pytest.approx(4.6368e-5, rel=1e-3)
    lo, hi = poisson_range(p * offsets)
    assert lo <= count <= hi, (count, p * offsets, (lo, hi))
    assert false_alarm_probability(LOW) == pytest.approx(p, rel=1e-6)  # the module's design value is this law


def test_scan_finds_nothing_in_noise_at_the_default_threshold(noise_only):
    """2e6 offsets at THRESHOLD: the exact law expects 3.1e-5 false alarms (1.56e-11 per offset). The metric's
    largest value there is 0.47 (seed 4)."""
    samples = noise_only[:2_000_000]
    detector = BurstDetector(Framer(radio=True))
    assert detector.threshold == THRESHOLD
    found, next_offset = detector.scan(samples, 0)
    assert found == []
    assert next_offset == len(samples) - detector.reach + 1  # every offset searched


# --- misses at low Es/N0 ------------------------------------------------------------------------------------------

SNR_DB = 0.0
BURSTS = 20_000


@pytest.fixture(scope="module")
def design_miss() -> float:
    """miss_probability(SNR_DB), once."""
    return miss_probability(SNR_DB)


@pytest.fixture(scope="module")
def misses() -> tuple[int, int]:
    """Bursts (preamble, header, 32 QPSK symbols, postamble, guard) back to back at sps = 1 in noise of
    ``N0 = 10**(-SNR_DB/10)`` per sample: how many ``scan`` finds no detection within 2 samples of, of how many.
    Scanned in windows of 16 bursts cut in the middle of a guard (one scan of the whole stream takes a time that
    grows with detections times length)."""
    rng = np.random.default_rng(5)
    framer = Framer(radio=True)
    detector = BurstDetector(framer)
    frames = [framer.frame(np.concatenate([header(i), qpsk(rng, 32)])) for i in range(BURSTS)]
    size, lead = len(frames[0]), 100
    starts = lead + size * np.arange(BURSTS)
    clean = np.concatenate([np.zeros(lead, np.complex64), *frames, np.zeros(size, np.complex64)])
    r = clean + noise(rng, len(clean), 10 ** (-SNR_DB / 10))
    cuts = [*(starts[::16] - framer.guard // 2), starts[-1] + size]
    found = []
    for lo, hi in itertools.pairwise(cuts):
        hits, _ = detector.scan(r[lo : hi + detector.reach + 2 * N], 0)
        found += [lo + t for t, _, _ in hits if lo + t < hi]
    found = np.array(sorted(found))
    near = np.abs(found[np.clip(np.searchsorted(found, starts - 2), 0, len(found) - 1)] - starts) <= 2
    assert len(found) == near.sum()  # no detection elsewhere (false alarms: 1.5e-11 per offset, exact law)
    return int(BURSTS - near.sum()), BURSTS


def test_miss_rate_against_the_exact_law(misses, design_miss):
    """Measured: 74 of 20000 at 0 dB (seed 5); exact law 4.05e-3 (mean 81, interval [41, 129])."""
    missed, n = misses
    p = exact_law(THRESHOLD, 10 ** (-SNR_DB / 10), signal=True)
    assert p == pytest.approx(4.049e-3, rel=1e-3)
    lo, hi = binomial_range(n, p)
    assert lo <= missed <= hi, (missed, p * n, (lo, hi))
    assert design_miss == pytest.approx(p, rel=1e-6)  # the module's design value is this law


# --- the postamble ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sps", [1, 4])
def test_postambles_never_pass_for_a_preamble(sps):
    """Root 2 against root 1: ``|c1| = |c2| = sqrt(31)`` at every lag of a periodic stream of postambles, so the
    metric is ``2 sqrt(31) / 62 = 0.18`` there; also radio postambles (cyclic extension at sps > 1) with guards,
    gain, frequency offset and noise at 20 dB."""
    framer = Framer(radio=True, sps=sps)
    detector = BurstDetector(framer)
    periodic = np.tile(zadoff_chu(N, 2), 400)
    if sps == 1:
        metric = detector.metric(periodic)[0]
        assert np.allclose(metric, 2 * np.sqrt(N) / (2 * N), atol=1e-4)
    shaped = framer.shaper.shape(periodic)
    assert detector.scan(shaped, 0)[0] == []
    rng = np.random.default_rng(6)
    posts = framer.shaper.shape(np.concatenate([framer.postamble, np.zeros(20, np.complex64)]))
    stream = np.tile(np.concatenate([posts, np.zeros(framer.guard, np.complex64)]), 300)
    k = np.arange(len(stream))
    stream = 0.3 * np.exp(1j * (1.0 + 2 * np.pi * 2e-3 * k)) * stream + 0.3 * noise(rng, len(stream), 0.01)
    metric = detector.metric(stream.astype(np.complex64))[0]
    assert metric.max() < THRESHOLD, metric.max()
    assert detector.scan(stream.astype(np.complex64), 0)[0] == []


# --- bursts at sps = 4 through a frequency offset, a fractional delay and a gain ------------------------------------


def fractional_delay(x: np.ndarray, delay: float) -> np.ndarray:
    """``x`` (zero-padded at both ends) delayed by ``delay`` samples: a linear phase in frequency, exact for a
    band-limited signal."""
    f = np.fft.fftfreq(len(x))
    return np.fft.ifft(np.fft.fft(x) * np.exp(-2j * np.pi * f * delay)).astype(np.complex64)


@pytest.mark.parametrize(
    ("cfo", "delay", "gain"),
    [(2e-3, 0.37, 0.3 * np.exp(1.1j)), (-2e-3, 0.81, 2.0j), (-1e-3, 0.5, 0.05 * np.exp(-2.5j)), (3.5e-3, 0.5, 1.0)],
)
def test_bursts_found_at_their_start_with_their_id_at_sps_4(cfo, delay, gain):
    """40 bursts at random gaps, ids at random, Es/N0 15 dB after the matched filter (noise ``|gain|^2 N0`` per
    sample): every one found near its true start (placement + ``delay``), its header read, nothing else found.

    Near: within one sample (the peak is on whole samples) plus the Zadoff-Chu sequence's delay-Doppler ridge.
    ``x[k + m] conj(x[k])`` of a root-1 sequence is a tone of ``-m / N`` cycles per symbol, so an offset of
    ``cfo * sps`` cycles per symbol moves the correlation's peak by about ``-cfo * sps * N`` symbols,
    ``-cfo * sps**2 * N`` samples: 0.50 at 1e-3, 0.99 at 2e-3, 1.74 at 3.5e-3 (the estimate's limit is
    ``1 / (62 sps)`` = 4.03e-3). Measured offsets from the true start, every burst alike (seed 7): -0.37 at 2e-3,
    +0.19 or +1.19 at -2e-3 (so not always within one sample of the start itself), +0.5 at -1e-3, -1.5 or -0.5 at
    3.5e-3. The header, timed by the preamble's marker after the offset is removed, is read whatever the shift."""
    tolerance = 1 + abs(cfo) * 4**2 * N
    rng = np.random.default_rng(7)
    framer = Framer(radio=True, sps=4, guard=128)
    detector = BurstDetector(framer)
    ids = rng.integers(0, ID_SPACE, 40)
    pieces, starts, at = [np.zeros(500, np.complex64)], [], 500
    for burst_id in ids:
        frame = framer.frame(np.concatenate([header(int(burst_id)), qpsk(rng, 96)]))
        starts.append(at)
        gap = np.zeros(int(rng.integers(0, 400)), np.complex64)
        pieces += [frame, gap]
        at += len(frame) + len(gap)
    clean = fractional_delay(np.concatenate([*pieces, np.zeros(600, np.complex64)]), delay)
    k = np.arange(len(clean))
    n0 = 10 ** (-15 / 10)
    r = (gain * np.exp(2j * np.pi * cfo * k) * clean + abs(gain) * noise(rng, len(clean), n0)).astype(np.complex64)
    found, _ = detector.scan(r, 0)
    assert len(found) == len(ids)
    for (t, c1, c2), start, burst_id in zip(found, starts, ids, strict=True):
        assert abs(t - (start + delay)) <= tolerance, (t, start + delay)
        assert detector.header(r, t, c1, c2) == burst_id
