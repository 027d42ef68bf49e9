"""Checks of a run's configuration: every numeric field's range (:data:`BOUNDS`), the choice fields' words,
the fields that constrain each other, the channel, and whether training fits in memory. The ranges and the words
are those the fields declare (:func:`mfcomm.config.option.option`).

:func:`validate` reads its config and returns it unchanged or raises a one-line :class:`ConfigError`: it
changes no field (:func:`mfcomm.config.files.normalize` completes a config beforehand, as a copy), imports no
user code and writes nothing. It reads how much memory is free, and builds an impairment chain's stages to
check their values. The checks run in a fixed order, so the same bad config always reports the same error.

Example
-------
>>> cfg = Config(snr_db=10.0)
>>> validate(cfg) is cfg
True
>>> validate(Config(snr_db=10.0, messages=1))
Traceback (most recent call last):
...
mfcomm.errors.ConfigError: messages must be a finite number in [2, 65536], not 1
"""

from __future__ import annotations

import math
from typing import Any

from mfcomm.channels import chain
from mfcomm.channels import spec as channel_spec
from mfcomm.config.fields import FIELDS, Config
from mfcomm.config.memory import check_training_memory
from mfcomm.config.ofdm_checks import OFDM_ONLY, check_ofdm, check_ofdm_channel
from mfcomm.config.option import Bound, declared
from mfcomm.errors import ConfigError, shorten, shown


def check(ok: bool, message: str) -> None:
    """Raise ``message`` as a ConfigError unless ``ok``: one line per rule."""
    if not ok:
        raise ConfigError(message)


# --- every numeric option finite and in range, every choice among its words: as the fields declare them ----------

BOUNDS: dict[str, Bound] = {name: b for name, f in FIELDS.items() if (b := declared(f).bound) is not None}
"""The range of every numeric field of :class:`Config` (of each item, for lists); None is always allowed."""
LENGTHS = {name: n for name, f in FIELDS.items() if (n := declared(f).items)}
"""Most items of the list fields."""
CHOICES = {name: words for name, f in FIELDS.items() if (words := declared(f).choices)}
"""The words each choice field takes."""
CHANNEL_SHOWN = 200
"""The most characters of a channel spec (a path, a chain) that an error echoes: more than of other values."""


def _number_text(value: Any) -> str:
    """A number as the user would write it; a long one (a 400-digit integer) cut short."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return shorten(text, 24)


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


# --- validation ---------------------------------------------------------------------------------------------------


def validate(cfg: Config) -> Config:
    """Check every field's range and the combinations; return ``cfg`` itself, unchanged, or raise a one-line
    ConfigError (the first rule broken, in a fixed order: ranges, choices, combinations, channel, memory)."""
    check_bounds(cfg, BOUNDS, LENGTHS)
    _check_choices(cfg)
    if cfg.task == "ofdm":
        check_ofdm(cfg, SYMBOLS_ONLY)
        _check_combinations(cfg)
        check_ofdm_channel(cfg)
        return cfg
    _check_task(cfg)
    _check_combinations(cfg)
    _check_channel(cfg)
    check_training_memory(cfg)
    return cfg


def _check_choices(cfg: Config) -> None:
    """Every choice field among its words (:data:`CHOICES`), and ``init`` and ``device``, whose words are open. The
    first keep the order and wording they always had; the loop checks the others (``task``, a new choice field)."""
    _check_one_of(cfg, "method")
    for name in ("signalling", "normalization", "equalizer"):
        *words, last = CHOICES[name]
        value = getattr(cfg, name)
        check(value in CHOICES[name], f"{name} must be {', '.join(words)} or {last}, not {shown(value)}")
    _check_one_of(cfg, "recipe")
    _check_one_of(cfg, "lr_schedule")
    check(isinstance(cfg.init, str) and cfg.init != "", "init must be random, classical or a run directory")
    check(
        cfg.loss_baseline in CHOICES["loss_baseline"],
        f"loss_baseline must be one of {', '.join(CHOICES['loss_baseline'])}",
    )
    _check_one_of(cfg, "feedback")
    check(
        cfg.device in ("cpu", "cuda") or cfg.device.startswith("cuda:"),
        f"device must be cpu or cuda, not {shown(cfg.device)}",
    )
    for name in CHOICES:
        if getattr(cfg, name) is not None or FIELDS[name].default is not None:  # None: a field of another task
            _check_one_of(cfg, name)


def _check_one_of(cfg: Config, name: str) -> None:
    """``name`` is one of its words: ``method must be one of model-free, model-based, not 'x'``."""
    value = getattr(cfg, name)
    check(value in CHOICES[name], f"{name} must be one of {', '.join(CHOICES[name])}, not {shown(value)}")


SYMBOLS_ONLY: dict[str, Any] = {
    "snr_db": None,
    "signalling": "complex",
    "normalization": "average",
    "tx_hidden": [],
    "tx_batch_size": None,
    "perturbations": 1,
    "antithetic": False,
    "candidates": 1,
    "keep_best": False,
    "ser_every": 0,
}
"""The symbols task's fields with the only value the bits task takes (one perturbation per symbol, Eb/N0 only)."""
BITS_ONLY = ("bits_per_symbol", "codeword_bits", "ebno_db_max")
"""The bits task's fields, unset for the symbols task."""


def _check_task(cfg: Config) -> None:
    """The fields that belong to the other task left as that task needs them (the task itself: a choice field)."""
    for name in OFDM_ONLY:
        check(getattr(cfg, name) is None, f"{name} belongs to the ofdm task (give task = ofdm, or drop it)")
    if cfg.task == "symbols":
        for name in (*BITS_ONLY, "eval_ebno_db"):
            check(not getattr(cfg, name), f"{name} belongs to the bits task (give task = bits, or drop it)")
        return
    for name, value in SYMBOLS_ONLY.items():
        check(getattr(cfg, name) == value, f"the bits task takes {name} = {value}, not {shown(getattr(cfg, name))}")
    b, n, ebno = cfg.bits_per_symbol, cfg.codeword_bits, cfg.ebno_db
    if b is None or n is None or ebno is None:
        raise ConfigError("the bits task needs bits_per_symbol, codeword_bits and ebno_db")
    check(
        cfg.messages == 2**b and cfg.channel_uses == 1,
        f"the bits task sends 2**bits_per_symbol = {2**b} messages in 1 channel use: drop messages and channel_uses",
    )
    check(cfg.init in ("classical", "random"), f"the bits task starts from classical or random, not {shown(cfg.init)}")
    check(
        cfg.init != "classical" or b % 2 == 0 or b == 1,
        f"init classical (Gray QAM) needs an even bits_per_symbol, not {b} (use init random)",
    )
    check(n % b == 0, f"codeword_bits must be a multiple of bits_per_symbol ({b}), not {n}")
    check(cfg.loss_baseline != "message", "loss_baseline must be none, batch or running (one perturbation per symbol)")
    check(cfg.ebno_db_max is None or ebno <= cfg.ebno_db_max, "ebno_db must not exceed ebno_db_max")
    check(
        cfg.channel == "awgn" or cfg.ebno_db_max in (None, ebno),
        f"channel {shown(cfg.channel, CHANNEL_SHOWN)} trains at one Eb/N0: drop ebno_db_max "
        "(an Eb/N0 range is for awgn)",
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
    if channel_spec.kind(cfg.channel) in ("function", "unknown"):  # an object: checked as given (its own gradient)
        check(
            ":" in cfg.channel and cfg.channel.rsplit(":", 1)[0].endswith(".py"),
            f"unknown channel {shown(cfg.channel, CHANNEL_SHOWN)}: use {', '.join(channel_spec.BUILT_IN)}, "
            "an impairment chain or PATH.py:FUNC",
        )
        check(
            cfg.method == "model-free",
            f"channel {cfg.channel} is a black box with no gradient: model-based training needs a "
            "differentiable channel (use --method model-free)",
        )
    if channel_spec.is_chain(cfg.channel):
        _validate_chain(cfg)
    check(
        not (cfg.signalling == "real" and cfg.channel == "rbf"),
        "real signalling is for AWGN and user channels; Rayleigh block fading needs complex signalling",
    )


def _validate_chain(cfg: Config) -> None:
    """Build the impairment chain once (a malformed one raises a one-line ChannelError naming the stage),
    check that an SNR is only given to a chain that adds noise, and that model-based training gets a
    differentiable chain."""
    built = chain.build(cfg.channel, cfg.n0)
    check(
        cfg.takes_snr or (cfg.snr_db is None and cfg.ebno_db is None) or cfg.task == "bits",
        f"channel {shown(cfg.channel, CHANNEL_SHOWN)} has no awgn or rbf stage: snr_db and ebno_db do not apply to it",
    )
    if cfg.method == "model-based" and not built.differentiable:
        stage = next(stage.name.partition("(")[0] for stage in built.stages if not stage.differentiable)
        raise ConfigError(
            f"channel {shown(cfg.channel, CHANNEL_SHOWN)} has no gradient (stage {stage} is not differentiable): "
            "model-based training needs a differentiable channel (use --method model-free)"
        )
    check(
        not (cfg.signalling == "real" and any(stage.name == "rbf" for stage in built.stages)),
        "real signalling is for AWGN and user channels; Rayleigh block fading needs complex signalling",
    )
