"""Symbols over a free-running radio (:mod:`mfcomm.channels.radio`) on the in-process emulator
(:mod:`mfcomm.channels.radio_model`): each output is its own input's observation through lost, repeated, delayed
and overflowing bursts; the counters and the channel uses; the symbol error rate against the closed form; each
fault as one line; the pacing.

The emulator runs on a virtual clock, so each run is deterministic (fixed seeds); only the link's time-outs are
wall-clock, kept short in the fault tests. Statistical checks use intervals of probability 1 - :data:`ALPHA`.
"""

import math

import numpy as np
import pytest
import torch
from scipy.stats import beta, norm

from mfcomm.channels.counting import Counted
from mfcomm.channels.framing import Framer
from mfcomm.channels.gnuradio import GnuRadioChannel
from mfcomm.channels.radio import AHEAD_SECONDS, RadioLink
from mfcomm.channels.radio_model import RadioEmulator, radio_model
from mfcomm.errors import ChannelError

ALPHA = 1e-6
"""Each statistical check's probability of failing a correct link."""
RATE = 1e6
OWN = 1 / math.sqrt(2)
"""Half the QPSK constellation's minimum distance: a received symbol nearer than this to the one sent decides it.
A burst given another example's observation puts, in each position, another random QPSK symbol, at least
``sqrt(2)`` away with probability 3/4: a mix-up of 64 symbols passes this by chance with probability 4**-64."""
CLOSE = 0.25
"""At Es/N0 = 40 dB the noise on a synchronised symbol has standard deviation 0.01: a symbol further than 0.25 from
the one sent (25 standard deviations) is not a clean observation of it (measured largest: 0.044)."""


def qpsk(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(1j * np.pi / 4 * (2 * rng.integers(0, 4, n) + 1)).astype(np.complex64)


def emulated(payload: int = 64, max_latency: float = 1.0, timeout: float = 20.0, **keys: float):
    """A RadioLink (sync fine, sps 4, guard 128) on a RadioEmulator with the emulator keys ``keys``; the sends the
    link made (each call's samples), and the bursts it took apart: (id, stream index, payload or None if
    damaged)."""
    model, _ = radio_model(keys, RATE)
    radio = RadioEmulator(model)
    framer = Framer(payload=payload, sync="fine", sps=4, guard=128, radio=True)
    link = RadioLink(framer, radio, RATE, max_latency, timeout, "radio")
    sends: list[int] = []
    send = radio.send

    def recording_send(samples: np.ndarray, deadline: float) -> None:
        sends.append(len(samples))
        send(samples, deadline)

    radio.send = recording_send  # type: ignore[method-assign]
    bursts: list[tuple[int, int, bool]] = []
    take_apart = link._bursts

    def recording_bursts():
        done = take_apart()
        bursts.extend((burst_id, t, payload is None) for burst_id, t, payload in done)
        return done

    link._bursts = recording_bursts  # type: ignore[method-assign]
    return link, radio, sends, bursts


def knob_draws(seed: int, sends: int) -> np.ndarray:
    """The test knobs' draws (loss, repeat, delay) of the emulator's first ``sends`` send() calls, as it draws them
    (PCG64 seeded with ``seed + 2``, three per call)."""
    return np.random.default_rng(seed + 2).random((sends, 3))


# --- no example is ever given an observation that is not its own --------------------------------------------------


def test_every_output_is_its_own_input_through_lost_repeated_and_delayed_bursts():
    """Lost, repeated and delayed bursts (0.2 each per send), 12 calls of 640 distinct random QPSK symbols (10
    bursts each): every symbol comes back within CLOSE of the one sent in its own position. Measured (seed 3):
    169 sends (the knobs dropped 28, repeated 45, delayed 32), bursts_lost 49, bursts_stale 59, largest distance
    0.044."""
    seed, payload = 3, 64
    link, radio, sends, _ = emulated(
        payload, snr_db=40, overflow=0, burst_loss=0.2, burst_repeat=0.2, burst_delay=0.2, seed=seed
    )
    rng = np.random.default_rng(0)
    pieces = 0
    for _ in range(12):
        x = qpsk(rng, 640)
        y = link(x)
        assert y.shape == x.shape and y.dtype == np.complex64
        assert np.abs(y - x).max() < CLOSE, np.abs(y - x).max()
        pieces += len(x) // payload
    c = link.counters
    draws = knob_draws(seed, len(sends)) < 0.2
    dropped, repeated, delayed = draws.sum(axis=0)
    assert dropped > 0 and repeated > 0 and delayed > 0  # the knobs fired
    assert c["bursts_lost"] >= dropped > 0  # each dropped burst is lost (and others, overtaken by a later one)
    assert c["bursts_resent"] > 0 and c["bursts_stale"] > 0 and c["false_detections"] == 0
    assert c["bursts_sent"] == len(sends) == pieces + c["bursts_resent"]
    assert c["symbols_resent"] == payload * c["bursts_resent"]
    assert c["bursts_resent"] == c["bursts_lost"]  # every lost burst's piece was sent again, the calls completed
    assert radio.sent == sum(sends)


def test_every_output_is_its_own_input_through_overflows():
    """Blocks of 1024 received samples dropped with probability 0.05, bursts of 256 symbols (1780 samples): every
    symbol decided as the one sent in its own position; bursts damaged by a drop are found by their postamble and
    sent again, not returned. Measured (seed 1): 9 blocks of 171 dropped, 3 bursts damaged, bursts_lost 8,
    largest distance 0.086."""
    payload = 256
    link, radio, sends, bursts = emulated(payload, snr_db=40, overflow=0.05, overflow_block=1024, seed=1)
    rng = np.random.default_rng(0)
    pieces = 0
    for _ in range(10):
        x = qpsk(rng, 1280)
        y = link(x)
        assert y.shape == x.shape
        assert np.abs(y - x).max() < OWN, np.abs(y - x).max()
        pieces += len(x) // payload
    c = link.counters
    damaged = sum(broken for _, _, broken in bursts)
    assert radio.dropped > 0 and c["bursts_lost"] > 0
    assert damaged > 0 and c["bursts_lost"] >= damaged
    assert c["bursts_sent"] == len(sends) == pieces + c["bursts_resent"]


def test_overflow_never_splices_two_bursts_into_one_observation():
    """As above with frames of exactly ``overflow_block`` samples (payload 67: 4 * (62 + 32 + 67 + 47) + 64 + 128
    = 1024) and the drops landing in the payloads (latency 2.6 ms places the block boundaries there)."""
    payload = 67
    link, _, _, _ = emulated(payload, snr_db=40, overflow=0.05, overflow_block=1024, seed=1, latency=0.0026)
    assert len(link.framer.frame(np.zeros(32 + payload, np.complex64))) == 1024
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = qpsk(rng, 20 * payload)
        y = link(x)
        assert np.abs(y - x).max() < OWN, np.abs(y - x).reshape(-1, payload).max(axis=1).round(2)


# --- counters and channel uses -----------------------------------------------------------------------------------


def test_counted_radio_channel_counts_resent_symbols_as_uses():
    ch = GnuRadioChannel(radio=True, engine="python", snr_db=30, burst_loss=0.2, payload=128, seed=2, timeout=20)
    counted = Counted(ch)
    rng = np.random.default_rng(1)
    sent = 0
    for _ in range(4):
        x = torch.from_numpy(qpsk(rng, 4 * 256).reshape(4, 256))
        y = counted(x)
        assert y.shape == x.shape and y.dtype == torch.complex64
        assert (y - x).abs().max() < CLOSE
        sent += x.numel()
        assert counted.uses == sent + ch.counters["symbols_resent"]
        assert counted.counters.keys() == ch.counters.keys()
        for key, value in ch.counters.items():
            assert counted.counters[key] == pytest.approx(value, rel=1e-12), key  # air_seconds: sums of floats
    assert ch.counters["bursts_resent"] > 0 and ch.counters["symbols_resent"] == 128 * ch.counters["bursts_resent"]
    state = counted.state_dict()
    resumed = Counted(GnuRadioChannel(radio=True, engine="python", snr_db=30, payload=128, seed=5, timeout=20))
    resumed.load_state_dict(state)
    assert resumed.uses == counted.uses and resumed.counters == counted.counters
    assert resumed.state_dict() == state
    counted.counters["bursts_sent"] += 1  # the state is a copy
    assert state["counters"]["bursts_sent"] == resumed.counters["bursts_sent"] == ch.counters["bursts_sent"]
    x = torch.from_numpy(qpsk(rng, 512).reshape(1, 512))
    resumed(x)
    assert resumed.uses == state["uses"] + 512 + resumed.channel.counters["symbols_resent"]
    assert resumed.counters["bursts_sent"] == state["counters"]["bursts_sent"] + resumed.channel.counters["bursts_sent"]


# --- symbol error rate through the emulator's default impairments -------------------------------------------------


def test_symbol_error_rate_at_8_db_within_1_db_of_the_closed_form():
    """QPSK at Es/N0 = 8 dB, sps 4, the emulator's default impairments (1e-3 cycles/sample, 20 ppm, DC, IQ
    imbalance, 0.2% overflow): the SER's Clopper-Pearson interval (ALPHA two-sided; symbol errors taken as
    independent) holds a value in ``[P, 1.25 P]``, ``P = 2Q(sqrt(Es/N0)) - Q(sqrt(Es/N0))**2`` = 1.197e-2 the
    coherent receiver's: no receiver beats ``P``, and 1.25 P is an implementation loss of about 0.4 dB. Measured
    (seed 0): 598 errors in 51200 symbols, 1.168e-2, ratio 0.98."""
    snr_db = 8.0
    ch = GnuRadioChannel(radio=True, engine="python", snr_db=snr_db, timeout=30)
    rng = np.random.default_rng(0)
    errors = n = 0
    for _ in range(10):
        k = rng.integers(0, 4, (10, 512))
        x = torch.from_numpy(np.exp(1j * np.pi / 4 * (2 * k + 1)).astype(np.complex64))
        y = ch(x).numpy()
        decided = np.round((np.angle(y) / (np.pi / 4) - 1) / 2).astype(int) % 4
        errors += int((decided != k).sum())
        n += k.size
    q = float(norm.sf(math.sqrt(10 ** (snr_db / 10))))
    p = 2 * q - q * q
    assert p == pytest.approx(1.1973e-2, rel=1e-3)
    lo = float(beta.ppf(ALPHA / 2, errors, n - errors + 1))
    hi = float(beta.isf(ALPHA / 2, errors + 1, n - errors))
    assert lo <= 1.25 * p and hi >= p, (errors, n, errors / n / p, (lo / p, hi / p))


# --- faults -------------------------------------------------------------------------------------------------------

FAULTS = {
    "stopped": ({"stall_after": 0.05, "timeout": 5}, ("receive stream stopped", "stall_after")),
    "saturates": ({"gain_db": 10, "timeout": 2}, ("saturates", "lower the receive gain")),
    "no burst": ({"snr_db": -30, "gain_db": -50, "timeout": 2}, ("no burst found", "gain", "frequency")),
}
"""Stage keys that cause each fault, and words its message must hold. ``stall_after``: the stream stops after 0.05 s
of air, noticed after STALL_SECONDS = 2 s of wall-clock without samples (timeout 5 s, so the stall is seen first);
``gain_db = 10``: the noise stays below full scale but bursts (rms 0.5 * 3.16) clip; ``snr_db = -30`` with
``gain_db = -50``: noise of rms 0.1, far from full scale, bursts 30 dB under it."""


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_one_channel_error_line(fault):
    keys, words = FAULTS[fault]
    ch = GnuRadioChannel(radio=True, engine="python", **keys)
    x = torch.from_numpy(qpsk(np.random.default_rng(0), 2048).reshape(4, 512))

    def calls() -> None:
        for _ in range(20):
            ch(x)

    with pytest.raises(ChannelError) as err:
        calls()
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"channel {ch.name}: ")
    what = message.removeprefix(f"channel {ch.name}: ")  # the name holds the keys (stall_after=0.05, ...)
    assert all(word in what for word in words), message
    assert ch.transport is None and ch.link is None  # closed: the next call starts a fresh emulator


def test_latency_beyond_max_latency_is_named():
    ch = GnuRadioChannel(radio=True, engine="python", latency=0.05, max_latency=0.01, timeout=2)
    x = torch.from_numpy(qpsk(np.random.default_rng(0), 2048).reshape(4, 512))
    with pytest.raises(ChannelError) as err:
        ch(x)
    message = str(err.value)
    assert "\n" not in message
    assert "beyond max_latency" in message.removeprefix(f"channel {ch.name}: "), message  # the name holds max_latency


@pytest.mark.parametrize("keys", [{"sps": 1}, {"sync": "none"}, {"sync": "gain"}])
def test_the_stage_refuses_radio_without_timing_or_frequency_sync(keys):
    with pytest.raises(ChannelError) as err:
        GnuRadioChannel(radio=True, engine="python", **keys)
    message = str(err.value)
    assert "\n" not in message and "radio=true needs sps >= 2" in message and "sync=cfo or sync=fine" in message


def test_the_link_refuses_a_framer_that_is_not_a_radio_s():
    model, _ = radio_model({}, RATE)
    for framer in (Framer(sps=4), Framer(sps=4, radio=True, sync="none")):
        with pytest.raises(ChannelError, match="radio=true needs sync=cfo or sync=fine"):
            RadioLink(framer, RadioEmulator(model), RATE, 1.0, 2.0, "radio")


# --- pacing -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("samp_rate", [1e6, 2e5])
def test_the_transmit_queue_never_holds_more_than_ahead_seconds_and_a_burst(samp_rate):
    """After every send the emulator's transmit queue holds at most AHEAD_SECONDS of air and one burst (the leaky
    bucket lets a burst go whenever the queue is below AHEAD_SECONDS); the bound is reached (the pacing acts).
    Measured largest queue (seed 0, 60 bursts of 2804 samples): 19848 samples at 1 MS/s (bound 22804), 2804 at
    200 kS/s (bound 6804: there AHEAD_SECONDS holds less than two bursts, so one goes at a time)."""
    model, _ = radio_model({"snr_db": 30}, samp_rate)
    radio = RadioEmulator(model)
    framer = Framer(payload=512, sync="fine", sps=4, guard=128, radio=True)
    link = RadioLink(framer, radio, samp_rate, 1.0, 20.0, "radio")
    queued, longest = [], 0
    send = radio.send

    def recording_send(samples: np.ndarray, deadline: float) -> None:
        nonlocal longest
        send(samples, deadline)
        queued.append(radio.queued)
        longest = max(longest, len(samples))

    radio.send = recording_send  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = qpsk(rng, 20 * 512)
        assert np.abs(link(x) - x).max() < OWN
    bound = AHEAD_SECONDS * samp_rate + longest
    assert max(queued) <= bound, (max(queued), bound)
    assert max(queued) >= AHEAD_SECONDS * samp_rate / 2, (max(queued), bound)
    assert len(queued) == link.counters["bursts_sent"] >= 60


# --- a training through the radio ---------------------------------------------------------------------------------


@pytest.mark.integration  # a training through the radio
def test_training_through_the_radio_reports_its_bursts_and_leaves_probes_out():
    """metrics.csv rows and summary.json carry the counters; channel uses are AWGN's for the same training plus the
    resent symbols; the SER probes' bursts (4 a probe here) are not training's: bursts sent less resent is one per
    training call (512 symbols, one burst)."""
    from mfcomm.config.files import configure
    from mfcomm.experiment import runs

    common = {"messages": 16, "channel_uses": 2, "iterations": 12, "batch_size": 256, "candidates": 1}
    probes = {"ser_every": 4, "log_every": 2, "ser_messages": 1024, "finetune_iterations": 0}
    channel = "gnuradio(radio=true,engine=python,snr_db=20)"
    radio = configure(overrides={**common, **probes, "channel": channel, "compare_baseline": False})
    run = runs.train(radio, quiet=True)  # evaluated (100,000 messages): not counted either
    awgn = runs.train(configure(overrides={**common, **probes, "snr_db": 20.0}), quiet=True, evaluate=False)
    c = run.channel_counters
    assert run.channel_uses_spent == awgn.channel_uses_spent + c["symbols_resent"]
    assert c["bursts_sent"] - c["bursts_resent"] == awgn.channel_uses_spent // 512
    assert all("bursts_sent" in row for row in run.metrics)
    summary = runs.summary(run)
    assert summary["bursts_lost"] == c["bursts_lost"] and 0 < summary["duty_cycle"] == pytest.approx(
        c["air_seconds"] / run.train_seconds
    )


@pytest.mark.integration  # a training through the radio
def test_a_radio_that_stops_mid_run_keeps_the_last_checkpoint_and_resume_continues(tmp_path):
    """The receive stream stops after 0.1 s of air (12 training calls, on the emulator's virtual clock): one
    ChannelError line naming the stop and the last good checkpoint (iteration 10), which is on disk; a resumed
    training (a fresh emulator) goes on from it to the end."""
    from mfcomm.config.files import configure
    from mfcomm.experiment import runs
    from mfcomm.learning import checkpointing

    channel = "gnuradio(radio=true,engine=python,snr_db=20,stall_after=0.1)"
    cfg = configure(
        overrides={
            "messages": 16,
            "channel_uses": 2,
            "iterations": 20,
            "batch_size": 256,
            "candidates": 1,
            "checkpoint_every": 5,
            "finetune_iterations": 0,
            "log_every": 1,
            "channel": channel,
            "channel_timeout": 5.0,
        }
    )
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(ChannelError) as err:
        runs.train(cfg, quiet=True, evaluate=False, checkpoint=path)
    message = str(err.value)
    assert "\n" not in message and "stream stopped" in message and f"last good checkpoint: {path}" in message
    saved = checkpointing.read(path)["iteration"]
    assert saved == 10
    run = runs.train(cfg, quiet=True, evaluate=False, checkpoint=path, resume=True)
    iterations = [row["iteration"] for row in run.metrics]
    assert iterations[-1] == 20 and iterations == sorted(set(iterations))  # no iteration twice, none lost
    assert iterations[saved] == saved + 1  # the rows after the checkpoint are the resumed run's
