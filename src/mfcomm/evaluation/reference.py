"""The classical reference beside every training result: the same-rate classical system of
:mod:`mfcomm.system.baselines`, measured through the run's channel at the run's SNR, so that ``summary.json`` says
whether learning beat the textbook.

How the baseline's SER is measured, cheapest and most exact first (``method``):

- ``closed form``: the exact SER of a per-symbol QAM/BPSK baseline on ``awgn`` (or, with one use, on ``rbf``
  with a coherent detector); no channel uses, its CI is ``[ser, ser]``.
- ``ML detection``: Monte Carlo with the baseline's own ML detector (PSK, Hamming(7,4), the pilot-aided code's
  non-coherent detector on ``rbf``) on the simulated ``awgn`` or ``rbf`` channel, with the run's evaluation
  budget (``eval_messages``, ``eval_target_errors``,
  ``eval_max_messages``); no channel uses of a real link.
- ``learned receiver``: on an impairment chain or a user's black box the ML detector is not known, so a
  fresh receiver of the run's architecture learns to detect the fixed classical codebook through the
  channel, with supervised receiver steps only, and is measured like the learned system. Its budget is
  fixed: ``cfg.iterations`` steps of ``cfg.batch_size`` messages at ``cfg.rx_lr`` (Adam), decayed along a
  half cosine to ``cfg.lr_final_ratio`` of it. That is as many receiver steps as model-based training
  gives its receiver and as the model-free main loop at its default one receiver step per iteration, on
  an easier problem (the codebook does not move), so the reference is not handicapped by a shorter
  training; the decay lets it settle. The symbols it sends are its cost (``channel_uses``).

On ``rbf`` the receiver is not told ``h``, and neither is the baseline's: it is the pilot-aided code of
:func:`mfcomm.system.baselines.pilot_baseline` with non-coherent ML detection. The coherent SER of the
per-symbol code, whose detector knows ``h``, is reported beside it as a bound (``coherent_ser``, ``note``).
Everything the baseline draws (messages, noise, the receiver's initial weights) comes from its own
generators, seeded from the run's seed, and torch's global generator is left as it was: a run trains the
same system with or without its baseline.

Example
-------
>>> from mfcomm.config.files import configure
>>> b = measure_baseline(configure(overrides={"messages": 16, "channel_uses": 2, "snr_db": 10.0}), quiet=True)
>>> b.name, b.method, f"{b.ser:.3g}", b.channel_uses
('QPSK x2', 'closed form', '0.00313', 0)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from mfcomm.channels.contract import Channel
from mfcomm.channels.counting import Counted
from mfcomm.channels.spec import has_fading, known_model, make_channel
from mfcomm.config.fields import EVAL_BATCH, Config
from mfcomm.evaluation.ser import SerEstimate, monte_carlo
from mfcomm.learning.examples import Symbols
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.model_free import descend
from mfcomm.learning.seeding import role_seed
from mfcomm.system.baselines import (
    Baseline,
    baseline_errors,
    classical_baseline,
    closed_form_ser,
    coherent_bound,
)
from mfcomm.system.build import build_receiver
from mfcomm.system.receiver import Receiver

CLOSED_FORM, ML_DETECTION, LEARNED_RECEIVER = "closed form", "ML detection", "learned receiver"
METHODS = (CLOSED_FORM, ML_DETECTION, LEARNED_RECEIVER)
"""How a baseline's SER is measured, see the module docstring."""

COHERENT_NOTE = "coherent detection (the detector knows h): a bound for a receiver that does not"
NONCOHERENT_NOTE = "non-coherent ML detection (the detector knows the fading's law, not h)"


@dataclass(frozen=True)
class BaselineResult:
    """The classical baseline's SER on the run's channel, how it was measured and what that cost.

    ``ser`` with its 95% CI ``[ci_low, ci_high]`` (equal to ``ser`` for a closed form); ``errors`` and
    ``messages`` of the Monte Carlo estimate (None for a closed form); ``channel_uses``: symbols sent to train
    a receiver (0 for a closed form or ML detection on a simulated channel); ``seconds``: wall time.
    """

    name: str
    method: str
    ser: float
    ci_low: float
    ci_high: float
    channel_uses: int = 0
    seconds: float = 0.0
    errors: int | None = None
    messages: int | None = None
    note: str | None = None
    coherent_ser: float | None = None
    """On ``rbf``: the per-symbol code's closed-form SER with a detector that knows ``h``, a bound."""
    receiver: Receiver | None = field(default=None, repr=False, compare=False)
    """The receiver trained on the fixed codebook (``learned receiver`` only), for :func:`mfcomm.experiment.runs.train`
    to keep when the classical system beats the trained one."""


def baseline_summary(result: BaselineResult | None) -> dict[str, Any]:
    """The ``baseline*`` keys of ``summary.json`` (all None when no baseline was measured)."""
    if result is None:
        return dict.fromkeys(
            (
                "baseline",
                "baseline_ser",
                "baseline_ci",
                "baseline_method",
                "baseline_channel_uses",
                "baseline_seconds",
                "baseline_eval_messages",
                "baseline_eval_errors",
                "baseline_note",
                "baseline_coherent_ser",
            )
        )
    return {
        "baseline": result.name,
        "baseline_ser": result.ser,
        "baseline_ci": [result.ci_low, result.ci_high],
        "baseline_method": result.method,
        "baseline_channel_uses": result.channel_uses,
        "baseline_seconds": round(result.seconds, 3),
        "baseline_eval_messages": result.messages,
        "baseline_eval_errors": result.errors,
        "baseline_note": result.note,
        "baseline_coherent_ser": result.coherent_ser,
    }


def choose_method(cfg: Config, baseline: Baseline) -> str:
    """The cheapest exact method for ``cfg``'s channel: closed form, ML detection, else a learned receiver."""
    model, n0 = known_model(cfg.channel), cfg.n0
    if model is None:
        return LEARNED_RECEIVER
    assert n0 is not None  # awgn and rbf take the run's noise
    return CLOSED_FORM if closed_form_ser(baseline, model, n0) is not None else ML_DETECTION


def measure_baseline(
    cfg: Config, channel: Channel | None = None, quiet: bool = False, method: str | None = None
) -> BaselineResult | None:
    """The classical baseline's SER on ``cfg``'s channel at ``cfg``'s SNR; None when ``cfg.compare_baseline``
    is off or no baseline exists for (M, n).

    ``channel``: the run's channel, used only for a user's black box (whose state, such as a radio, the run
    holds); simulated channels are rebuilt with the baseline's own generator. ``method`` forces one of
    :data:`METHODS` (default: :func:`choose_method`). ``quiet``: no progress bars.
    """
    if not cfg.compare_baseline:
        return None
    fading = has_fading(cfg.channel)
    baseline = classical_baseline(cfg.messages, cfg.channel_uses, cfg.signalling, fading, cfg.n0 or 1.0)
    if baseline is None:
        return None
    method = method or choose_method(cfg, baseline)
    model = known_model(cfg.channel)
    if method not in METHODS or (method != LEARNED_RECEIVER and model is None):
        raise ValueError(f"baseline method {method!r} does not apply to channel {cfg.channel!r}")
    note, coherent_ser = None, None
    if model == "rbf" and method != LEARNED_RECEIVER:
        note, coherent_ser = _coherent_bound(cfg, baseline)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # the global CPU stream is left as training and evaluation had it
        seed = role_seed(cfg.seed, "baseline")
        torch.default_generator.manual_seed(seed)  # the receiver's initial weights (CPU only: CUDA untouched)
        messages = torch.Generator().manual_seed(seed)
        if method == CLOSED_FORM:
            # checked above: a known model, awgn or rbf, which takes the run's noise
            assert model is not None and cfg.n0 is not None
            ser = closed_form_ser(baseline, model, cfg.n0)
            if ser is None:
                raise ValueError(f"no closed form for {baseline.name} on {cfg.channel!r}")
            ser = float(ser)
            seconds = time.perf_counter() - start
            result = BaselineResult(baseline.name, method, ser, ser, ser, 0, seconds, note=note)
            return dataclasses.replace(result, coherent_ser=coherent_ser)
        if method == ML_DETECTION:
            assert model is not None  # checked above
            simulated = make_channel(model, cfg.n0, torch.Generator().manual_seed(seed + 1))
            est = _monte_carlo(cfg, baseline_errors(baseline, simulated, messages), f"baseline {baseline.name}", quiet)
            return dataclasses.replace(_result(baseline, method, est, 0, start, note), coherent_ser=coherent_ser)
        device = torch.device(cfg.device)
        if channel is None or not cfg.is_user_channel:
            channel = make_channel(
                cfg.channel, cfg.n0, torch.Generator(device).manual_seed(seed + 1), timeout=cfg.channel_timeout or None
            )
        rx, uses = train_receiver(cfg, baseline.codebook.to(device), channel, messages, quiet)
        est = _monte_carlo(
            cfg,
            receiver_errors(rx, baseline.codebook.to(device), channel, messages),
            f"baseline {baseline.name}",
            quiet,
        )
        note = (
            f"ML detection unknown on this channel: a receiver of the run's architecture trained on the fixed "
            f"codebook ({cfg.iterations} steps of {cfg.batch_size} messages)"
        )
        return dataclasses.replace(_result(baseline, method, est, uses, start, note), receiver=rx)


def _coherent_bound(cfg: Config, baseline: Baseline) -> tuple[str, float | None]:
    """``note`` and ``coherent_ser`` of a baseline on ``rbf``: the per-symbol code with a detector that knows ``h``
    (the baseline itself where it is that code, with one use)."""
    assert cfg.n0 is not None  # rbf takes the run's noise
    bound = coherent_bound(cfg.messages, cfg.channel_uses, cfg.signalling, cfg.n0)
    if bound is None or bound[0].name == baseline.name:
        return COHERENT_NOTE, None if bound is None else bound[1]
    code, ser = bound
    told_h = "" if ser is None else f"; {code.name} with a detector that knows h: {ser:.3g} (a bound)"
    return NONCOHERENT_NOTE + told_h, ser


def train_receiver(
    cfg: Config, codebook: torch.Tensor, channel: Channel, generator: torch.Generator, quiet: bool = False
) -> tuple[Receiver, int]:
    """A fresh receiver of the run's architecture trained on the fixed ``codebook`` (M, n) complex64 through
    ``channel`` (supervised steps only, see the module docstring), and the symbols sent to train it.
    Messages come from ``generator`` (CPU); initial weights from torch's global generator."""
    rx = build_receiver(cfg, start=False)
    counted = Counted(channel)
    opt = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr)

    with tqdm(total=cfg.iterations, desc="baseline receiver", disable=quiet, unit="it", mininterval=0.5) as bar:
        for step in range(1, cfg.iterations + 1):
            set_rates(opt, [cfg.rx_lr], step, dataclasses.replace(cfg, lr_schedule="cosine"))
            m = Symbols(cfg.messages).draw(cfg.batch_size, "cpu", generator).to(codebook.device)
            with torch.no_grad():
                y = counted(codebook[m])
            loss = descend(opt, Symbols().loss(rx, y, m))
            if step % 100 == 0:
                bar.set_postfix(rx_loss=f"{float(loss):.4f}", refresh=False)
            bar.update()
    return rx.eval(), counted.uses


def receiver_errors(
    rx: Receiver, codebook: torch.Tensor, channel: Channel, generator: torch.Generator
) -> Callable[[int], int]:
    """Error counter for ``monte_carlo``, as :func:`mfcomm.evaluation.ser.learned_errors` counts but with the
    fixed ``codebook`` (M, n) and messages from ``generator`` (CPU)."""

    def count(batch: int) -> int:
        with torch.inference_mode():
            m = Symbols(len(codebook)).draw(batch, "cpu", generator).to(codebook.device)
            return int((rx(channel(codebook[m])).argmax(dim=1) != m).sum())

    return count


def _monte_carlo(cfg: Config, count: Callable[[int], int], desc: str, quiet: bool) -> SerEstimate:
    """SER with the run's evaluation budget, with a progress bar."""
    with tqdm(total=cfg.eval_messages, desc=desc, disable=quiet, unit="msg", unit_scale=True, mininterval=0.5) as bar:
        return monte_carlo(
            count, cfg.eval_target_errors, cfg.eval_messages, cfg.eval_max_messages, EVAL_BATCH, progress=bar.update
        )


def _result(
    baseline: Baseline, method: str, est: SerEstimate, uses: int, start: float, note: str | None
) -> BaselineResult:
    return BaselineResult(
        baseline.name,
        method,
        est.ser,
        est.ci_low,
        est.ci_high,
        uses,
        time.perf_counter() - start,
        est.errors,
        est.messages,
        note,
    )
