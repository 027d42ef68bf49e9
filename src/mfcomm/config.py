"""The one typed configuration of a training run: defaults, validation, TOML in and out.

A config is built once (defaults, then a TOML file, then command-line overrides), validated once by
:func:`validate`, and passed down. ``config.toml`` in a run directory holds every field, so
``mfcomm train --config DIR/config.toml`` reproduces the run. Every numeric field has a finite range
(:data:`BOUNDS`), and a batch and networks that cannot fit in memory are refused with the estimate. A config
file whose channel is Python code (``PATH.py:FUNC``) is refused unless the command line names that channel
too or passes ``--trust-config``: a run directory may come from someone else.

Example
-------
>>> cfg = resolve(overrides={"messages": 16, "channel_uses": 2, "snr_db": 10.0})
>>> cfg.bits, cfg.n0 > 0
(4.0, True)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from mfcomm import chain
from mfcomm.conventions import ebno_db_to_n0, ebno_db_to_snr_db, snr_db_to_n0
from mfcomm.errors import ConfigError

BUILTIN_CHANNELS = ("awgn", "rbf")
BASELINES = ("none", "batch", "message", "running")
FEEDBACK = ("perfect", "noisy", "quantized")
METHODS = ("model-free", "model-based")
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class Config:
    """Hyper-parameters of one run. Units: SNRs in dB, learning rates per step, batches in messages."""

    # --- the system -------------------------------------------------------------------------------
    method: str = "model-free"
    """``model-free`` (the paper's alternating algorithm) or ``model-based`` (back-propagation)."""
    channel: str = "awgn"
    """``awgn``, ``rbf`` (Rayleigh block fading), an impairment chain such as ``rapp(p=2,sat=1.2) | awgn |
    adc(bits=3)`` (see :mod:`mfcomm.chain`) or a user black box ``PATH.py:FUNC``."""
    messages: int = 16
    """M, the number of messages."""
    channel_uses: int = 2
    """n, complex (or, with real signalling, real) channel uses per message."""
    snr_db: float | None = None
    """Es/N0 in dB for ``awgn``, ``rbf`` and chains with such a stage. Default 10 dB when neither this nor
    ``ebno_db`` is set."""
    ebno_db: float | None = None
    """Eb/N0 in dB, the alternative to ``snr_db``."""
    signalling: str = "complex"
    """``complex`` or ``real`` (n real channel uses, for AE(7,4) versus Hamming(7,4))."""
    normalization: str = "average"
    """``average``: mean energy per symbol is 1 over all M messages; ``per-message``: each ||x_m||^2 = n."""
    tx_hidden: list[int] = field(default_factory=list)
    """Hidden layer widths of the transmitter after its message embedding (empty: a learned codebook)."""
    rx_hidden: list[int] = field(default_factory=lambda: [128, 128])
    """Hidden layer widths of the receiver's classifier."""
    equalizer: str = "auto"
    """Receiver channel estimate and equaliser (radio transformer): ``on``, ``off``, or ``auto``
    (on for every channel but AWGN)."""
    init: str = "classical"
    """Where training starts: ``random``, ``classical`` (the transmitter starts as the same-rate classical
    codebook of :mod:`mfcomm.baselines`), or a run directory with the same M and n (transmitter and
    receiver start from its weights: the sim-to-real path)."""

    # --- training ---------------------------------------------------------------------------------
    recipe: str = "default"
    """``default``: the best measured recipe (the defaults below; docs/getting-good-systems.md gives the
    evidence); ``paper``: Ait Aoudia & Hoydis' Algorithm 1 as published (``PAPER_RECIPE``: random start, one
    receiver and one transmitter step per iteration, a fixed sigma2 = 0.1, constant learning rates, no
    fall-back to the classical system).
    Options given explicitly override either."""
    iterations: int = 2000
    """Outer iterations: model-free, ``rx_steps`` receiver then ``tx_steps`` transmitter steps; model-based,
    one joint step."""
    seed: int = 0
    batch_size: int = 1024
    """Messages per step (receiver, transmitter and model-based steps alike)."""
    lr_schedule: str = "cosine"
    """``constant`` or ``cosine``: learning rates decay along a half cosine to ``lr_final_ratio`` times their
    start over the iterations (fine-tuning continues at the final rate)."""
    lr_final_ratio: float = 0.05
    """Final learning rate over initial one with the ``cosine`` schedule."""
    tx_warmup: int = 200
    """Iterations over which the transmitter's learning rate ramps up from 0, so that the starting code stays
    in place while the (random) receiver learns to read it."""
    candidates: int = 1
    """Candidate systems trained for ``candidate_iterations`` each before the main training, which goes on
    from the one with the lowest SER on fresh held-out messages (:mod:`mfcomm.candidates`); 1: none."""
    candidate_iterations: int = 500
    """Iterations each candidate trains before the selection."""
    selection_messages: int = 65536
    """Fresh messages each candidate is scored on (sent through the channel: they count as channel uses)."""
    keep_best: bool = True
    """After training, keep the classical codebook (with a receiver trained for it) when it beats the trained
    system beyond both 95% intervals on fresh messages; ``summary.json`` says which was kept."""
    patience: int = 1000
    """Convergence: the held-out loss has reached a plateau once this many iterations pass without it
    improving by 1% (:mod:`mfcomm.stop_rule`); ``summary.json`` says whether and where. 0: not watched."""
    stop_early: bool = False
    """End the main loop at the plateau (``iterations`` stays the cap). Off by default: the cosine decay
    still gains after a plateau at the initial learning rate."""
    rx_lr: float = 1e-2
    """Receiver learning rate (Adam); also the joint learning rate of model-based training."""
    tx_lr: float = 1e-2
    """Transmitter learning rate (Adam)."""
    sigma2: float | None = None
    """Variance of the transmitter's Gaussian perturbation, 0 < sigma2 < 1 (model-free only). Default:
    tied to the code's geometry, ``SIGMA2_PER_DMIN2`` times the squared minimum distance of a square-QAM-like
    code of the same rate (0.05 for M=16, n=2; see :func:`geometric_sigma2`)."""
    sigma2_final: float | None = None
    """If set, sigma2 decays geometrically from ``sigma2`` to this over the iterations (Theorem 1: wide
    early for low variance, narrow late for low bias)."""
    tx_batch_size: int | None = None
    """Messages per transmitter step (default ``batch_size``)."""
    perturbations: int = 1
    """K perturbations per message in a transmitter step (K * tx_batch_size channel transmissions)."""
    antithetic: bool = False
    """Send perturbations in antithetic pairs (w, -w); needs an even ``perturbations``."""
    loss_baseline: str = "batch"
    """Subtracted from fed-back losses: ``none`` (the paper), ``batch`` (leave-one-out batch mean),
    ``message`` (mean of the other perturbations of the same message), ``running`` (per-message average)."""
    feedback: str = "perfect"
    """Feedback link for the losses: ``perfect``, ``noisy`` (additive Gaussian), ``quantized``."""
    feedback_bits: int = 1
    """Bits per loss with ``quantized`` feedback."""
    feedback_noise: float = 0.1
    """Standard deviation of the noise added to each loss with ``noisy`` feedback."""
    rx_steps: int = 0
    """Receiver steps per model-free iteration."""
    rx_on_tx_batch: bool = True
    """The receiver also learns from the transmitter steps' (perturbed) transmissions, whose messages it
    knows: every transmission then trains both networks. Pair with ``rx_steps = 0`` to halve the channel
    uses of an iteration, and with a ``sigma2_final`` and fine-tuning so the receiver ends on clean symbols."""
    tx_steps: int = 1
    """Transmitter steps per model-free iteration."""
    finetune_iterations: int = 0
    """Receiver-only steps after the main loop (model-free only; model-based has no use for them)."""
    log_every: int = 10
    """Iterations between rows of ``metrics.csv``."""
    ser_every: int = 0
    """Iterations between SER measurements during training (65,536 fresh messages each, not counted as
    channel uses spent); 0: none. Gives ``metrics.csv`` a ``ser`` column and the SER learning curve."""
    ser_messages: int = 65536
    """Fresh messages per SER measurement during training."""
    device: str = "cpu"
    channel_timeout: float = 60.0
    """Seconds a user's black-box channel may take for one call before training stops (0: no limit)."""
    checkpoint_every: int = 500
    """Iterations between checkpoints (``checkpoint.pt`` in the run directory: the whole training state, kept if
    training stops on an error or a signal, and resumed with ``mfcomm train --resume``); 0: none. A multiple
    of ``log_every``."""

    # --- evaluation after training ----------------------------------------------------------------
    eval_messages: int = 100_000
    """Fresh messages for the final SER (at least 100,000; more until ``eval_target_errors``)."""
    eval_target_errors: int = 1000
    eval_max_messages: int = 10_000_000
    compare_baseline: bool = True
    """After training, measure the same-rate classical system (:mod:`mfcomm.reference`) through the same
    channel at the same SNR and report it in ``summary.json``: closed form or ML detection where the channel
    is a known model (no channel uses), else a receiver trained on the classical codebook (its channel uses
    are reported). ``--no-baseline`` turns it off."""

    @property
    def bits(self) -> float:
        """k = log2(M) bits per message."""
        return math.log2(self.messages)

    @property
    def tx_batch(self) -> int:
        """Messages per transmitter step."""
        return self.tx_batch_size or self.batch_size

    @property
    def is_user_channel(self) -> bool:
        """A user's black box ``PATH.py:FUNC`` (not a built-in channel or an impairment chain)."""
        return self.channel not in BUILTIN_CHANNELS and not chain.is_chain(self.channel)

    @property
    def takes_snr(self) -> bool:
        """The channel adds the run's noise: ``awgn``, ``rbf`` or a chain with such a stage."""
        return chain.has_noise(self.channel)

    @property
    def resolved_snr_db(self) -> float | None:
        """Es/N0 in dB, from ``snr_db`` or ``ebno_db``; None for channels that bring their own noise."""
        if not self.takes_snr:
            return None
        if self.ebno_db is not None:
            return ebno_db_to_snr_db(self.ebno_db, self.bits, self.channel_uses)
        return self.snr_db

    @property
    def n0(self) -> float | None:
        """Noise variance per complex symbol (None for channels that bring their own noise)."""
        if not self.takes_snr:
            return None
        if self.ebno_db is not None:
            return ebno_db_to_n0(self.ebno_db, self.bits, self.channel_uses)
        assert self.snr_db is not None  # resolve() sets snr_db when the channel takes the run's noise
        return snr_db_to_n0(self.snr_db)

    @property
    def exploration_sigma2(self) -> float:
        """sigma2 at the start of training: ``sigma2``, or tied to the code's geometry when unset."""
        if self.sigma2 is not None:
            return self.sigma2
        return geometric_sigma2(self.messages, self.channel_uses, self.signalling == "real")

    @property
    def use_equalizer(self) -> bool:
        return self.equalizer == "on" or (self.equalizer == "auto" and self.channel != "awgn")

    def to_dict(self) -> dict[str, Any]:
        """Every field, with None left out (TOML has no null)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


PAPER_RECIPE: dict[str, Any] = {
    "init": "random",
    "rx_steps": 1,
    "rx_on_tx_batch": False,
    "loss_baseline": "none",
    "finetune_iterations": 0,
    "lr_schedule": "constant",
    "sigma2": 0.1,
    "candidates": 1,
    "stop_early": False,
    "tx_warmup": 0,
    "batch_size": 512,
    "keep_best": False,
    "rx_lr": 3e-3,
    "tx_lr": 3e-3,
}
"""The fields ``recipe = "paper"`` sets (the paper's Algorithm 1 and mfcomm's defaults before the quality work)."""
RECIPES = ("default", "paper")

SIGMA2_PER_DMIN2 = 0.025
"""Default sigma2 over the squared reference minimum distance: 0.05 at M=16, n=2 (docs/getting-good-systems.md)."""


def reference_dmin2(messages: int, channel_uses: int, real: bool = False) -> float:
    """Squared minimum distance of a square-QAM-like code of M messages in n uses at unit energy per use:
    ``6 / (L - 1)`` with ``L = M^(1/n)`` points per complex use (exact for square QAM), ``12 / (L^2 - 1)``
    with ``L = M^(1/n)`` levels per real use (exact for PAM)."""
    levels = messages ** (1.0 / channel_uses)
    if real:
        return 12.0 / max(levels**2 - 1.0, 1e-9)
    return 6.0 / max(levels - 1.0, 1e-9)


def geometric_sigma2(messages: int, channel_uses: int, real: bool = False) -> float:
    """The default perturbation variance: ``SIGMA2_PER_DMIN2 * reference_dmin2``, kept within [1e-4, 0.5]."""
    return min(0.5, max(1e-4, SIGMA2_PER_DMIN2 * reference_dmin2(messages, channel_uses, real)))


FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def coerce(name: str, value: Any, fields: dict[str, dataclasses.Field] | None = None) -> Any:
    """Convert a TOML or CLI value to the field's type (of ``fields``, default :class:`Config`'s), or raise
    a one-line ConfigError."""
    fields = fields or FIELDS
    default = fields[name].default
    kind = fields[name].type
    try:
        if "list" in kind:
            if not isinstance(value, (list, tuple)):
                raise TypeError
            item = float if "float" in kind else coerce_int
            return [item(v) for v in value]
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind == "int | None":
            return None if value is None else coerce_int(value)
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if "float" in kind:
            if value is None:
                return None
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError, OverflowError):
        text = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise ConfigError(f"{name}: cannot use {text} (expected {kind})") from None
    return default


def coerce_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError
    return int(value)


def check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# --- bounds: every numeric option is finite and within a sane range -------------------------------------------

LOOP_MAX = 10**9
"""Cap on iteration counts and intervals: far beyond any useful run, well within every counter."""
SEED_MAX = 2**63 - 1
"""Largest seed every generator takes (torch's are 64-bit; :mod:`mfcomm.nodes.streams` derives from it)."""
WIDTH_MAX, LAYERS_MAX = 65536, 16
"""Widest hidden layer and most hidden layers of a network."""
TIMEOUT_MAX = 86400.0
"""Longest time-out in seconds (a day); ``inf`` is refused: 0 means no limit where a limit may be lifted."""

Bound = tuple[float, float, str]
"""``(low, high, interval)``: ``interval`` is ``"[]"`` (both ends allowed), ``"(]"``, ``"[)"`` or ``"()"``."""

BOUNDS: dict[str, Bound] = {
    "messages": (2, 65536, "[]"),
    "channel_uses": (1, 1024, "[]"),
    "snr_db": (-100.0, 100.0, "[]"),
    "ebno_db": (-100.0, 100.0, "[]"),
    "tx_hidden": (1, WIDTH_MAX, "[]"),
    "rx_hidden": (1, WIDTH_MAX, "[]"),
    "iterations": (1, LOOP_MAX, "[]"),
    "seed": (0, SEED_MAX, "[]"),
    "batch_size": (1, 2**24, "[]"),
    "lr_final_ratio": (0.0, 1.0, "(]"),
    "tx_warmup": (0, LOOP_MAX, "[]"),
    "candidates": (1, 64, "[]"),
    "candidate_iterations": (1, LOOP_MAX, "[]"),
    "selection_messages": (1024, LOOP_MAX, "[]"),
    "patience": (0, LOOP_MAX, "[]"),
    "rx_lr": (0.0, 10.0, "(]"),
    "tx_lr": (0.0, 10.0, "(]"),
    "sigma2": (0.0, 1.0, "()"),
    "sigma2_final": (0.0, 1.0, "()"),
    "tx_batch_size": (2, 2**24, "[]"),
    "perturbations": (1, 1024, "[]"),
    "feedback_bits": (1, 16, "[]"),
    "feedback_noise": (0.0, 100.0, "[]"),
    "rx_steps": (0, 1000, "[]"),
    "tx_steps": (1, 1000, "[]"),
    "finetune_iterations": (0, LOOP_MAX, "[]"),
    "log_every": (1, LOOP_MAX, "[]"),
    "ser_every": (0, LOOP_MAX, "[]"),
    "ser_messages": (1024, LOOP_MAX, "[]"),
    "channel_timeout": (0.0, TIMEOUT_MAX, "[]"),
    "checkpoint_every": (0, LOOP_MAX, "[]"),
    "eval_messages": (100_000, 10**12, "[]"),
    "eval_target_errors": (1, LOOP_MAX, "[]"),
    "eval_max_messages": (100_000, 10**12, "[]"),
}
"""The range of every numeric field of :class:`Config` (of each item, for lists); None is always allowed."""
LENGTHS = {"tx_hidden": LAYERS_MAX, "rx_hidden": LAYERS_MAX}
"""Most items of the list fields."""


def _number_text(value: Any) -> str:
    """A number as the user would write it; a long one (a 400-digit integer) cut short."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} characters)"


def check_number(name: str, value: Any, low: float, high: float, interval: str = "[]") -> None:
    """Raise a one-line ConfigError unless ``value`` is a finite number between ``low`` and ``high``
    (``interval``: ``"[]"`` both ends allowed, ``"(]"``, ``"[)"``, ``"()"``). For options checked outside a
    config too (node and evaluation options): ``check_number("--peer-timeout", 30.0, 0, 86400, "(]")``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    finite = number and (isinstance(value, int) or math.isfinite(value))  # a huge int does not fit a float
    inside = (
        finite
        and (value > low if interval[0] == "(" else value >= low)
        and (value < high if interval[1] == ")" else value <= high)
    )
    if not inside:
        span = f"{interval[0]}{_number_text(low)}, {_number_text(high)}{interval[1]}"
        raise ConfigError(f"{name} must be a finite number in {span}, not {_number_text(value)}")


def check_bounds(cfg: Any, bounds: dict[str, Bound], lengths: dict[str, int]) -> None:
    """Every field named in ``bounds`` (each item of a list field, whose length ``lengths`` caps) in range."""
    for name, (low, high, interval) in bounds.items():
        value = getattr(cfg, name)
        if isinstance(value, list):
            check(len(value) <= lengths[name], f"{name} has {len(value)} items; at most {lengths[name]}")
            for item in value:
                check_number(f"{name} item", item, low, high, interval)
        elif value is not None:
            check_number(name, value, low, high, interval)


# --- memory: refuse a batch and networks that cannot fit ----------------------------------------------------------

FLOAT_BYTES = 4
OPTIMIZER_COPIES = 4
"""Copies of each weight during training: the weight, its gradient and Adam's two moments."""


def mlp_parameters(sizes: list[int]) -> int:
    """Weights and biases of dense layers of the given widths."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def available_bytes(device: str) -> int | None:
    """Memory free for ``device``: CUDA's free memory (:func:`torch.cuda.mem_get_info`), else the machine's
    available memory (psutil, where installed) or physical memory; None where it cannot be told."""
    if device.startswith("cuda"):
        import torch

        try:
            return torch.cuda.mem_get_info(torch.device(device))[0] if torch.cuda.is_available() else None
        except (RuntimeError, AssertionError, ValueError):  # no such device: reported where it is used
            return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, device: str, what: str, remedy: str) -> None:
    """A one-line ConfigError when the estimate ``needed`` (bytes) exceeds the memory ``device`` has free."""
    available = available_bytes(device)
    if available is not None and needed > available:
        raise ConfigError(
            f"{what} needs about {needed / 2**30:.3g} GiB of memory, more than the "
            f"{available / 2**30:.3g} GiB available on {device}: {remedy}"
        )


def training_bytes(cfg: Config) -> int:
    """Rough peak memory of training: weights (with gradients and Adam's moments), the codebook's activations,
    and the activations and their gradients of the largest batch through the receiver (a receiver step's
    ``batch_size`` messages, a transmitter step's ``tx_batch * perturbations`` transmissions, or an
    evaluation batch), with the logits over the M messages."""
    from mfcomm.evaluation import EVAL_BATCH

    dims = cfg.channel_uses if cfg.signalling == "real" else 2 * cfg.channel_uses
    rx_sizes = [2 * dims if cfg.use_equalizer else dims, *cfg.rx_hidden, cfg.messages]
    estimator = mlp_parameters([dims, cfg.rx_hidden[0] if cfg.rx_hidden else 2 * dims, 2]) if cfg.use_equalizer else 0
    tx_sizes = [*cfg.tx_hidden, dims]
    weights = cfg.messages * tx_sizes[0] + mlp_parameters(tx_sizes) + mlp_parameters(rx_sizes) + estimator
    codebook = cfg.messages * (2 * sum(tx_sizes) + dims)
    rows = max(cfg.batch_size, cfg.tx_batch * cfg.perturbations, EVAL_BATCH)
    per_row = sum(rx_sizes) + sum(cfg.rx_hidden) + 2 * cfg.messages  # layer outputs, ReLUs, softmax
    return FLOAT_BYTES * (OPTIMIZER_COPIES * weights + 2 * codebook + 2 * rows * per_row)


# --- code named by a config file ----------------------------------------------------------------------------------


def names_code(spec: Any) -> TypeGuard[str]:
    """Whether the channel ``spec`` is a user's black box ``PATH.py:FUNC``: a Python file that
    :func:`mfcomm.channels.make_channel` imports and runs (every spec with ``:`` that is not a chain)."""
    return isinstance(spec, str) and ":" in spec and not chain.is_chain(spec)


def check_trusted(file: str | Path | None, file_values: dict[str, Any], overrides: dict[str, Any], trust: bool) -> None:
    """Refuse a config file whose ``channel`` is Python code (``PATH.py:FUNC``) that the command line does not
    name: a run directory may come from someone else, and evaluating it must not run their code. The
    command line names it with ``--channel`` (an override), or trusts the file with ``--trust-config``."""
    spec = file_values.get("channel")
    if trust or "channel" in overrides or not names_code(spec):
        return
    raise ConfigError(
        f"{file} names the Python file {spec.rpartition(':')[0]} as its channel; mfcomm runs no "
        f"code that only a config names: give --channel {spec} on the command line, or pass "
        "--trust-config if you trust that file"
    )


# --- validation ---------------------------------------------------------------------------------------------------


def validate(cfg: Config) -> Config:
    """Check every field's range and the combinations; return ``cfg`` (unchanged) or raise a one-line error.

    Free of side effects: it imports no user code and writes nothing (it reads how much memory is free, and
    builds an impairment chain's stages to check them). :func:`normalize` completes a config beforehand."""
    check_bounds(cfg, BOUNDS, LENGTHS)
    _check_choices(cfg)
    _check_combinations(cfg)
    _check_channel(cfg)
    check_memory(
        training_bytes(cfg),
        cfg.device,
        f"training M={cfg.messages}, n={cfg.channel_uses} with batch_size {cfg.batch_size}, "
        f"{cfg.perturbations} perturbation(s) of tx_batch {cfg.tx_batch} and rx_hidden {cfg.rx_hidden}",
        "use a smaller batch_size, tx_batch_size or perturbations, or narrower hidden layers",
    )
    return cfg


def _check_choices(cfg: Config) -> None:
    """The fields that take one of a few words."""
    check(cfg.method in METHODS, f"method must be one of {', '.join(METHODS)}, not {cfg.method!r}")
    check(cfg.signalling in ("complex", "real"), f"signalling must be complex or real, not {cfg.signalling!r}")
    check(
        cfg.normalization in ("average", "per-message"),
        f"normalization must be average or per-message, not {cfg.normalization!r}",
    )
    check(cfg.equalizer in ("auto", "on", "off"), f"equalizer must be auto, on or off, not {cfg.equalizer!r}")
    check(cfg.recipe in RECIPES, f"recipe must be one of {', '.join(RECIPES)}, not {cfg.recipe!r}")
    check(
        cfg.lr_schedule in LR_SCHEDULES,
        f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not {cfg.lr_schedule!r}",
    )
    check(isinstance(cfg.init, str) and cfg.init != "", "init must be random, classical or a run directory")
    check(cfg.loss_baseline in BASELINES, f"loss_baseline must be one of {', '.join(BASELINES)}")
    check(cfg.feedback in FEEDBACK, f"feedback must be one of {', '.join(FEEDBACK)}, not {cfg.feedback!r}")
    check(
        cfg.device in ("cpu", "cuda") or cfg.device.startswith("cuda:"),
        f"device must be cpu or cuda, not {cfg.device!r}",
    )


def _check_combinations(cfg: Config) -> None:
    """Fields that constrain each other."""
    check(cfg.snr_db is None or cfg.ebno_db is None, "give snr_db or ebno_db, not both")
    check(cfg.rx_steps >= 1 or cfg.rx_on_tx_batch, "rx_steps = 0 needs rx_on_tx_batch (else the receiver never learns)")
    check(
        not cfg.antithetic or cfg.perturbations % 2 == 0,
        f"antithetic pairs need an even number of perturbations, not {cfg.perturbations}",
    )
    check(
        cfg.loss_baseline != "message" or cfg.perturbations >= (4 if cfg.antithetic else 2),
        "loss_baseline message needs perturbations >= 2 (>= 4 with antithetic pairs)",
    )
    check(
        cfg.ser_every % cfg.log_every == 0,
        f"ser_every must be >= 0 and a multiple of log_every ({cfg.log_every}), not {cfg.ser_every}",
    )
    check(
        cfg.checkpoint_every % cfg.log_every == 0,
        f"checkpoint_every must be >= 0 and a multiple of log_every ({cfg.log_every})",
    )
    check(cfg.eval_max_messages >= cfg.eval_messages, "eval_max_messages must be >= eval_messages")


def _check_channel(cfg: Config) -> None:
    """A known channel; model-based training only through a differentiable one; real signalling not on fading."""
    if cfg.is_user_channel:
        check(
            ":" in cfg.channel and cfg.channel.rsplit(":", 1)[0].endswith(".py"),
            f"unknown channel {cfg.channel!r}: use {', '.join(BUILTIN_CHANNELS)}, an impairment chain or PATH.py:FUNC",
        )
        check(
            cfg.method == "model-free",
            f"channel {cfg.channel} is a black box with no gradient: model-based training needs a "
            "differentiable channel (use --method model-free)",
        )
    if chain.is_chain(cfg.channel):
        _validate_chain(cfg)
    check(
        not (cfg.signalling == "real" and cfg.channel == "rbf"),
        "real signalling is for AWGN and user channels; Rayleigh block fading needs complex signalling",
    )


def normalize(cfg: Config) -> Config:
    """A copy of ``cfg`` completed so that it reproduces from any directory: a user channel's and an ``init``
    run directory's paths made absolute, and the default SNR (10 dB) where the channel takes one and none is
    given. Fields it cannot read are left for :func:`validate` to report."""
    changes: dict[str, Any] = {}
    if cfg.is_user_channel and ":" in cfg.channel and cfg.channel.rsplit(":", 1)[0].endswith(".py"):
        path, func = cfg.channel.rsplit(":", 1)
        changes["channel"] = f"{Path(path).expanduser().resolve()}:{func}"
    elif not cfg.is_user_channel and cfg.takes_snr and cfg.snr_db is None and cfg.ebno_db is None:
        changes["snr_db"] = 10.0
    if isinstance(cfg.init, str) and cfg.init not in ("random", "classical", ""):
        changes["init"] = str(Path(cfg.init).expanduser().resolve())
    return dataclasses.replace(cfg, **changes)


def _validate_chain(cfg: Config) -> None:
    """Build the impairment chain once (a malformed one raises a one-line ChannelError naming the stage),
    check that an SNR is only given to a chain that adds noise, and that model-based training gets a
    differentiable chain."""
    built = chain.build(cfg.channel, cfg.n0)
    check(
        cfg.takes_snr or (cfg.snr_db is None and cfg.ebno_db is None),
        f"channel {cfg.channel!r} has no awgn or rbf stage: snr_db and ebno_db do not apply to it",
    )
    if cfg.method == "model-based" and not built.differentiable:
        stage = next(stage.name.partition("(")[0] for stage in built.stages if not stage.differentiable)
        raise ConfigError(
            f"channel {cfg.channel!r} has no gradient (stage {stage} is not differentiable): "
            "model-based training needs a differentiable channel (use --method model-free)"
        )
    check(
        not (cfg.signalling == "real" and any(stage.name == "rbf" for stage in built.stages)),
        "real signalling is for AWGN and user channels; Rayleigh block fading needs complex signalling",
    )


def load_toml(path: str | Path, fields: dict[str, dataclasses.Field] | None = None) -> dict[str, Any]:
    """Read a config file into a dict of known keys (of ``fields``, default :class:`Config`'s); unknown keys
    are an error (typos are common)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path}: {err}") from None
    unknown = sorted(set(data) - set(fields or FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(unknown)}")
    return data


def resolve(file: str | Path | None = None, overrides: dict[str, Any] | None = None, trust: bool = False) -> Config:
    """Defaults, then ``file``, then ``overrides`` (None values ignored); normalised and validated.

    A ``file`` whose channel is Python code (``PATH.py:FUNC``) is refused unless ``overrides`` name the channel
    or ``trust`` (see :func:`check_trusted`); callers that never build the channel may pass ``trust=True``."""
    values: dict[str, Any] = load_toml(file) if file else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    check_trusted(file, values, overrides, trust)
    if "snr_db" in overrides:
        values.pop("ebno_db", None)
    if "ebno_db" in overrides:
        values.pop("snr_db", None)
    values.update(overrides)
    if values.get("recipe") == "paper":
        values = {**PAPER_RECIPE, **values}
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}")
    cfg = Config(**{k: coerce(k, v) for k, v in values.items()})
    return validate(normalize(cfg))


def to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML text."""
    import tomli_w

    return "# mfcomm resolved configuration: mfcomm train --config THIS_FILE reproduces the run\n" + tomli_w.dumps(
        cfg.to_dict()
    )
