"""The OFDM task's checks: its fields, its channel (built once on the grid, a bad stage refused in one line) and
its memory, called by :func:`mfcomm.config.checks.validate` for ``task = "ofdm"``.

Example
-------
>>> from mfcomm.config.files import configure
>>> configure(overrides={"task": "ofdm", "pilots": "none"}).pilots
'none'
>>> configure(overrides={"task": "ofdm", "channel": "cdl(model=C) | awgn", "domain": "time"})
Traceback (most recent call last):
...
mfcomm.errors.ConfigError: channel stage cdl runs in the frequency domain only (use tdl in the time domain)
"""

from __future__ import annotations

from typing import Any

from mfcomm.channels import spec as channel_spec
from mfcomm.config.fields import Config
from mfcomm.config.memory import FLOAT_BYTES, OPTIMIZER_COPIES, check_memory
from mfcomm.errors import ChannelError, ConfigError, shown

OFDM_ONLY = ("subcarriers", "ofdm_symbols", "pilots", "domain")
"""The OFDM task's own fields, unset for the other tasks."""
CHANNEL_COPIES = 16
"""Grids of the batch a channel call holds at its peak (the response, the grid, noise, their products), roughly."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def check_ofdm(cfg: Config, symbols_only: dict[str, Any]) -> None:
    """The fields the OFDM task needs, and those of the symbols task left as it takes them (``symbols_only``)."""
    for name, value in symbols_only.items():
        _check(getattr(cfg, name) == value, f"the ofdm task takes {name} = {value}, not {shown(getattr(cfg, name))}")
    b = cfg.bits_per_symbol
    if b is None or cfg.ebno_db is None or any(getattr(cfg, name) is None for name in OFDM_ONLY):
        raise ConfigError(f"the ofdm task needs bits_per_symbol, ebno_db and {', '.join(OFDM_ONLY)}")
    _check(
        cfg.codeword_bits is None,
        "the ofdm task's codeword is a slot's data bits (set by the grid): drop codeword_bits",
    )
    _check(
        cfg.messages == 2**b and cfg.channel_uses == 1,
        f"the ofdm task sends 2**bits_per_symbol = {2**b} points: drop messages and channel_uses",
    )
    _check(cfg.init in ("classical", "random"), f"the ofdm task starts from classical or random, not {shown(cfg.init)}")
    _check(cfg.init != "classical" or b % 2 == 0, f"init classical (Gray QAM) needs an even bits_per_symbol, not {b}")
    _check(
        len(cfg.rx_hidden) >= 1 and len(set(cfg.rx_hidden)) == 1,
        f"the ofdm task's rx_hidden lists its residual blocks' channels, all equal, not {cfg.rx_hidden}",
    )
    _check(cfg.loss_baseline != "message", "loss_baseline must be none, batch or running (one perturbation per symbol)")
    _check(cfg.ebno_db_max is None or cfg.ebno_db <= cfg.ebno_db_max, "ebno_db must not exceed ebno_db_max")


def check_ofdm_channel(cfg: Config) -> None:
    """Build the link once (a bad stage or key: one line), without starting a black box; model-based training
    only through a differentiable one; then the memory estimate."""
    from mfcomm.channels.ofdm_grid import Grid
    from mfcomm.channels.ofdm_link import OfdmLink

    assert cfg.subcarriers and cfg.ofdm_symbols and cfg.pilots and cfg.domain and cfg.bits_per_symbol  # checked
    try:
        grid = Grid(cfg.subcarriers, cfg.ofdm_symbols, cfg.pilots)
    except ChannelError as err:
        raise ConfigError(str(err)) from None
    if channel_spec.kind(cfg.channel) in ("function", "object", "unknown"):
        _check(
            cfg.method == "model-free",
            f"channel {shown(cfg.channel)} is a black box with no gradient: model-based training needs a "
            "differentiable channel (use --method model-free)",
        )
        return
    ebno = (cfg.ebno_db or 0.0, cfg.ebno_db_max or cfg.ebno_db or 0.0)
    try:
        link = OfdmLink(grid, cfg.channel, cfg.bits_per_symbol, cfg.code_rate, ebno, domain=cfg.domain)
    except ChannelError as err:
        raise ConfigError(str(err)) from None
    _check(
        cfg.method == "model-free" or link.differentiable,
        f"channel {shown(cfg.channel)} has no gradient: model-based training needs a differentiable channel "
        "(use --method model-free)",
    )
    layers = 2 * len(cfg.rx_hidden) + 2  # convolutions; each output is kept with a norm and a ReLU, and a gradient
    activations = 6 * cfg.batch_size * cfg.rx_hidden[0] * grid.resource_elements * layers
    weights = 9 * cfg.rx_hidden[0] ** 2 * layers
    channel = CHANNEL_COPIES * cfg.batch_size * grid.resource_elements * 2  # complex grids, a few per stage
    needed = FLOAT_BYTES * (OPTIMIZER_COPIES * weights + activations + channel)
    what = (
        f"training {cfg.ofdm_symbols} x {cfg.subcarriers} grids, batch_size {cfg.batch_size}, rx_hidden {cfg.rx_hidden}"
    )
    check_memory(needed, cfg.device, what, "use a smaller batch_size, grid or rx_hidden")
