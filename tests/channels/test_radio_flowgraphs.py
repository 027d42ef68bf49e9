"""The radio contract's example flowgraphs (stage key ``radio=true``): ``examples/flowgraphs/radio_emulator.grc``,
``usrp_loopback.grc`` and ``soapy_loopback.grc`` compile and take ``--in-address``, ``--out-address`` and
``--samp-rate``; the emulator runs here as mfcomm would start it (its own process, two ZMQ sockets) and behaves
as a free-running radio: ``samp_rate`` samples per second whether or not anything was sent, noise and DC offset
as its formulas say, a sent burst back in order with the channel's gain after a short latency, and whole blocks
lost at the overflow probability. The USRP and Soapy flowgraphs need hardware to run: they are compile-tested
only. Statistical checks use intervals of about five standard errors (a correct emulator fails one about once in
a million runs); the sample rate is 2e5 to keep the emulator's Python blocks light on a small machine.
"""

import contextlib
import json
import math
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mfcomm.channels.flowgraph_process import compile_grc, free_port, gnuradio_python, has_gnuradio
from mfcomm.channels.radio_model import RADIO_KEYS, TEST_KNOBS

pytestmark = [
    pytest.mark.integration,  # GNU Radio flowgraphs in their own processes
    pytest.mark.skipif(not has_gnuradio(), reason=f"{gnuradio_python()} cannot import gnuradio"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flowgraphs"
RADIO_FLOWGRAPHS = ["radio_emulator.grc", "usrp_loopback.grc", "soapy_loopback.grc"]
EMULATOR_DEFAULTS = {"samp_rate": 1e6, **{k: v for k, v in RADIO_KEYS.items() if k not in TEST_KNOBS}}
"""The emulator's Parameter blocks besides the two addresses, with their defaults: the in-process emulator's."""
RATE = 2e5
"""The sample rate of the runs here (samples per second)."""
Z = 5.0
"""Standard errors in a statistical check's interval: a correct emulator fails one about once in 1.7 million."""
NOISE_POOL = 16 * 1024
"""GNU Radio's channel model draws its noise at random from a pool of this many Gaussian samples
(``fastnoise_source_c``'s default), so an average over N samples has the variance of one over
1 / (1/N + 1/NOISE_POOL) independent samples."""
START_SECONDS = 20.0
"""Longest wait for the first samples of a starting flowgraph (GNU Radio's imports on a busy machine)."""
WARM_UP = 0.3
"""Seconds read and left out after the first samples: the backlog of the start is delivered by then."""


@pytest.fixture(scope="module")
def emulator_script(tmp_path_factory) -> Path:
    """radio_emulator.grc compiled once (its embedded Python blocks are files beside the top block)."""
    return compile_grc(EXAMPLES / "radio_emulator.grc", tmp_path_factory.mktemp("radio-emulator"))


def _defaults(script: Path) -> dict:
    """The option defaults of the generated top block ``script`` (its argument_parser, run under GNU Radio)."""
    code = (
        "import importlib, json, sys; sys.path.insert(0, sys.argv[1]); m = importlib.import_module(sys.argv[2]); "
        "print(json.dumps(vars(m.argument_parser().parse_args([]))))"
    )
    done = subprocess.run(
        [gnuradio_python(), "-c", code, str(script.parent), script.stem],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", RADIO_FLOWGRAPHS)
def test_a_radio_flowgraph_compiles_and_takes_the_radio_options(name, tmp_path):
    script = compile_grc(EXAMPLES / name, tmp_path)
    helped = subprocess.run(
        [gnuradio_python(), str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert helped.returncode == 0, helped.stderr
    for option in ("--in-address", "--out-address", "--samp-rate"):
        assert option in helped.stdout
    defaults = _defaults(script)
    assert defaults["samp_rate"] == 1e6
    if name == "radio_emulator.grc":
        assert {key: defaults[key] for key in EMULATOR_DEFAULTS} == EMULATOR_DEFAULTS
        assert set(defaults) == {"in_address", "out_address", *EMULATOR_DEFAULTS}


class Radio:
    """A running flowgraph and mfcomm's side of it: a PUSH socket bound at its ``--in-address``, a PULL socket
    connected to its ``--out-address``, and every chunk received with the time it came (``time.monotonic()``)."""

    def __init__(self, script: Path, options: dict):
        import zmq

        self.context = zmq.Context()
        self.push = self.context.socket(zmq.PUSH)
        self.pull = self.context.socket(zmq.PULL)
        for sock in (self.push, self.pull):
            sock.setsockopt(zmq.LINGER, 0)
        self.pull.setsockopt(zmq.RECONNECT_IVL, 10)  # ms: until the flowgraph's sink binds
        in_address = f"tcp://127.0.0.1:{self.push.bind_to_random_port('tcp://127.0.0.1')}"
        out_address = f"tcp://127.0.0.1:{free_port()}"
        self.pull.connect(out_address)
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        command = [gnuradio_python(), str(script), f"--in-address={in_address}", f"--out-address={out_address}"]
        command += [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True
        )
        self.chunks: list[np.ndarray] = []
        self.times: list[float] = []

    def said(self) -> str:
        """The flowgraph's stderr so far (for assertion messages)."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def read_until(self, deadline: float) -> None:
        """Receive until ``time.monotonic()`` passes ``deadline``."""
        while (left := deadline - time.monotonic()) > 0:
            if self.pull.poll(max(1, int(left * 1000))):
                self.chunks.append(np.frombuffer(self.pull.recv(), np.complex64))
                self.times.append(time.monotonic())
            assert self.process.poll() is None, f"the flowgraph exited: {self.said()}"

    def started(self) -> float:
        """Wait for the first samples, then read :data:`WARM_UP` more seconds; the time the warm-up ended."""
        deadline = time.monotonic() + START_SECONDS
        while not self.chunks and time.monotonic() < deadline:
            self.read_until(min(deadline, time.monotonic() + 0.1))
        assert self.chunks, f"no samples within {START_SECONDS:g} s: {self.said()}"
        end = time.monotonic() + WARM_UP
        self.read_until(end)
        return end

    def received(self, start: float, end: float) -> np.ndarray:
        """The samples that came after ``start`` and by ``end``."""
        kept = [chunk for chunk, t in zip(self.chunks, self.times, strict=True) if start < t <= end]
        return np.concatenate(kept) if kept else np.zeros(0, np.complex64)

    def stop(self) -> None:
        """Close its stdin (a GRC flowgraph with "Prompt for Exit" then stops), then SIGTERM, then SIGKILL its
        process group; close the sockets."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5.0)
                break
        self.push.close()
        self.pull.close()
        self.context.term()


@contextlib.contextmanager
def running(script: Path, **options) -> Iterator[Radio]:
    """The flowgraph ``script`` started with ``options`` (``--key=value``), always stopped at the end."""
    radio = Radio(script, options)
    try:
        yield radio
    finally:
        radio.stop()
        radio.stderr.close()


def _stopped_cleanly(radio: Radio) -> None:
    assert radio.process.returncode == 0, f"exit status {radio.process.returncode}"  # stdin closed: it stopped


def test_the_emulator_runs_free_with_its_noise_and_dc_offset(emulator_script):
    snr_db, gain_db, dc_offset, iq_amplitude_db, iq_phase_deg = 0.0, -20.0, 0.2, 0.5, 3.0
    with running(
        emulator_script,
        samp_rate=RATE,
        snr_db=snr_db,
        gain_db=gain_db,
        dc_offset=dc_offset,
        iq_amplitude_db=iq_amplitude_db,
        iq_phase_deg=iq_phase_deg,
        overflow=0,
    ) as radio:
        start = radio.started()  # nothing is ever sent
        radio.read_until(start + 1.0)
        end = radio.times[-1]
        y = radio.received(start, end).astype(np.complex128)
    _stopped_cleanly(radio)
    assert len(y) == pytest.approx(RATE * (end - start), rel=0.1)  # free-running at samp_rate
    # The noise: complex, std noise_voltage (I and Q each noise_voltage/sqrt(2)), through the IQ imbalance
    # (I, g*(Q*cos(phi) - I*sin(phi))): mean power noise_voltage**2 * (1 + g**2) / 2 whatever phi, plus |d|**2.
    noise_voltage = 10 ** (gain_db / 20) * 10 ** (-snr_db / 20)
    g = 10 ** (iq_amplitude_db / 20)
    d = dc_offset * 10 ** (gain_db / 20) * (1 + 1j) / math.sqrt(2)
    assert 6 * noise_voltage + abs(d) < 1  # the ADC (full_scale 1.0) clips none of it
    scale = math.sqrt(1 / len(y) + 1 / NOISE_POOL)  # standard error of a mean, per sample standard deviation
    power = np.abs(y) ** 2
    assert power.mean() == pytest.approx(noise_voltage**2 * (1 + g**2) / 2 + abs(d) ** 2, abs=Z * power.std() * scale)
    assert y.real.mean() == pytest.approx(d.real, abs=Z * y.real.std() * scale)
    assert y.imag.mean() == pytest.approx(d.imag, abs=Z * y.imag.std() * scale)


def _first(y: np.ndarray, x: np.ndarray) -> tuple[int, float]:
    """Where ``x`` best matches in ``y`` (FFT cross-correlation) and the normalized correlation there."""
    n = 1 << math.ceil(math.log2(len(y) + len(x)))
    c = np.fft.ifft(np.fft.fft(y, n) * np.conj(np.fft.fft(x, n)))[: len(y) - len(x) + 1]
    energy = np.convolve(np.abs(y) ** 2, np.ones(len(x)), "valid")
    score = np.abs(c) / np.sqrt(np.maximum(energy, 1e-30) * np.sum(np.abs(x) ** 2))
    k = int(np.argmax(score))
    return k, float(score[k])


def test_a_sent_burst_comes_back_in_order_with_the_gain_after_a_short_latency(emulator_script):
    gain_db, latency = -20.0, 0.002
    x = (np.random.default_rng(7).choice([-1.0, 1.0], (2000, 2)) @ [1, 1j] / math.sqrt(2)).astype(np.complex64)
    quiet = {"freq_offset": 0, "ppm": 0, "dc_offset": 0, "iq_amplitude_db": 0, "iq_phase_deg": 0, "overflow": 0}
    with running(emulator_script, samp_rate=RATE, snr_db=40, gain_db=gain_db, latency=latency, **quiet) as radio:
        radio.read_until(radio.started() + 0.2)
        before = sum(len(chunk) for chunk in radio.chunks)  # samples received before the burst was sent
        sent = time.monotonic()
        radio.push.send(x.tobytes())
        radio.read_until(sent + 1.0)
        y = np.concatenate(radio.chunks).astype(np.complex128)
        ends = np.cumsum([len(chunk) for chunk in radio.chunks])
    _stopped_cleanly(radio)
    k, score = _first(y[before:], x)
    assert score > 0.99, f"the burst is not in the received stream whole (best match {score:.3f})"
    last = before + k + len(x) - 1  # the burst's last sample in the stream
    arrived = radio.times[int(np.searchsorted(ends, last, side="right"))]  # the time its chunk came
    assert arrived - sent < 0.5 and k / RATE < 0.5
    h = np.vdot(x, y[before + k : last + 1]) / np.vdot(x, x)
    assert abs(h) == pytest.approx(10 ** (gain_db / 20), rel=0.02)
    noise_voltage = 10 ** (gain_db / 20) * 10 ** (-40 / 20)
    assert np.abs(y[last + 10 : last + 2000]).max() < 6 * noise_voltage  # then zeros again, plus the noise


def test_the_emulator_loses_whole_blocks_at_the_overflow_probability(emulator_script):
    overflow, block = 0.5, 1000
    with running(emulator_script, samp_rate=RATE, overflow=overflow, overflow_block=block) as radio:
        start = radio.started()
        radio.read_until(start + 1.0)
        end = radio.times[-1]
        y = radio.received(start, end)
    _stopped_cleanly(radio)
    assert len(y) % block == 0  # whole blocks only
    blocks = RATE * (end - start) / block  # the blocks the radio received meanwhile
    kept = len(y) / block
    # binomial(blocks, 1 - overflow), plus a block at each end of the window and 2 % for the clock's accuracy
    slack = Z * math.sqrt(blocks * overflow * (1 - overflow)) + 2 + 0.02 * blocks
    assert kept == pytest.approx(blocks * (1 - overflow), abs=slack)


# --- mfcomm's burst mode through the emulator flowgraph -------------------------------------------------------------


def qpsk_blocks(rng: np.random.Generator, rows: int = 1024) -> np.ndarray:
    return np.exp(1j * np.pi / 4 * (2 * rng.integers(0, 4, (rows, 2)) + 1)).astype(np.complex64)


def test_mfcomm_gets_every_symbol_back_as_its_own_through_the_emulator_flowgraph():
    """radio=true through radio_emulator.grc in real time (samp_rate 2e5, 1% of blocks lost, every impairment at its
    default): each returned symbol within 0.25 of its own (at 30 dB the noise is 0.03; another example's symbol
    is 1.4 away on average), and the counters add up."""
    import torch

    from mfcomm.channels.gnuradio import GnuRadioChannel

    ch = GnuRadioChannel(
        flowgraph=str(EXAMPLES / "radio_emulator.grc"), radio=True, samp_rate=2e5, snr_db=30, overflow=0.01, timeout=30
    )
    rng = np.random.default_rng(0)
    try:
        for _ in range(5):
            x = qpsk_blocks(rng)
            y = ch(torch.from_numpy(x)).numpy()
            assert np.abs(y - x).max() < 0.25
        c = ch.counters
        assert c["bursts_sent"] == 20 + c["bursts_resent"] and c["bursts_lost"] >= c["bursts_resent"] - 0
        process = ch.transport.process  # type: ignore[union-attr]
    finally:
        ch.close()
    assert process.poll() is not None  # no orphan flowgraph


def test_a_radio_flowgraph_killed_mid_run_gives_one_line_and_the_next_call_starts_a_fresh_one():
    import torch

    from mfcomm.channels.gnuradio import GnuRadioChannel
    from mfcomm.errors import ChannelError

    ch = GnuRadioChannel(flowgraph=str(EXAMPLES / "radio_emulator.grc"), radio=True, samp_rate=2e5, timeout=30)
    rng = np.random.default_rng(1)
    try:
        ch(torch.from_numpy(qpsk_blocks(rng, 256)))
        first = ch.transport.process  # type: ignore[union-attr]
        os.killpg(first.pid, signal.SIGKILL)
        with pytest.raises(ChannelError) as err:
            ch(torch.from_numpy(qpsk_blocks(rng, 256)))
        assert "\n" not in str(err.value) and "radio_emulator" in str(err.value)
        assert "killed by SIGKILL" in str(err.value) or "stopped" in str(err.value)
        assert ch.transport is None  # closed; the next call starts a fresh flowgraph
        x = qpsk_blocks(rng, 256)
        assert np.abs(ch(torch.from_numpy(x)).numpy() - x).max() < 0.5
        second = ch.transport.process  # type: ignore[union-attr]
        assert second.pid != first.pid
    finally:
        ch.close()
    assert first.poll() is not None and second.poll() is not None


def test_two_machines_compile_and_the_relay_carries_the_radio_contract_end_to_end():
    """radio_tx.grc and radio_rx.grc compile and take their ports; relay.grc as mfcomm's radio, with the emulator
    standing in for the two remote radios (its PULL source connected to the relay's tx_port, its PUSH sink bound
    at rx_port): every symbol comes back as its own."""
    import torch

    from mfcomm.channels.gnuradio import GnuRadioChannel

    with tempfile.TemporaryDirectory() as tmp:
        for name, option in (("radio_tx.grc", "--tx-port"), ("radio_rx.grc", "--rx-port")):
            script = compile_grc(EXAMPLES / name, Path(tmp))
            shown = subprocess.run(
                [gnuradio_python(), str(script), "--help"], capture_output=True, text=True, check=False
            )
            assert shown.returncode == 0 and option in shown.stdout and "--samp-rate" in shown.stdout
        tx, rx = free_port(), free_port()
        script = compile_grc(EXAMPLES / "radio_emulator.grc", Path(tmp))
        remote = [f"--in-address=tcp://127.0.0.1:{tx}", f"--out-address=tcp://127.0.0.1:{rx}", "--samp-rate=200000"]
        radios = subprocess.Popen(
            [gnuradio_python(), str(script), *remote, "--snr-db=30"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        relay = str(EXAMPLES / "relay.grc")
        ch = GnuRadioChannel(flowgraph=relay, radio=True, samp_rate=2e5, tx_port=tx, rx_port=rx, timeout=30)
        rng = np.random.default_rng(2)
        try:
            for _ in range(3):
                x = qpsk_blocks(rng)
                assert np.abs(ch(torch.from_numpy(x)).numpy() - x).max() < 0.25
        finally:
            ch.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(radios.pid, signal.SIGTERM)
            radios.wait(timeout=10)
