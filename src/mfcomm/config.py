"""The one typed configuration of a training run: defaults, validation, TOML in and out.

A config is built once (defaults, then a TOML file, then command-line overrides), validated once by
:func:`validate`, and passed down. ``config.toml`` in a run directory holds every field, so
``mfcomm train --config DIR/config.toml`` reproduces the run.

Example
-------
>>> cfg = resolve(overrides={"messages": 16, "channel_uses": 2, "snr_db": 10.0})
>>> cfg.bits, cfg.n0 > 0
(4.0, True)
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    """Iterations between checkpoints (``checkpoint.safetensors`` in the run directory, kept if training
    stops on an error); 0: none. A multiple of ``log_every``."""

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
    "init": "random", "rx_steps": 1, "rx_on_tx_batch": False, "loss_baseline": "none", "finetune_iterations": 0,
    "lr_schedule": "constant", "sigma2": 0.1, "candidates": 1, "stop_early": False, "tx_warmup": 0,
    "batch_size": 512, "keep_best": False, "rx_lr": 3e-3, "tx_lr": 3e-3,
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
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot use {value!r} (expected {kind})") from None
    return default


def coerce_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError
    return int(value)


def check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(cfg: Config) -> Config:
    """Check every field's range and the combinations; return ``cfg`` or raise a ConfigError."""
    check(cfg.method in METHODS, f"method must be one of {', '.join(METHODS)}, not {cfg.method!r}")
    check(cfg.messages >= 2, f"messages must be at least 2, not {cfg.messages}")
    check(cfg.messages <= 65536, f"messages must be at most 65536, not {cfg.messages}")
    check(cfg.channel_uses >= 1, f"channel_uses must be at least 1, not {cfg.channel_uses}")
    check(cfg.channel_uses <= 1024, f"channel_uses must be at most 1024, not {cfg.channel_uses}")
    for name in ("snr_db", "ebno_db"):
        value = getattr(cfg, name)
        check(value is None or math.isfinite(value), f"{name} must be a finite number, not {value}")
    check(cfg.snr_db is None or cfg.ebno_db is None, "give snr_db or ebno_db, not both")
    check(cfg.signalling in ("complex", "real"), f"signalling must be complex or real, not {cfg.signalling!r}")
    check(
        cfg.normalization in ("average", "per-message"),
        f"normalization must be average or per-message, not {cfg.normalization!r}",
    )
    check(cfg.equalizer in ("auto", "on", "off"), f"equalizer must be auto, on or off, not {cfg.equalizer!r}")
    check(all(w >= 1 for w in cfg.tx_hidden), "tx_hidden widths must be positive")
    check(all(w >= 1 for w in cfg.rx_hidden), "rx_hidden widths must be positive")
    check(1 <= cfg.candidates <= 64, f"candidates must be 1 to 64, not {cfg.candidates}")
    check(cfg.candidate_iterations >= 1, f"candidate_iterations must be at least 1, not {cfg.candidate_iterations}")
    check(cfg.selection_messages >= 1024, f"selection_messages must be at least 1024, not {cfg.selection_messages}")
    check(cfg.recipe in RECIPES, f"recipe must be one of {', '.join(RECIPES)}, not {cfg.recipe!r}")
    check(cfg.tx_warmup >= 0, f"tx_warmup must be >= 0, not {cfg.tx_warmup}")
    check(cfg.patience >= 0, f"patience must be >= 0, not {cfg.patience}")
    check(cfg.iterations >= 1, f"iterations must be at least 1, not {cfg.iterations}")
    check(cfg.batch_size >= 1, f"batch_size must be at least 1, not {cfg.batch_size}")
    for name in ("rx_lr", "tx_lr"):
        value = getattr(cfg, name)
        check(math.isfinite(value) and value > 0, f"{name} must be positive, not {value}")
    check(cfg.sigma2 is None or (math.isfinite(cfg.sigma2) and 0 < cfg.sigma2 < 1),
          f"sigma2 must lie in (0, 1), not {cfg.sigma2}")
    check(cfg.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not {cfg.lr_schedule!r}")
    check(math.isfinite(cfg.lr_final_ratio) and 0 < cfg.lr_final_ratio <= 1,
          f"lr_final_ratio must lie in (0, 1], not {cfg.lr_final_ratio}")
    check(isinstance(cfg.init, str) and cfg.init != "", "init must be random, classical or a run directory")
    check(cfg.rx_steps >= 0 and cfg.tx_steps >= 1, "rx_steps must be >= 0 and tx_steps >= 1")
    check(cfg.rx_steps >= 1 or cfg.rx_on_tx_batch, "rx_steps = 0 needs rx_on_tx_batch (else the receiver never learns)")
    check(cfg.sigma2_final is None or (math.isfinite(cfg.sigma2_final) and 0 < cfg.sigma2_final < 1),
           f"sigma2_final must lie in (0, 1), not {cfg.sigma2_final}")
    check(cfg.tx_batch_size is None or cfg.tx_batch_size >= 2, "tx_batch_size must be at least 2")
    check(cfg.perturbations >= 1, f"perturbations must be at least 1, not {cfg.perturbations}")
    check(not cfg.antithetic or cfg.perturbations % 2 == 0,
           f"antithetic pairs need an even number of perturbations, not {cfg.perturbations}")
    check(cfg.loss_baseline in BASELINES, f"loss_baseline must be one of {', '.join(BASELINES)}")
    check(cfg.loss_baseline != "message" or cfg.perturbations >= (4 if cfg.antithetic else 2),
           "loss_baseline message needs perturbations >= 2 (>= 4 with antithetic pairs)")
    check(cfg.feedback in FEEDBACK, f"feedback must be one of {', '.join(FEEDBACK)}, not {cfg.feedback!r}")
    check(1 <= cfg.feedback_bits <= 16, f"feedback_bits must be 1 to 16, not {cfg.feedback_bits}")
    check(math.isfinite(cfg.feedback_noise) and cfg.feedback_noise >= 0, "feedback_noise must be >= 0")
    check(cfg.finetune_iterations >= 0, "finetune_iterations must be >= 0")
    check(cfg.log_every >= 1, "log_every must be at least 1")
    check(cfg.ser_every >= 0 and cfg.ser_every % cfg.log_every == 0,
           f"ser_every must be >= 0 and a multiple of log_every ({cfg.log_every}), not {cfg.ser_every}")
    check(math.isfinite(cfg.channel_timeout) and cfg.channel_timeout >= 0, "channel_timeout must be >= 0")
    check(cfg.checkpoint_every >= 0 and cfg.checkpoint_every % cfg.log_every == 0,
           f"checkpoint_every must be >= 0 and a multiple of log_every ({cfg.log_every})")
    check(cfg.ser_messages >= 1024, f"ser_messages must be at least 1024, not {cfg.ser_messages}")
    check(cfg.eval_messages >= 100_000, f"eval_messages must be at least 100000, not {cfg.eval_messages}")
    check(cfg.eval_target_errors >= 1, "eval_target_errors must be at least 1")
    check(cfg.eval_max_messages >= cfg.eval_messages, "eval_max_messages must be >= eval_messages")
    check(cfg.device in ("cpu", "cuda") or cfg.device.startswith("cuda:"), f"device must be cpu or cuda, not {cfg.device!r}")
    if cfg.is_user_channel:
        check(":" in cfg.channel and cfg.channel.rsplit(":", 1)[0].endswith(".py"),
               f"unknown channel {cfg.channel!r}: use {', '.join(BUILTIN_CHANNELS)}, an impairment chain or "
               "PATH.py:FUNC")
        path, func = cfg.channel.rsplit(":", 1)
        cfg.channel = f"{Path(path).expanduser().resolve()}:{func}"  # reproducible from any directory
        check(cfg.method == "model-free",
               f"channel {cfg.channel} is a black box with no gradient: model-based training needs a "
               "differentiable channel (use --method model-free)")
    elif cfg.takes_snr and cfg.snr_db is None and cfg.ebno_db is None:
        cfg.snr_db = 10.0
    if cfg.init not in ("random", "classical"):
        cfg.init = str(Path(cfg.init).expanduser().resolve())  # reproducible from any directory
    if chain.is_chain(cfg.channel):
        _validate_chain(cfg)
    check(not (cfg.signalling == "real" and cfg.channel == "rbf"),
           "real signalling is for AWGN and user channels; Rayleigh block fading needs complex signalling")
    return cfg


def _validate_chain(cfg: Config) -> None:
    """Build the impairment chain once (a malformed one raises a one-line ChannelError naming the stage),
    check that an SNR is only given to a chain that adds noise, and that model-based training gets a
    differentiable chain."""
    built = chain.build(cfg.channel, cfg.n0)
    check(cfg.takes_snr or (cfg.snr_db is None and cfg.ebno_db is None),
           f"channel {cfg.channel!r} has no awgn or rbf stage: snr_db and ebno_db do not apply to it")
    if cfg.method == "model-based" and not built.differentiable:
        stage = next(stage.name.partition("(")[0] for stage in built.stages if not stage.differentiable)
        raise ConfigError(f"channel {cfg.channel!r} has no gradient (stage {stage} is not differentiable): "
                          "model-based training needs a differentiable channel (use --method model-free)")
    check(not (cfg.signalling == "real" and any(stage.name == "rbf" for stage in built.stages)),
           "real signalling is for AWGN and user channels; Rayleigh block fading needs complex signalling")


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


def resolve(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then ``file``, then ``overrides`` (None values ignored); validated."""
    values: dict[str, Any] = load_toml(file) if file else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
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
    return validate(cfg)


def to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML text."""
    import tomli_w

    return "# mfcomm resolved configuration: mfcomm train --config THIS_FILE reproduces the run\n" + tomli_w.dumps(
        cfg.to_dict()
    )
