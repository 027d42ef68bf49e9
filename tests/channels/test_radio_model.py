"""The free-running radio emulator in-process (:mod:`mfcomm.channels.radio_model`): the clock runs whether or not
anything was sent, a burst comes out in order after the latency with the gain and frequency offset, each impairment
against the formula (noise power, IQ imbalance, DC, clipping, overflow) and the test knobs per send() call, the
stall, the stage keys' checks, and determinism. Statistical checks use fixed seeds and intervals of probability
1 - 1e-6 (chi-square for powers, binomial for counts), so a correct engine fails them about once in a million seeds.
"""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom, chi2, norm

from mfcomm.channels.radio_model import RADIO_KEYS, TEST_KNOBS, RadioEmulator, RadioModel, radio_model
from mfcomm.channels.stream_model import ChannelModel
from mfcomm.errors import ChannelError

ALPHA = 1e-6
"""Each statistical check's probability of failing a correct engine."""
Z = float(norm.isf(ALPHA / 2))  # two-sided normal quantile, about 4.9
QUIET: dict[str, float] = {
    "snr_db": 300.0,  # noise_voltage 1e-15: far below complex64's resolution of the signals used here
    "gain_db": 0.0,
    "freq_offset": 0.0,
    "ppm": 0.0,
    "dc_offset": 0.0,
    "iq_amplitude_db": 0.0,
    "iq_phase_deg": 0.0,
    "full_scale": 1e9,
    "overflow": 0.0,
    "overflow_block": 1,
    "latency": 3e-6,  # 3 samples at 1 MS/s: the 3 the channel model drops
}
"""Every impairment off: output ``k`` is then the air's sample ``k``."""


def quiet(**changes: float) -> RadioModel:
    return RadioModel(**{**QUIET, **changes})


def play(radio: RadioEmulator, receives: int) -> np.ndarray:
    """Everything ``receives`` calls of receive() return, end to end."""
    out = [radio.receive(0.0) for _ in range(receives)]
    assert all(y is not None and y.dtype == np.complex64 for y in out)
    return np.concatenate(out)


def front_end(r: np.ndarray, m: RadioModel) -> np.ndarray:
    """Step (e) written out from the brief: IQ imbalance, DC, clipping."""
    i, q = r.real.astype(np.float64), r.imag.astype(np.float64)
    g, phi = 10 ** (m.iq_amplitude_db / 20), math.radians(m.iq_phase_deg)
    z = i + 1j * g * (q * np.cos(phi) - i * np.sin(phi))
    z = z + m.dc_offset * 10 ** (m.gain_db / 20) * (1 + 1j) / math.sqrt(2)
    return np.clip(z.real, -m.full_scale, m.full_scale) + 1j * np.clip(z.imag, -m.full_scale, m.full_scale)


def tagged(burst: int, length: int = 16) -> np.ndarray:
    """A burst whose every sample says which burst (real part) and where in it (imaginary part, from 1)."""
    return (burst + 1j * np.arange(1, length + 1)).astype(np.complex64)


def bursts(y: np.ndarray, length: int = 16) -> list[int]:
    """The tagged bursts in ``y`` in the order they came out, each checked whole and in order."""
    ids, where = np.rint(y.real).astype(int), np.rint(y.imag).astype(int)
    on = where > 0  # zeros: the transmitter ran dry
    ids, where = ids[on], where[on]
    assert len(ids) % length == 0
    ids, where = ids.reshape(-1, length), where.reshape(-1, length)
    assert (ids == ids[:, :1]).all() and (where == np.arange(1, length + 1)).all()
    return [int(i) for i in ids[:, 0]]


def test_free_running_without_send_gives_noise_and_dc_and_the_clock_moves():
    model = RadioModel(overflow=0.0)  # every other impairment at its default
    radio = RadioEmulator(model)
    out = [radio.receive(0.0) for _ in range(50)]
    assert radio.air == 50 * 4096 and radio.seconds() == pytest.approx(0.2048) and radio.sent == radio.queued == 0
    # whole blocks of 1024 of the air's samples, the first 3 + 7 held by the channel model and the rest of a block
    assert len(out[0]) == 3072 and all(len(y) in (3072, 4096) for y in out)
    y = np.concatenate(out).astype(np.complex128)
    produced = len(y) + len(radio.partial)  # the clock runs 1 + ppm * 1e-6 slow: air / epsilon samples, less 10
    assert abs(produced - radio.air / (1 + model.ppm * 1e-6)) <= 11
    # noise of variance noise_voltage**2 = 1e-4, half on I, half on Q (times g**2 after the IQ imbalance): the mean
    # of N samples has a standard deviation of at most g * 0.01 / sqrt(2 N) per component
    tolerance = Z * 10 ** (model.iq_amplitude_db / 20) * 0.01 / math.sqrt(2 * len(y))
    assert abs(y.real.mean() - model.dc.real) < tolerance and abs(y.imag.mean() - model.dc.imag) < tolerance


def test_a_burst_comes_out_in_order_after_the_latency_with_gain_and_frequency_offset():
    model = quiet(gain_db=-6.0, freq_offset=2e-3, latency=0.003)  # delay line: 3000 samples
    radio = RadioEmulator(model)
    x = np.exp(2j * np.pi * np.random.default_rng(5).random(5000)).astype(np.complex64)
    first = radio.receive(0.0)  # the air's samples 0 .. 4095: nothing sent
    radio.send(x, deadline=0.0)  # played from the air's sample 4096 on
    assert radio.queued == radio.sent == 5000
    y = np.concatenate([first, play(radio, 4)])
    assert radio.queued == 0 and len(y) == 5 * 4096 - 7
    air = np.zeros(5 * 4096, np.complex128)
    air[4096 : 4096 + 5000] = x
    k = np.arange(len(y))  # output k is the air's sample k + 3 - 3000, with the phase of sample k
    expected = 10 ** (-6 / 20) * np.concatenate([np.zeros(2997), air])[k] * np.exp(2j * np.pi * 2e-3 * k)
    assert np.allclose(y, expected, atol=1e-5)
    assert np.abs(y[: 4096 + 2997]).max() < 1e-12 and np.abs(y[4096 + 2997 + 5000 :]).max() < 1e-12  # underrun


def test_noise_power_per_sample_is_noise_voltage_squared():
    model = quiet(snr_db=10.0, gain_db=-10.0)  # noise_voltage = 10**(-1/2) * 10**(-1/2) = 0.1
    y = play(RadioEmulator(model), 50).astype(np.complex128)
    n, power = len(y), 0.1**2
    # sum |y|^2 / (power / 2) is chi-square with 2 n degrees of freedom; each part's, with n
    low, high = chi2.interval(1 - ALPHA, 2 * n)
    assert low / (2 * n) < np.mean(np.abs(y) ** 2) / power < high / (2 * n)
    low, high = chi2.interval(1 - ALPHA, n)
    for part in (y.real, y.imag):
        assert low / n < np.mean(part**2) / (power / 2) < high / n
    assert abs(y.mean()) < Z * 0.1 / math.sqrt(n)  # the mean's standard deviation is 0.1 / sqrt(2 n) per part


def test_iq_imbalance_follows_the_formula():
    model = quiet(gain_db=-3.0, iq_amplitude_db=1.5, iq_phase_deg=10.0)
    radio = RadioEmulator(model)
    tone = (0.8 * np.exp(2j * np.pi * 0.013 * np.arange(3 * 4096))).astype(np.complex64)
    radio.send(tone, deadline=0.0)
    y = play(radio, 3)
    r = 10 ** (-3 / 20) * tone[: len(y)]  # the channel model's output: the tone with the gain
    assert np.allclose(y, front_end(r, model), atol=1e-6)
    assert not np.allclose(y, r, atol=1e-2)  # the imbalance is there to see


def test_dc_offset_is_added_after_the_gain_and_the_iq_imbalance():
    model = RadioModel(dc_offset=0.2, gain_db=-6.0, overflow=0.0)  # noise, IQ imbalance, offsets at defaults
    y = play(RadioEmulator(model), 50).astype(np.complex128)
    d = 0.2 * 10 ** (-6 / 20) * (1 + 1j) / math.sqrt(2)
    assert model.dc == pytest.approx(d)
    # noise_voltage = gain * 0.1; per part at most g * noise_voltage / sqrt(2) per sample, over sqrt(N) in the mean
    tolerance = Z * 10 ** (0.5 / 20) * 10 ** (-6 / 20) * 0.1 / math.sqrt(2 * len(y))
    assert abs(y.real.mean() - d.real) < tolerance and abs(y.imag.mean() - d.imag) < tolerance


def test_clipping_at_full_scale_after_dc_and_iq():
    model = quiet(full_scale=0.5, dc_offset=0.3, iq_amplitude_db=1.0, iq_phase_deg=5.0)
    radio = RadioEmulator(model)
    radio.send(np.exp(2j * np.pi * 0.01 * np.arange(8192)).astype(np.complex64), deadline=0.0)
    y = play(radio, 2)
    r = np.exp(2j * np.pi * 0.01 * np.arange(len(y)))
    assert np.allclose(y, front_end(r, model), atol=1e-6)
    assert np.abs(y.real).max() == np.abs(y.imag).max() == np.float32(0.5)
    assert np.mean(np.abs(y.real) == np.float32(0.5)) > 0.2  # a unit tone at full scale 0.5: clipped often


def test_overflow_drops_whole_blocks_at_its_rate():
    model = quiet(overflow=0.1, overflow_block=64)
    radio = RadioEmulator(model)
    radio.send(np.arange(1, 60 * 4096 + 1, dtype=np.complex64), deadline=0.0)  # air sample m is m + 1
    y = play(radio, 50)  # 50 * 4096 - 7 samples out: 3199 whole blocks
    index = np.rint(y.real).astype(int) - 1  # output k is the air's sample k, so the value k + 1
    rows = index.reshape(-1, 64)
    assert (rows == rows[:, :1] + np.arange(64)).all() and (rows[:, 0] % 64 == 0).all()  # whole, aligned blocks
    assert (np.diff(rows[:, 0]) > 0).all()  # the ones kept, in order
    assert radio.blocks == 3199 and radio.dropped == 3199 - len(rows)
    low, high = binom.interval(1 - ALPHA, 3199, 0.1)
    assert low <= radio.dropped <= high


def _sent_in_bursts(model: RadioModel, calls: int = 400) -> list[int]:
    """Send ``calls`` tagged bursts (ids 1 ..), play all of it, and return the bursts that came out."""
    radio = RadioEmulator(model)
    for burst in range(1, calls + 1):
        radio.send(tagged(burst), deadline=0.0)
    assert radio.sent == 16 * calls
    return bursts(play(radio, math.ceil(2 * 16 * calls / 4096) + 1))


def test_burst_loss_drops_whole_send_calls():
    out = _sent_in_bursts(quiet(burst_loss=0.3))
    assert out == sorted(set(out))  # the others whole, once, in order
    low, high = binom.interval(1 - ALPHA, 400, 0.3)
    assert low <= 400 - len(out) <= high


def test_burst_repeat_queues_a_call_twice():
    out = _sent_in_bursts(quiet(burst_repeat=0.3))
    assert sorted(set(out)) == list(range(1, 401)) and out == sorted(out)  # twice in a row, or once
    low, high = binom.interval(1 - ALPHA, 400, 0.3)
    assert low <= len(out) - 400 <= high


def test_burst_delay_puts_a_call_after_the_next():
    orders = set()
    for seed in range(20):
        radio = RadioEmulator(quiet(burst_delay=0.5, seed=seed))
        radio.send(tagged(1), deadline=0.0)
        radio.send(tagged(2), deadline=0.0)
        orders.add(tuple(bursts(play(radio, 1))))
    # 1 held back comes after 2; when 2 is held too, 2 waits for a third call
    assert orders == {(1, 2), (2, 1), (1,)}
    out = _sent_in_bursts(quiet(burst_delay=0.3))
    assert sorted(out) == list(range(1, len(out) + 1)) and len(out) >= 399  # only the last call may be held
    assert all(abs(position + 1 - burst) <= 1 for position, burst in enumerate(out))  # one place at most
    # a swap for each held call whose next call is not held: 399 trials at 0.3 * 0.7, negatively correlated
    # neighbours (conservative as binomial)
    swaps = sum(a > b for a, b in itertools.pairwise(out))
    low, high = binom.interval(1 - ALPHA, 399, 0.3 * 0.7)
    assert low <= swaps <= high


def test_stall_after_stops_the_receive_stream_for_good():
    radio = RadioEmulator(quiet(stall_after=0.01))  # 10_000 samples of air at 1 MS/s
    assert [len(radio.receive(0.0)) for _ in range(3)] == [4089, 4096, 1808]
    assert radio.diagnostic() != "" and "stall" in radio.diagnostic()
    radio.send(np.ones(100, np.complex64), deadline=0.0)
    assert [radio.receive(0.0) for _ in range(3)] == [None] * 3
    assert radio.air == 10_000 and radio.seconds() == 0.01 and radio.queued == 100
    assert RadioEmulator(quiet()).diagnostic() == ""


def test_stage_keys_defaults_name_and_channel_model():
    model, name = radio_model({}, samp_rate=2e6)
    assert model == RadioModel(samp_rate=2e6) and model.delay == 4000
    assert {k: getattr(RadioModel(), k) for k in RADIO_KEYS} == RADIO_KEYS
    assert name == (
        "snr_db=20,gain_db=-20,freq_offset=0.001,ppm=20,dc_offset=0.05,iq_amplitude_db=0.5,iq_phase_deg=3,"
        "full_scale=1,overflow=0.002,overflow_block=1024,latency=0.002,seed=0"
    )
    model, name = radio_model({"snr_db": "30", "seed": "7", "burst_loss": 0.1}, samp_rate=1e6)
    assert model.snr_db == 30.0 and model.seed == 7 and name.endswith(",seed=7,burst_loss=0.1")
    assert all(k in RADIO_KEYS for k in TEST_KNOBS)
    assert model.channel() == ChannelModel(0.1 * 10 ** (-30 / 20), 1e-3, 1 + 20e-6, (0.1,), 7)


@pytest.mark.parametrize(
    "keys",
    [
        {"freq_offset": 0.5},
        {"ppm": -1000},
        {"overflow": 1},
        {"burst_loss": -0.1},
        {"burst_delay": 1.5},
        {"overflow_block": 0},
        {"latency": -0.001},
        {"full_scale": 0},
        {"snr_db": "inf"},
        {"gain_db": "nan"},
        {"stall_after": -1},
        {"seed": -1},
        {"snr_db": "loud"},
        {"overflow_block": "2.5"},
    ],
)
def test_a_value_out_of_range_is_a_one_line_error(keys):
    with pytest.raises(ChannelError) as caught:
        radio_model(keys, samp_rate=1e6)
    assert "\n" not in str(caught.value) and next(iter(keys)) in str(caught.value)


def test_an_unknown_key_is_a_one_line_error_that_lists_the_keys():
    with pytest.raises(ChannelError, match=r"unknown parameter 'snr'.*snr_db, gain_db") as caught:
        radio_model({"snr": 3}, samp_rate=1e6)
    assert "\n" not in str(caught.value)


def test_the_same_seed_gives_the_same_samples():
    def run(seed: int) -> np.ndarray:
        radio = RadioEmulator(
            RadioModel(seed=seed, overflow=0.2, burst_loss=0.2, burst_repeat=0.2, burst_delay=0.2, chunk=1000)
        )
        out = []
        for i in range(30):
            radio.send(tagged(i + 1, 300) / 400, deadline=0.0)
            out.append(radio.receive(0.0))
        return np.concatenate(out)

    assert np.array_equal(run(3), run(3)) and not np.array_equal(run(3), run(4))
