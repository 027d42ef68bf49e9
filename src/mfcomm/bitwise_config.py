"""The configuration of a bit-wise run (``mfcomm bitwise train``): defaults, validation, TOML in and out.

Defaults reproduce the setting of Sionna's tutorial "End-to-end Learning with Autoencoders": 64 points
initialised from Gray-labelled 64-QAM, a 128-128 neural demapper, batches of 128 codewords of 1500 coded
bits (rate 1/2), AWGN with Eb/N0 drawn from 4 to 8 dB. The model-free schedule is mfcomm's (see README,
"Bit-wise systems"), not the tutorial's 10 receiver steps per transmitter step.

Example
-------
>>> cfg = resolve(overrides={"bits_per_symbol": 4, "codeword_bits": 1200})
>>> cfg.symbols, cfg.info_bits
(300, 600)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfcomm import chain
from mfcomm.bitwise import INITS
from mfcomm.config import BASELINES, FEEDBACK, METHODS, check, coerce, load_toml
from mfcomm.errors import ConfigError


@dataclass
class BitwiseConfig:
    """Hyper-parameters of a bit-wise run. SNRs are Eb/N0 in dB counting information bits (rate ``code_rate``)."""

    method: str = "model-free"
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
    feedback: str = "perfect"
    feedback_bits: int = 1
    feedback_noise: float = 0.1
    rx_lr: float = 3e-3
    tx_lr: float = 3e-3
    rx_lr_final: float | None = 3e-4
    """The receiver's learning rate decays geometrically to this over fine-tuning (None: constant)."""
    seed: int = 0
    device: str = "cpu"
    channel_timeout: float = 60.0
    log_every: int = 10
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


def validate(cfg: BitwiseConfig) -> BitwiseConfig:
    """Check ranges and combinations; return ``cfg`` or raise a one-line ConfigError."""
    check(cfg.method in METHODS, f"method must be one of {', '.join(METHODS)}, not {cfg.method!r}")
    check(1 <= cfg.bits_per_symbol <= 12, f"bits_per_symbol must be 1 to 12, not {cfg.bits_per_symbol}")
    check(cfg.init in INITS, f"init must be one of {', '.join(INITS)}, not {cfg.init!r}")
    check(cfg.init != "qam" or cfg.bits_per_symbol % 2 == 0 or cfg.bits_per_symbol == 1,
          f"init qam needs an even bits_per_symbol, not {cfg.bits_per_symbol} (use init random)")
    for name in ("ebno_db_min", "ebno_db_max"):
        check(math.isfinite(getattr(cfg, name)), f"{name} must be a finite number")
    check(cfg.ebno_db_min <= cfg.ebno_db_max, "ebno_db_min must not exceed ebno_db_max")
    check(0 < cfg.code_rate <= 1, f"code_rate must lie in (0, 1], not {cfg.code_rate}")
    check(cfg.codeword_bits >= cfg.bits_per_symbol and cfg.codeword_bits % cfg.bits_per_symbol == 0,
          f"codeword_bits must be a positive multiple of bits_per_symbol ({cfg.bits_per_symbol}), "
          f"not {cfg.codeword_bits}")
    check(all(w >= 1 for w in cfg.rx_hidden), "rx_hidden widths must be positive")
    check(cfg.iterations >= 1 and cfg.finetune_iterations >= 0, "iterations must be >= 1, finetune_iterations >= 0")
    check(cfg.batch_size >= 1, f"batch_size must be at least 1, not {cfg.batch_size}")
    check(cfg.rx_steps >= 0 and cfg.tx_steps >= 1, "rx_steps must be >= 0 and tx_steps >= 1")
    check(cfg.rx_steps >= 1 or cfg.rx_on_tx_batch, "rx_steps = 0 needs rx_on_tx_batch (else the receiver never learns)")
    check(math.isfinite(cfg.sigma2) and 0 < cfg.sigma2 < 1, f"sigma2 must lie in (0, 1), not {cfg.sigma2}")
    check(cfg.sigma2_final is None or 0 < cfg.sigma2_final < 1, f"sigma2_final must lie in (0, 1)")
    check(cfg.loss_baseline in BASELINES and cfg.loss_baseline != "message",
          "loss_baseline must be none, batch or running (one perturbation per symbol)")
    check(cfg.feedback in FEEDBACK, f"feedback must be one of {', '.join(FEEDBACK)}, not {cfg.feedback!r}")
    check(1 <= cfg.feedback_bits <= 16, f"feedback_bits must be 1 to 16, not {cfg.feedback_bits}")
    check(cfg.feedback_noise >= 0, "feedback_noise must be >= 0")
    for name in ("rx_lr", "tx_lr"):
        check(math.isfinite(getattr(cfg, name)) and getattr(cfg, name) > 0, f"{name} must be positive")
    check(cfg.rx_lr_final is None or (math.isfinite(cfg.rx_lr_final) and cfg.rx_lr_final > 0),
          "rx_lr_final must be positive")
    check(cfg.log_every >= 1, "log_every must be at least 1")
    check(cfg.device in ("cpu", "cuda") or cfg.device.startswith("cuda:"), f"device must be cpu or cuda, not {cfg.device!r}")
    check(all(math.isfinite(e) for e in cfg.eval_ebno_db), "eval_ebno_db must be finite numbers")
    if cfg.channel != "awgn":
        check(cfg.ebno_db_min == cfg.ebno_db_max,
              f"channel {cfg.channel!r} trains at one Eb/N0: set ebno_db_min = ebno_db_max")
        check(cfg.method == "model-free" or chain.is_chain(cfg.channel),
              f"channel {cfg.channel} is a black box with no gradient: use --method model-free")
        if ":" in cfg.channel and not chain.is_chain(cfg.channel):
            path, func = cfg.channel.rsplit(":", 1)
            cfg.channel = f"{Path(path).expanduser().resolve()}:{func}"
    return cfg


def resolve(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> BitwiseConfig:
    """Defaults, then ``file``, then ``overrides`` (None values ignored); validated."""
    values: dict[str, Any] = load_toml(file, FIELDS) if file else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}")
    return validate(BitwiseConfig(**{k: coerce(k, v, FIELDS) for k, v in values.items()}))
