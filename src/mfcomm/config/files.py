"""The one typed configuration of a training run: built from defaults, a TOML file and overrides, and written back.

A config is built once by :func:`configure` (defaults, then a TOML file, then command-line overrides),
completed by :func:`normalize`, checked by :func:`validate`, and passed down. ``config.toml`` in a run
directory holds every field (:func:`to_toml`), so ``mfcomm train --config DIR/config.toml`` reproduces the
run. A config file whose channel is Python code (``PATH.py:FUNC``) is refused unless the command line names
that channel too or passes ``--trust-config``: a run directory may come from someone else.

This module reads and writes configs; the fields are :mod:`mfcomm.config.fields`, the checks
:mod:`mfcomm.config.checks` and :mod:`mfcomm.config.memory`. Every name of those is
importable from here
too, so ``from mfcomm.config.files import Config, check_number`` serves every caller.

Example
-------
>>> cfg = configure(overrides={"messages": 16, "channel_uses": 2, "snr_db": 10.0})
>>> cfg.bits, cfg.n0 > 0
(4.0, True)
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from mfcomm.channels import spec as channel_spec
from mfcomm.config.checks import (
    validate,
)
from mfcomm.config.fields import (
    FIELDS,
    Config,
)
from mfcomm.config.recipes import BITS_DEFAULTS, OFDM_DEFAULTS, PAPER_RECIPE
from mfcomm.errors import ConfigError, shown


def coerce(name: str, value: Any, fields: dict[str, dataclasses.Field] | None = None) -> Any:
    """Convert a TOML or CLI value to the field's type (of ``fields``, default :class:`Config`'s), or raise
    a one-line ConfigError. A number is never read from a string: ``snr_db = "10"`` is refused as
    ``messages = true`` is.

    >>> coerce("snr_db", 10), coerce("rx_hidden", [64, 32.0])
    (10.0, [64, 32])
    >>> coerce("snr_db", "10")
    Traceback (most recent call last):
    ...
    mfcomm.errors.ConfigError: snr_db: cannot use '10' (expected float | None)
    """
    fields = fields or FIELDS
    default = fields[name].default
    kind = fields[name].type
    try:
        if "list" in kind:
            if not isinstance(value, (list, tuple)):
                raise TypeError
            item = coerce_float if "float" in kind else coerce_int
            return [item(v) for v in value]
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind in ("int", "int | None"):
            return None if value is None and kind != "int" else coerce_int(value)
        if "float" in kind:
            return None if value is None else coerce_float(value)
        if kind in ("str", "str | None"):
            if not isinstance(value, str) and not (value is None and kind != "str"):
                raise TypeError
            return value
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name}: cannot use {shown(value)} (expected {kind})") from None
    return default


def coerce_int(value: Any) -> int:
    """``value`` as an int, or TypeError for a bool, a string or a float with a fraction (``True`` is not 1
    message, ``"16"`` is text)."""
    if isinstance(value, float) and not value.is_integer():
        raise TypeError
    return int(_number(value))


def coerce_float(value: Any) -> float:
    """``value`` as a float, or TypeError for a bool or a string."""
    return float(_number(value))


def _number(value: Any) -> Any:
    """``value`` itself, or TypeError for what converts to a number without being one: a bool, text, bytes."""
    if isinstance(value, (bool, str, bytes, bytearray)):
        raise TypeError
    return value


# --- code named by a config file ----------------------------------------------------------------------------------


def check_trusted(file: str | Path | None, file_values: dict[str, Any], overrides: dict[str, Any], trust: bool) -> None:
    """Refuse a config file whose ``channel`` is Python code (``PATH.py:FUNC``) that the command line does not
    name: a run directory may come from someone else, and evaluating it must not run their code. The
    command line names it with ``--channel`` (an override), or trusts the file with ``--trust-config``."""
    spec = file_values.get("channel")
    if trust or "channel" in overrides or not channel_spec.names_code(spec):
        return
    code = f"the Python file {spec.rpartition(':')[0]}" if channel_spec.kind(spec) == "function" else "a flowgraph"
    raise ConfigError(
        f"{file} names {code} as its channel; mfcomm runs no "
        f"code that only a config names: give --channel {spec} on the command line, or pass "
        "--trust-config if you trust that file"
    )


# --- reading and writing ---------------------------------------------------------------------------------------


def normalize(cfg: Config) -> Config:
    """A copy of ``cfg`` completed so that it reproduces from any directory: a user channel's and an ``init``
    run directory's paths made absolute, and the default SNR (10 dB) where the channel takes one and none is
    given. Fields it cannot read are left for :func:`validate` to report."""
    changes: dict[str, Any] = {}
    if channel_spec.names_code(cfg.channel):
        changes["channel"] = channel_spec.absolute_paths(cfg.channel)
    if not cfg.is_user_channel and cfg.takes_snr and cfg.snr_db is None and cfg.ebno_db is None:
        changes["snr_db"] = 10.0
    if isinstance(cfg.init, str) and cfg.init not in ("random", "classical", ""):
        changes["init"] = str(Path(cfg.init).expanduser().resolve())
    return dataclasses.replace(cfg, **changes)


def load_toml(path: str | Path, fields: dict[str, dataclasses.Field] | None = None) -> dict[str, Any]:
    """Read a config file into a dict of known keys (of ``fields``, default :class:`Config`'s); unknown keys
    are an error (typos are common)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory: give the TOML file (a run's is {path / 'config.toml'})")
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path}: {err}") from None
    except RecursionError:
        raise ConfigError(f"config file {path}: values nested too deeply to read") from None
    unknown = sorted(set(data) - set(fields or FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(unknown)}")
    return data


def with_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """The user's ``values`` over the bits task's defaults and the paper's recipe, where they ask for them;
    the bits task's M and n follow from its ``bits_per_symbol``, and an Eb/N0 the user gives without an
    ``ebno_db_max`` is one Eb/N0, not the low end of the default range."""
    if values.get("task") in ("bits", "ofdm"):
        task_defaults = BITS_DEFAULTS if values["task"] == "bits" else OFDM_DEFAULTS
        defaults = {k: v for k, v in task_defaults.items() if k != "ebno_db_max" or "ebno_db" not in values}
        values = {**defaults, **(PAPER_RECIPE if values.get("recipe") == "paper" else {}), **values}
        b = values["bits_per_symbol"]
        if isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 16:
            values = {"messages": 2**b, "channel_uses": 1, **values}
    elif values.get("recipe") == "paper":
        values = {**PAPER_RECIPE, **values}
    return values


def configure(
    file: str | Path | None = None, overrides: dict[str, Any] | None = None, trust: bool = False, **fields: Any
) -> Config:
    """A validated configuration (``mfcomm.configure``): the defaults, then the TOML ``file``, then ``overrides``
    and ``fields`` (any ``mfcomm train`` key, as in ``config.toml``; None values ignored), normalised and
    validated; a bad key or value is one :class:`~mfcomm.errors.ConfigError` line.

    A ``file`` whose channel is Python code (``PATH.py:FUNC``) is refused unless the overrides name the channel
    or ``trust`` (see :func:`check_trusted`); callers that never build the channel may pass ``trust=True``.

    >>> configure(messages=64, channel_uses=3).bits
    6.0
    """
    values: dict[str, Any] = load_toml(file) if file else {}
    overrides = {k: v for k, v in {**(overrides or {}), **fields}.items() if v is not None}
    check_trusted(file, values, overrides, trust)
    if "snr_db" in overrides:
        values.pop("ebno_db", None)
    if "ebno_db" in overrides:
        values.pop("snr_db", None)
    values = with_defaults({**values, **overrides})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}")
    cfg = Config(**{k: coerce(k, v) for k, v in values.items()})
    return validate(normalize(cfg))


def to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML text."""
    return "# mfcomm resolved configuration: mfcomm train --config THIS_FILE reproduces the run\n" + tomli_w.dumps(
        cfg.to_dict()
    )
