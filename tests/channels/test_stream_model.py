"""The in-process engine of GNU Radio's channel model (:mod:`mfcomm.channels.stream_model`, ``engine=python``):
each impairment against an independent computation, the stream's state across calls, the stage key, and
(skipped when the system Python has no GNU Radio) the engine against GNU Radio's ``channel_model`` itself: sample
for sample without noise, and QPSK x2's SER through the whole front-end."""

import subprocess

import numpy as np
import pytest
import torch

from mfcomm.channels.chain import build
from mfcomm.channels.flowgraph_process import gnuradio_python, has_gnuradio
from mfcomm.channels.gnuradio import GnuRadioChannel
from mfcomm.channels.stream_model import ChannelModel, StreamModel, mmse_taps
from mfcomm.errors import ChannelError
from mfcomm.evaluation.ser import clopper_pearson
from mfcomm.system.baselines import classical_baseline

needs_gnuradio = pytest.mark.skipif(not has_gnuradio(), reason=f"{gnuradio_python()} cannot import gnuradio")
TAPS = (1.0, 0.2 + 0.1j, 0.05)
RADIO = "gnuradio(snr_db=15,sps=4,epsilon=1.0001,taps=1/0.2+0.1j/0.05,freq_offset=1e-3,sync=cfo"
"""The benchmark's setting (``make bench-radio``), without its closing parenthesis."""


def _through(model: ChannelModel, x: np.ndarray, pieces: int = 1) -> np.ndarray:
    """``x`` through a fresh stream in ``pieces`` sends, everything that came out."""
    stream, out = StreamModel(model), []
    for piece in np.array_split(x, pieces):
        stream.send(piece, deadline=0.0)
        out.append(stream.receive(0.0))
    return np.concatenate([y for y in out if y is not None])


def _tone(frequency: float, t: np.ndarray) -> np.ndarray:
    return np.exp(2j * np.pi * frequency * t)


def test_noise_variance_is_noise_voltage_squared_and_seeded():
    noise = _through(ChannelModel(noise_voltage=0.5, seed=3), np.zeros(200_000, np.complex64))
    assert noise.dtype == np.complex64
    assert np.var(noise) == pytest.approx(0.25, rel=0.02)
    assert np.var(noise.real) == pytest.approx(0.125, rel=0.03) and abs(np.mean(noise)) < 5e-3
    again = _through(ChannelModel(noise_voltage=0.5, seed=3), np.zeros(200_000, np.complex64), pieces=7)
    other = _through(ChannelModel(noise_voltage=0.5, seed=4), np.zeros(200_000, np.complex64))
    assert np.array_equal(again, noise) and not np.allclose(other, noise)


def test_frequency_offset_is_a_phase_that_runs_on_across_calls():
    f = -3.7e-3
    y = _through(ChannelModel(freq_offset=f), np.ones(50_000, np.complex64), pieces=13)
    assert np.allclose(y, _tone(f, np.arange(len(y))), atol=1e-4)


def test_epsilon_drifts_the_sample_clock():
    """Output ``k`` is the input at instant ``3 + k * float32(epsilon)``: checked on a tone inside the
    interpolator's band (a quarter of the sample rate), over 10 samples of drift."""
    nu, epsilon, n = 0.05, 1.0001, 100_000
    y = _through(ChannelModel(epsilon=epsilon), _tone(nu, np.arange(n)).astype(np.complex64), pieces=9)
    t = 3 + np.arange(len(y)) * float(np.float32(epsilon))
    assert n - 16 < t[-1] < n - 4  # all but what the interpolator waits for has come out
    assert np.abs(y - _tone(nu, t)).max() < 3e-3  # mu rounded to 1/128 sample: 2 pi nu / 256 at most


def test_epsilon_below_one_repeats_samples_and_the_taps_interpolate_exactly_on_the_grid():
    y = _through(ChannelModel(epsilon=0.999), _tone(0.02, np.arange(20_000)).astype(np.complex64), pieces=3)
    t = 3 + np.arange(len(y)) * float(np.float32(0.999))
    assert len(y) > 20_000 and np.abs(y - _tone(0.02, t)).max() < 2e-3
    table = mmse_taps()
    assert np.allclose(table.sum(axis=1), 1, atol=2e-3) and np.allclose(table[-1], np.eye(8)[4])


def test_taps_are_a_causal_filter_at_the_sample_rate():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(10_000) + 1j * rng.standard_normal(10_000)).astype(np.complex64)
    y = _through(ChannelModel(taps=TAPS), x, pieces=11)
    expected = np.convolve(x[3:], TAPS)[: len(y)]  # the resampler drops the first 3 samples
    assert len(y) == len(x) - 3 - 4 and np.allclose(y, expected, atol=1e-5)


def test_the_engine_key():
    ch = build(RADIO + ",engine=python)", None)
    stage = ch.stages[0]
    assert stage.name == (
        "gnuradio(snr_db=15,freq_offset=0.001,epsilon=1.0001,taps=1/0.2+0.1j/0.05,seed=0,sync=cfo,payload=512,"
        "sps=4,rolloff=0.35,engine=python)"
    )
    assert isinstance(stage.model, ChannelModel) and stage.model.taps == TAPS
    assert build(stage.name, None).name == stage.name
    assert GnuRadioChannel(snr_db=15).name.endswith("payload=512)")  # the default engine is not named
    for bad, match in [
        ("gnuradio(engine=gpu)", "engine must be flowgraph or python"),
        ("gnuradio(flowgraph=x.py,engine=python)", "engine=python emulates the built-in channel model only"),
    ]:
        with pytest.raises(ChannelError, match=match):
            build(bad, None)


@pytest.mark.integration
def test_training_through_the_engine_writes_the_spectrum(tmp_path):
    """No GNU Radio needed: a short run through ``engine=python`` at 4 samples per symbol."""
    from mfcomm import cli

    out = tmp_path / "run"
    spec = RADIO + ",engine=python)"
    assert (
        cli.main(["train", "--channel", spec, "--iterations", "20", "--no-baseline", "--out", str(out), "--quiet"]) == 0
    )
    assert {"spectrum.png", "summary.json"} <= {p.name for p in out.iterdir()}


def _frame_errors(spec: str, frames: int) -> np.ndarray:
    """QPSK x2 with hard decisions through ``spec``: its errors in each of ``frames`` frames (256 messages each)."""
    ch, baseline = build(spec, None, timeout=30), classical_baseline(16, 2)
    generator, errors = torch.Generator().manual_seed(0), []
    try:
        for _ in range(frames):
            m = torch.randint(16, (256,), generator=generator)
            errors.append(int((baseline.detect(ch(baseline.codebook[m]), None) != m).sum()))
    finally:
        ch.stages[0].close()
    return np.array(errors)


@pytest.mark.integration
@needs_gnuradio
def test_the_engine_matches_gnu_radio_sample_for_sample_without_noise(tmp_path):
    """GNU Radio's own ``channel_model`` on a vector source, and the engine, on the same band-limited samples."""
    rng = np.random.default_rng(1)
    x = np.convolve(rng.standard_normal(20_000) + 1j * rng.standard_normal(20_000), np.hanning(9) / 4, "same")
    np.save(tmp_path / "x.npy", x.astype(np.complex64))
    script = (
        "import sys, numpy as np\nfrom gnuradio import blocks, channels, gr\n"
        "x = np.load(sys.argv[1]); tb = gr.top_block(); sink = blocks.vector_sink_c()\n"
        "tb.connect(blocks.vector_source_c(x.tolist()), channels.channel_model(0.0, 1e-3, 1.0001, "
        "[1, 0.2+0.1j, 0.05], 0, True), sink)\ntb.run(); np.save(sys.argv[2], np.array(sink.data(), np.complex64))\n"
    )
    subprocess.run([gnuradio_python(), "-c", script, tmp_path / "x.npy", tmp_path / "y.npy"], check=True, timeout=60)
    gnu = np.load(tmp_path / "y.npy")
    ours = _through(ChannelModel(freq_offset=1e-3, epsilon=1.0001, taps=TAPS), x.astype(np.complex64), pieces=5)
    n = min(len(gnu), len(ours))
    assert n > len(x) - 20 and np.abs(gnu[:n] - ours[:n]).max() < 1e-4


@pytest.mark.integration
@needs_gnuradio
def test_qpsk_ser_through_the_engine_and_the_flowgraph_agree():
    """QPSK x2 at the benchmark's setting, 300 frames each. Errors come in bursts, whole frames whose residual
    frequency offset turns the phase past 45 degrees (a fifth of the frames hold errors), so binomial intervals
    are about 7 times too narrow here (measured: 10 noise seeds through the engine at 40,000 messages each gave
    1.9e-2 to 2.9e-2, each with a binomial interval of +-7%). The intervals compared are over frames instead:
    the mean of the per-frame error counts, +-1.96 standard errors; they must overlap."""
    intervals = {}
    for engine in ("python", "flowgraph"):
        errors = _frame_errors(f"{RADIO},engine={engine})", 300)
        ser, half = errors.mean() / 256, 1.96 * errors.std(ddof=1) / np.sqrt(len(errors)) / 256
        binomial = clopper_pearson(int(errors.sum()), 256 * len(errors))
        intervals[engine] = (ser - half, ser + half, binomial)
    (low_a, high_a, a), (low_b, high_b, b) = intervals.values()
    assert 3e-3 < a.ser < 0.1 and 3e-3 < b.ser < 0.1, intervals
    assert low_a <= high_b and low_b <= high_a, intervals
