"""The configuration of a bit-wise run (``mfcomm bitwise train``): defaults, validation, TOML in and out.

Defaults reproduce the setting of Sionna's tutorial "End-to-end Learning with Autoencoders": 64 points
initialised from Gray-labelled 64-QAM, a 128-128 neural demapper, batches of 128 codewords of 1500 coded
bits (rate 1/2), AWGN with Eb/N0 drawn from 4 to 8 dB. The model-free schedule is mfcomm's (see README,
"Bit-wise systems"), not the tutorial's 10 receiver steps per transmitter step. Validation is
:mod:`mfcomm.experiment.config`'s: finite, bounded numbers, a memory estimate, and no Python channel that only a config
file names.

Example
-------
>>> cfg = resolve(overrides={"bits_per_symbol": 4, "codeword_bits": 1200})
>>> cfg.symbols, cfg.info_bits
(300, 600)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfcomm.channels import spec as channel_spec
from mfcomm.errors import ConfigError
from mfcomm.experiment.config import (
    BASELINES,
    FEEDBACK,
    FLOAT_BYTES,
    LAYERS_MAX,
    METHODS,
    OPTIMIZER_COPIES,
    Bound,
    Config,
    check,
    check_bounds,
    check_memory,
    check_trusted,
    coerce,
    load_toml,
    mlp_parameters,
    names_code,
)
from mfcomm.experiment.config_checks import BOUNDS as CONFIG_BOUNDS
from mfcomm.system.bitwise import INITS


@dataclass
class BitwiseConfig:
    """Hyper-parameters of a bit-wise run. SNRs are Eb/N0 in dB counting information bits (rate ``code_rate``).

    A field that defaults to ``Config.NAME`` is :class:`~mfcomm.experiment.config.Config`'s: the same meaning
    (documented there; a fed-back loss is a symbol's BCE here), default and range (:data:`BOUNDS`)."""

    method: str = Config.method
    channel: str = "awgn"
    """``awgn`` (trained over the Eb/N0 range), or an impairment chain or ``PATH.py:FUNC`` at ``ebno_db_min``
    (which must then equal ``ebno_db_max``)."""
    bits_per_symbol: int = 6
    init: str = "qam"
    """Initial constellation: ``qam`` (Gray-labelled, even ``bits_per_symbol``) or ``random``."""
    ebno_db_min: float = 4.0
    ebno_db_max: float = 8.0
    code_rate: float = 0.5
    """Rate of the outer code: sets N0 from Eb/N0 in training and the LDPC code in evaluation."""
    codeword_bits: int = 1500
    """Coded bits per codeword (a multiple of ``bits_per_symbol``); a batch row is one codeword."""
    rx_hidden: list[int] = field(default_factory=lambda: [128, 128])
    iterations: int = 2000
    finetune_iterations: int = 1000
    batch_size: int = 128
    """Codewords per step."""
    rx_steps: int = 0
    tx_steps: int = 1
    rx_on_tx_batch: bool = True
    sigma2: float = 0.01
    sigma2_final: float | None = None
    loss_baseline: str = "batch"
    feedback: str = Config.feedback
    feedback_bits: int = Config.feedback_bits
    feedback_noise: float = Config.feedback_noise
    rx_lr: float = 3e-3
    tx_lr: float = 3e-3
    rx_lr_final: float | None = 3e-4
    """The receiver's learning rate decays geometrically to this over fine-tuning (None: constant)."""
    seed: int = Config.seed
    device: str = Config.device
    channel_timeout: float = Config.channel_timeout
    log_every: int = Config.log_every
    eval_ebno_db: list[float] = field(default_factory=lambda: [4.0, 5.0, 6.0, 7.0, 8.0])
    """Eb/N0 points of the BMD rate in ``summary.json``."""

    @property
    def exploration_sigma2(self) -> float:
        """sigma2 at the start of training."""
        return self.sigma2

    @property
    def symbols(self) -> int:
        """Symbols per codeword."""
        return self.codeword_bits // self.bits_per_symbol

    @property
    def info_bits(self) -> int:
        """k, information bits per codeword of the outer code."""
        return round(self.codeword_bits * self.code_rate)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


FIELDS = {f.name: f for f in dataclasses.fields(BitwiseConfig)}


def _as_config(*names: str) -> dict[str, Bound]:
    """Config's bounds of the fields ``names``, which mean the same here."""
    return {name: CONFIG_BOUNDS[name] for name in names}


BOUNDS: dict[str, Bound] = {
    "bits_per_symbol": (1, 12, "[]"),
    "ebno_db_min": (-100.0, 100.0, "[]"),
    "ebno_db_max": (-100.0, 100.0, "[]"),
    "code_rate": (0.0, 1.0, "(]"),
    "codeword_bits": (1, 2**20, "[]"),
    **_as_config("rx_hidden", "iterations", "finetune_iterations"),
    "batch_size": (1, 2**20, "[]"),
    **_as_config("rx_steps", "tx_steps", "sigma2", "sigma2_final", "feedback_bits", "feedback_noise", "rx_lr", "tx_lr"),
    "rx_lr_final": (0.0, 10.0, "(]"),
    **_as_config("seed", "channel_timeout", "log_every"),
    "eval_ebno_db": (-100.0, 100.0, "[]"),
}
"""The range of every numeric field of :class:`BitwiseConfig` (of each item, for lists)."""
LENGTHS = {"rx_hidden": LAYERS_MAX, "eval_ebno_db": 200}


def training_bytes(cfg: BitwiseConfig) -> int:
    """Rough peak memory of a training step: the demapper's weights (with gradients and Adam's moments), and
    the activations and their gradients of ``batch_size`` codewords of ``symbols`` symbols through it."""
    sizes = [3, *cfg.rx_hidden, cfg.bits_per_symbol]
    rows = cfg.batch_size * cfg.symbols
    per_row = sum(sizes) + sum(cfg.rx_hidden) + 4 * cfg.bits_per_symbol + 8  # layers, ReLUs, bits, BCE, symbols
    return FLOAT_BYTES * (OPTIMIZER_COPIES * mlp_parameters(sizes) + 2 * rows * per_row)


def validate(cfg: BitwiseConfig) -> BitwiseConfig:
    """Check ranges and combinations; return ``cfg`` (unchanged) or raise a one-line ConfigError."""
    check_bounds(cfg, BOUNDS, LENGTHS)
    check(cfg.method in METHODS, f"method must be one of {', '.join(METHODS)}, not {cfg.method!r}")
    check(cfg.init in INITS, f"init must be one of {', '.join(INITS)}, not {cfg.init!r}")
    check(
        cfg.init != "qam" or cfg.bits_per_symbol % 2 == 0 or cfg.bits_per_symbol == 1,
        f"init qam needs an even bits_per_symbol, not {cfg.bits_per_symbol} (use init random)",
    )
    check(cfg.ebno_db_min <= cfg.ebno_db_max, "ebno_db_min must not exceed ebno_db_max")
    check(
        cfg.codeword_bits % cfg.bits_per_symbol == 0,
        f"codeword_bits must be a positive multiple of bits_per_symbol ({cfg.bits_per_symbol}), "
        f"not {cfg.codeword_bits}",
    )
    check(cfg.rx_steps >= 1 or cfg.rx_on_tx_batch, "rx_steps = 0 needs rx_on_tx_batch (else the receiver never learns)")
    check(
        cfg.loss_baseline in BASELINES and cfg.loss_baseline != "message",
        "loss_baseline must be none, batch or running (one perturbation per symbol)",
    )
    check(cfg.feedback in FEEDBACK, f"feedback must be one of {', '.join(FEEDBACK)}, not {cfg.feedback!r}")
    check(
        cfg.device in ("cpu", "cuda") or cfg.device.startswith("cuda:"),
        f"device must be cpu or cuda, not {cfg.device!r}",
    )
    if cfg.channel != "awgn":
        check(
            cfg.ebno_db_min == cfg.ebno_db_max,
            f"channel {cfg.channel!r} trains at one Eb/N0: set ebno_db_min = ebno_db_max",
        )
        check(
            cfg.method == "model-free" or channel_spec.is_chain(cfg.channel),
            f"channel {cfg.channel} is a black box with no gradient: use --method model-free",
        )
    check_memory(
        training_bytes(cfg),
        cfg.device,
        f"training {2**cfg.bits_per_symbol} points with batch_size {cfg.batch_size} codewords of "
        f"{cfg.codeword_bits} bits and rx_hidden {cfg.rx_hidden}",
        "use a smaller batch_size or codeword_bits, or narrower hidden layers",
    )
    return cfg


def normalize(cfg: BitwiseConfig) -> BitwiseConfig:
    """A copy of ``cfg`` whose user channel ``PATH.py:FUNC`` has an absolute path (reproducible from any directory)."""
    if not names_code(cfg.channel):
        return cfg
    path, func = cfg.channel.rsplit(":", 1)
    return dataclasses.replace(cfg, channel=f"{Path(path).expanduser().resolve()}:{func}")


def resolve(
    file: str | Path | None = None, overrides: dict[str, Any] | None = None, trust: bool = False
) -> BitwiseConfig:
    """Defaults, then ``file``, then ``overrides`` (None values ignored); normalised and validated. A ``file``
    whose channel is Python code is refused unless ``overrides`` name the channel or ``trust``
    (:func:`mfcomm.experiment.config.check_trusted`)."""
    values: dict[str, Any] = load_toml(file, FIELDS) if file else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    check_trusted(file, values, overrides, trust)
    values.update(overrides)
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}")
    return validate(normalize(BitwiseConfig(**{k: coerce(k, v, FIELDS) for k, v in values.items()})))
