"""The fields of a training run's configuration: the :class:`Config` dataclass, its defaults and derived values.

Plain data: nothing here reads a file, checks a range or touches the machine, and importing it loads no torch
(``mfcomm --help`` builds its options here). Each field is declared once, by :func:`~mfcomm.config.option.option`.

Example
-------
>>> cfg = Config(messages=16, channel_uses=2, snr_db=10.0)
>>> cfg.bits, cfg.tx_batch, round(cfg.exploration_sigma2, 3)
(4.0, 1024, 0.075)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from mfcomm.config.option import LAYERS_MAX, LOOP_MAX, SEED_MAX, TIMEOUT_MAX, WIDTH_MAX, option


@dataclass
class Config:
    """Hyper-parameters of one run, in three groups: the system, its training, the evaluation after training.
    Units: SNRs in dB, learning rates per step, batches in messages."""

    task: str = option(
        "symbols",
        choices=("symbols", "bits", "ofdm"),
        help="symbols: M messages, SER; bits: a constellation, coded BER (docs/bitwise.md); ofdm: docs/ofdm.md",
    )
    """``symbols``: one of M messages per block of n channel uses, cross-entropy, SER; ``bits``: a learned
    constellation of ``2**bits_per_symbol`` points and a neural demapper, per-bit BCE, the BMD rate and the
    coded BER/BLER of an outer LDPC code (defaults: ``BITS_DEFAULTS``, Sionna's autoencoder tutorial); ``ofdm``: the
    bits task's constellation on an OFDM resource grid, a convolutional receiver over it (``OFDM_DEFAULTS``)."""
    method: str = option("model-free", choices=("model-free", "model-based"), help="model-based: by back-propagation")
    """``model-free`` (the paper's alternating algorithm) or ``model-based`` (back-propagation)."""
    channel: str = option(
        "awgn", help="awgn, rbf, a chain such as 'rapp(p=2) | awgn | adc(bits=3)' (docs/channels.md), or PATH.py:FUNC"
    )
    """``awgn``, ``rbf`` (Rayleigh block fading), an impairment chain such as ``rapp(p=2,sat=1.2) | awgn |
    adc(bits=3)`` (see :mod:`mfcomm.channels.chain`) or a user black box ``PATH.py:FUNC``."""
    messages: int = option(16, 2, 65536, help="M, number of messages")
    """M, the number of messages."""
    channel_uses: int = option(2, 1, 1024, help="n, channel uses per message")
    """n, complex (or, with real signalling, real) channel uses per message."""
    snr_db: float | None = option(None, -100.0, 100.0, help="Es/N0 in dB (default: 10)")
    """Es/N0 in dB for ``awgn``, ``rbf`` and chains with such a stage. Default 10 dB when neither this nor
    ``ebno_db`` is set."""
    ebno_db: float | None = option(None, -100.0, 100.0, help="Eb/N0 in dB, or a range A:B (bits task on awgn)")
    """Eb/N0 in dB (information bits: ``bits * code_rate`` per message), the alternative to ``snr_db``."""
    ebno_db_max: float | None = option(None, -100.0, 100.0, flag=False)
    """Bits task on ``awgn``: each codeword's Eb/N0 is drawn uniformly from ``ebno_db`` to this."""
    bits_per_symbol: int | None = option(None, 1, 12, help="b bits per symbol, 2^b points")
    """Bits task: b bits per symbol, ``2**b`` constellation points (M = 2^b messages, n = 1)."""
    code_rate: float = option(1.0, 0.0, 1.0, "(]", help="outer code rate: Eb/N0 counts information bits")
    """Rate of the outer code: Eb/N0 counts ``bits * code_rate`` information bits per message; the bits and OFDM
    tasks evaluate Sionna's 5G LDPC code of this rate."""
    codeword_bits: int | None = option(None, 1, 2**20, help="coded bits per codeword")
    """Bits task: coded bits per codeword, a multiple of ``bits_per_symbol``; a batch row is one codeword."""
    subcarriers: int | None = option(None, 1, 4096, help="OFDM task: subcarriers, the FFT size (default 72)")
    ofdm_symbols: int | None = option(None, 1, 140, help="OFDM task: OFDM symbols per slot (default 14)")
    pilots: str | None = option(None, choices=("kronecker", "single", "none"), help="OFDM task: pilot pattern")
    """OFDM task: pilots on OFDM symbols 2 and 11 (``kronecker``, the default), on symbol 2 (``single``), or none."""
    domain: str | None = option(None, choices=("frequency", "time"), help="OFDM task: where the channel acts")
    """OFDM task: the channel's stages act on the grid (``frequency``, the default) or on the OFDM-modulated samples."""
    signalling: str = option("complex", choices=("complex", "real"), help="real: n real channel uses")
    """``complex`` or ``real`` (n real channel uses, for AE(7,4) versus Hamming(7,4))."""
    normalization: str = option(
        "average", choices=("average", "per-message"), help="unit energy per symbol: on average, or of each message"
    )
    """``average``: mean energy per symbol is 1 over all M messages; ``per-message``: each ||x_m||^2 = n."""
    tx_hidden: list[int] = option([], 1, WIDTH_MAX, items=LAYERS_MAX, flag=False)
    """Hidden layer widths of the transmitter after its message embedding (empty: a learned codebook)."""
    rx_hidden: list[int] = option([128, 128], 1, WIDTH_MAX, items=LAYERS_MAX, flag=False)
    """Hidden layer widths of the receiver's classifier (OFDM task: the residual blocks' channels, all equal)."""
    equalizer: str = option("auto", choices=("auto", "on", "off"), help="channel equaliser (auto: on but for awgn)")
    """Receiver channel estimate and equaliser (radio transformer): ``on``, ``off``, or ``auto``
    (on for every channel but AWGN)."""
    init: str = option(
        "classical", help="random, classical (the same-rate codebook) or RUN_DIR (an earlier run with the same M and n)"
    )
    """Where training starts: ``random``, ``classical`` (the same-rate classical codebook of
    :mod:`mfcomm.system.baselines`), or a run directory with the same M and n (both start from its weights)."""
    recipe: str = option("default", choices=("default", "paper"), help="paper: the paper's Algorithm 1 as published")
    """``default``: the best measured recipe (the defaults below; docs/getting-good-systems.md gives the
    evidence); ``paper``: Ait Aoudia & Hoydis' Algorithm 1 as published (:data:`~mfcomm.config.recipes.PAPER_RECIPE`:
    random start, one receiver and one transmitter step per iteration, a fixed sigma2 = 0.1, constant learning
    rates, no fall-back to the classical system). Options given explicitly override either."""
    iterations: int = option(2000, 1, LOOP_MAX, help="outer training iterations")
    """Outer iterations: model-free, ``rx_steps`` receiver then ``tx_steps`` transmitter steps; model-based,
    one joint step."""
    seed: int = option(0, 0, SEED_MAX, help="seed of every random draw of the run")
    batch_size: int = option(1024, 1, 2**24, help="messages per step")
    lr_schedule: str = option("cosine", choices=("constant", "cosine"), help="learning rates over the iterations")
    """``constant`` or ``cosine``: learning rates decay along a half cosine to ``lr_final_ratio`` times their
    start over the iterations (fine-tuning continues at the final rate)."""
    lr_final_ratio: float = option(0.05, 0.0, 1.0, "(]", help="final over initial learning rate (cosine schedule)")
    """Final learning rate over initial one with the ``cosine`` schedule."""
    tx_warmup: int = option(200, 0, LOOP_MAX, help="iterations of the transmitter's learning-rate ramp from 0")
    """Iterations over which the transmitter's learning rate ramps up from 0, so that the starting code stays
    in place while the (random) receiver learns to read it."""
    candidates: int = option(1, 1, 64, help="systems trained briefly; training goes on from the best (1: none)")
    """Candidate systems trained for ``candidate_iterations`` each before the main training, which goes on
    from the one with the lowest SER on fresh held-out messages (:mod:`mfcomm.experiment.candidates`); 1: none."""
    candidate_iterations: int = option(500, 1, LOOP_MAX, help="iterations each candidate trains before the selection")
    """Iterations each candidate trains before the selection."""
    selection_messages: int = option(65536, 1024, LOOP_MAX, flag=False)
    """Fresh messages each candidate is scored on (sent through the channel: they count as channel uses)."""
    keep_best: bool = option(True, flag=False)
    """After training, keep the classical codebook (with a receiver trained for it) when it beats the trained
    system beyond both 95% intervals on fresh messages; ``summary.json`` says which was kept."""
    patience: int = option(1000, 0, LOOP_MAX, help="iterations without a 1% better held-out loss: converged (0: off)")
    """Convergence: the held-out loss has reached a plateau once this many iterations pass without it
    improving by 1% (:mod:`mfcomm.learning.stop_rule`); ``summary.json`` says whether and where. 0: not watched."""
    stop_early: bool = option(False, help="end training once it has converged (--iterations stays the cap)")
    """End the main loop at the plateau (``iterations`` stays the cap). Off by default: the cosine decay
    still gains after a plateau at the initial learning rate."""
    rx_lr: float = option(1e-2, 0.0, 10.0, "(]", help="receiver learning rate")
    """Receiver learning rate (Adam); also the joint learning rate of model-based training."""
    rx_lr_final: float | None = option(None, 0.0, 10.0, "(]", help="receiver's rate at the end of fine-tuning")
    """If set, the receiver's learning rate decays geometrically from ``rx_lr`` to this over fine-tuning."""
    tx_lr: float = option(1e-2, 0.0, 10.0, "(]", help="transmitter learning rate")
    sigma2: float | None = option(None, 0.0, 1.0, "()", help="perturbation variance, 0 < sigma2 < 1 (model-free)")
    """Variance of the transmitter's Gaussian perturbation, 0 < sigma2 < 1 (model-free only). Default:
    tied to the code's geometry and the channel, a constant times the squared minimum distance of a
    square-QAM-like code of the same rate: 0.075 for M=16, n=2 on ``awgn`` or ``rbf``, 0.05 through a chain or
    a black box (see :func:`mfcomm.config.recipes.geometric_sigma2`)."""
    sigma2_final: float | None = option(None, 0.0, 1.0, "()", help="decay sigma2 geometrically to this value")
    """If set, sigma2 decays geometrically from ``sigma2`` to this over the iterations (Theorem 1: wide
    early for low variance, narrow late for low bias)."""
    tx_batch_size: int | None = option(None, 2, 2**24, help="messages per transmitter step (default: --batch-size)")
    """Messages per transmitter step (default ``batch_size``)."""
    perturbations: int = option(1, 1, 1024, help="perturbations per message in a transmitter step")
    """K perturbations per message in a transmitter step (K * tx_batch_size channel transmissions)."""
    antithetic: bool = option(False, help="antithetic perturbation pairs")
    """Send perturbations in antithetic pairs (w, -w); needs an even ``perturbations``."""
    loss_baseline: str = option(
        "batch", choices=("none", "batch", "message", "running"), help="subtracted from fed-back losses"
    )
    """Subtracted from fed-back losses: ``none`` (the paper), ``batch`` (leave-one-out batch mean),
    ``message`` (mean of the other perturbations of the same message), ``running`` (per-message average)."""
    feedback: str = option("perfect", choices=("perfect", "noisy", "quantized"), help="feedback link for the losses")
    """Feedback link for the losses: ``perfect``, ``noisy`` (additive Gaussian), ``quantized``."""
    feedback_bits: int = option(1, 1, 16, help="bits per loss with --feedback quantized")
    """Bits per loss with ``quantized`` feedback."""
    feedback_cells: str = option(
        "quantile", choices=("quantile", "uniform"), help="quantizer cells: uniform over [min, max] or equal counts"
    )
    """Cells of ``quantized`` feedback: ``quantile`` (equal counts, each loss sent as its cell's mean) or ``uniform``
    (equal widths over [min, max], midpoints); see :mod:`mfcomm.learning.feedback`."""
    feedback_noise: float = option(0.1, 0.0, 100.0, help="noise std per loss with --feedback noisy")
    """Standard deviation of the noise added to each loss with ``noisy`` feedback."""
    feedback_loss: float = option(0.0, 0.0, 1.0, "[)", help="probability that a frame of fed-back losses is lost")
    """Probability that the link loses a frame of losses; a step uses those that arrive (see ``feedback_frame``)."""
    feedback_frame: int = option(256, 0, 2**24, help="losses per feedback frame (0: one frame per step)")
    """Losses per frame of the feedback link (rounded down to whole messages); 0: a step's losses in one frame."""
    feedback_delay: int | None = option(
        None, 0, 4096, help="transmitter steps between sending an example and its loss's arrival (default: 0, nodes 2)"
    )
    """K, transmitter updates between sending an example and receiving its loss: 0 if unset, 2 for ``mfcomm node``."""
    stale_correction: str = option(
        "auto", choices=("auto", "none", "importance"), help="correction of late losses for the policy's move"
    )
    """Late losses corrected for the policy's move since: ``importance`` weights pi_now / pi_sent, ``none``, or
    ``auto`` (none up to K = 32, importance beyond: what measured best, :mod:`mfcomm.learning.delay`)."""
    stale_clip: float = option(2.0, 1.0, 1e6, help="largest importance weight of a late loss")
    """Truncation of the importance weights of ``stale_correction = importance``."""
    rx_steps: int = option(0, 0, 1000, help="receiver steps per model-free iteration")
    """Receiver steps per model-free iteration."""
    rx_on_tx_batch: bool = option(True, help="the receiver also learns from the transmitter steps' transmissions")
    """The receiver also learns from the transmitter steps' (perturbed) transmissions, whose messages it
    knows: every transmission then trains both networks. Pair with ``rx_steps = 0`` to halve the channel
    uses of an iteration, and with a ``sigma2_final`` and fine-tuning so the receiver ends on clean symbols."""
    tx_steps: int = option(1, 1, 1000, help="transmitter steps per model-free iteration")
    finetune_iterations: int = option(0, 0, LOOP_MAX, help="receiver-only steps after model-free training")
    log_every: int = option(10, 1, LOOP_MAX, help="iterations between rows of metrics.csv")
    ser_every: int = option(0, 0, LOOP_MAX, flag=False)
    """Iterations between SER measurements during training (65,536 fresh messages each, not counted as
    channel uses spent); 0: none. Gives ``metrics.csv`` a ``ser`` column and the SER learning curve."""
    ser_messages: int = option(65536, 1024, LOOP_MAX, flag=False)
    """Fresh messages per SER measurement during training."""
    device: str = option("cpu", help="cpu or cuda")
    threads: int = option(0, 0, 1024, help="CPU threads torch runs on (0: as many as torch picks, the cores)")
    """CPU threads torch runs on while the run trains and is measured; torch's reductions depend on it, so a
    sweep writes its trials' (1 on the CPU) into their ``config.toml``. 0: torch's own choice."""
    channel_timeout: float = option(60.0, 0.0, TIMEOUT_MAX, help="seconds a black-box call may take (0: no limit)")
    """Seconds a user's black-box channel may take for one call before training stops (0: no limit)."""
    checkpoint_every: int = option(500, 0, LOOP_MAX, help="iterations between checkpoints (0: none)")
    """Iterations between checkpoints (``checkpoint.pt`` in the run directory: the whole training state, kept if
    training stops on an error or a signal, and resumed with ``mfcomm train --resume``); 0: none. A multiple
    of ``log_every``."""
    eval_messages: int = option(100_000, 100_000, 10**12, flag=False)
    """Fresh messages for the final SER (at least 100,000; more until ``eval_target_errors``)."""
    eval_target_errors: int = option(1000, 1, LOOP_MAX, flag=False)
    eval_max_messages: int = option(10_000_000, 100_000, 10**12, flag=False)
    eval_ebno_db: list[float] = option([], -100.0, 100.0, items=200, flag=False)
    """Bits task: the Eb/N0 points of the BMD rate in ``summary.json``."""
    compare_baseline: bool = option(True, flag=False)
    """After training, measure the same-rate classical system (:mod:`mfcomm.evaluation.reference`) through the same
    channel at the same SNR and report it in ``summary.json``: closed form or ML detection where the channel
    is a known model (no channel uses), else a receiver trained on the classical codebook (its channel uses
    are reported). ``--no-baseline`` turns it off."""

    @property
    def bits(self) -> float:
        """k = log2(M) bits per message."""
        return math.log2(self.messages)

    @property
    def symbols(self) -> int:
        """Bits task: symbols per codeword."""
        return (self.codeword_bits or 0) // (self.bits_per_symbol or 1)

    @property
    def info_bits(self) -> int:
        """Bits task: k, information bits per codeword of the outer code."""
        return round((self.codeword_bits or 0) * self.code_rate)

    @property
    def total_iterations(self) -> int:
        """Iterations of the whole training: the main loop, then (model-free) the receiver's fine-tuning."""
        return self.iterations + (self.finetune_iterations if self.method == "model-free" else 0)

    @property
    def delay(self) -> int:
        """K, the feedback delay in transmitter steps (``feedback_delay``, 0 when unset)."""
        return self.feedback_delay or 0

    @property
    def tx_batch(self) -> int:
        """Messages per transmitter step."""
        return self.tx_batch_size or self.batch_size

    @property
    def is_user_channel(self) -> bool:
        """A user's black box ``PATH.py:FUNC`` or channel object ``object:NAME`` (not built in, not a chain)."""
        from mfcomm.channels.spec import is_black_box

        return is_black_box(self.channel)

    @property
    def takes_snr(self) -> bool:
        """The channel adds the run's noise: ``awgn``, ``rbf`` or a chain with such a stage (the OFDM task: its own)."""
        from mfcomm.channels.spec import has_noise

        return self.task != "ofdm" and has_noise(self.channel)

    @property
    def resolved_snr_db(self) -> float | None:
        """Es/N0 in dB, from ``snr_db`` or ``ebno_db``; None for channels that bring their own noise."""
        from mfcomm.conventions import ebno_db_to_snr_db

        if not self.takes_snr:
            return None
        if self.ebno_db is not None:
            return ebno_db_to_snr_db(self.ebno_db, self.bits * self.code_rate, self.channel_uses)
        return self.snr_db

    @property
    def n0(self) -> float | None:
        """Noise variance per complex symbol (None for channels that bring their own noise)."""
        from mfcomm.conventions import ebno_db_to_n0, snr_db_to_n0

        if not self.takes_snr:
            return None
        if self.ebno_db is not None:
            return ebno_db_to_n0(self.ebno_db, self.bits * self.code_rate, self.channel_uses)
        assert self.snr_db is not None  # configure() sets snr_db when the channel takes the run's noise
        return snr_db_to_n0(self.snr_db)

    @property
    def exploration_sigma2(self) -> float:
        """sigma2 at the start of training: ``sigma2``, or tied to the code's geometry when unset."""
        if self.sigma2 is not None:
            return self.sigma2
        from mfcomm.channels.spec import known_model
        from mfcomm.config.recipes import geometric_sigma2

        linear = known_model(self.channel) is not None
        return geometric_sigma2(self.messages, self.channel_uses, self.signalling == "real", linear)

    @property
    def use_equalizer(self) -> bool:
        """Whether the receiver estimates and equalises the channel (``auto``: on for every channel but AWGN)."""
        return self.equalizer == "on" or (self.equalizer == "auto" and self.channel != "awgn")

    def to_dict(self) -> dict[str, Any]:
        """Every field, with None left out (TOML has no null)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


EVAL_BATCH = 1024
"""Messages per evaluation batch: small enough that activations stay in cache (about 2x faster on CPU
than 65,536 for a 128-128 receiver)."""

FIELDS = {f.name: f for f in dataclasses.fields(Config)}
"""Every field of :class:`Config` by name: the keys a config file and the overrides may hold."""
