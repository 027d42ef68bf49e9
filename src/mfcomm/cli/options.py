"""The configuration options of ``mfcomm train``, which ``mfcomm node`` takes too: one ``--NAME`` for each field of
:class:`~mfcomm.config.fields.Config` declared with a flag, generated from its declaration (type, choices, help,
default; see :mod:`mfcomm.config.option`) in the order of the fields. Written here by hand: ``--config`` and
``--trust-config``, which are no fields, and what a declaration does not say: ``--snr-db`` and ``--ebno-db``
exclude each other, and ``--ebno-db A:B`` gives ``ebno_db_max`` too. Unset options stay ``None`` so that the
``--config`` file and the defaults apply.

Example
-------
>>> from mfcomm.config.fields import FIELDS
>>> p = argparse.ArgumentParser()
>>> training_options(p)
>>> args = p.parse_args(["--messages", "64", "--ebno-db", "4:8", "--no-rx-on-tx-batch"])
>>> config_overrides(args, FIELDS)["messages"], args.ebno_db, args.rx_on_tx_batch, args.iterations
(64, (4.0, 8.0), False, None)
"""

from __future__ import annotations

import argparse
import dataclasses
import unicodedata
from typing import Any

from mfcomm.config.fields import Config
from mfcomm.config.option import declared
from mfcomm.config.recipes import BITS_DEFAULTS

EXCLUSIVE = ("snr_db", "ebno_db")
"""Fields whose options exclude each other: ``--snr-db X | --ebno-db X``."""
RANGE = ("ebno_db", "ebno_db_max")
"""``--ebno-db A:B`` gives both fields: the bits task on AWGN draws each codeword's Eb/N0 from A to B."""
TYPES: dict[str, type] = {
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "str": str,
    "str | None": str,
}
"""What a value of each type of field is parsed with."""


def training_options(p: argparse.ArgumentParser) -> None:
    """Add the configuration options of ``train`` to ``p``: ``--config``, ``--trust-config``, then one per field."""
    p.add_argument("--config", help="TOML file of configuration values (options below override it)")
    p.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that the "
        "--config file names; without it, such a channel must be given with --channel",
    )
    exclusive = p.add_mutually_exclusive_group()
    for f in dataclasses.fields(Config):
        if declared(f).flag:
            (exclusive if f.name in EXCLUSIVE else p).add_argument(flag(f.name), **_argument(f))


def flag(name: str) -> str:
    """The option of the field ``name``: ``--`` and the name with dashes (``tx_lr``: ``--tx-lr``)."""
    return "--" + name.replace("_", "-")


def _argument(f: dataclasses.Field[Any]) -> dict[str, Any]:
    """What ``add_argument`` takes for the field ``f``: a switch that is off by default is ``--NAME``, one that is
    on ``--NAME/--no-NAME``; any other field takes a value of its type, among its choices."""
    text = declared(f).help.replace("%", "%%") + _defaults(f.name, f.default)
    if f.type == "bool":
        action = argparse.BooleanOptionalAction if f.default else "store_true"
        return {"action": action, "default": None, "help": text}
    kind = ebno_db if f.name == RANGE[0] else TYPES[str(f.type)]
    return {"type": kind, "choices": declared(f).choices or None, "help": text}


def _defaults(name: str, default: Any) -> str:
    """The defaults of the field ``name`` as its help ends: its own (none where it is None, the help says what
    applies, or a switch that is off), then the bits task's (:data:`~mfcomm.config.recipes.BITS_DEFAULTS`).

    >>> _defaults("messages", 16), _defaults("rx_on_tx_batch", True), _defaults("ebno_db", None)
    (' (default: 16)', ' (default: on)', ' (bits task: 4:8)')
    >>> _defaults("batch_size", 1024), _defaults("sigma2", None), _defaults("stop_early", False)
    (' (default: 1024; bits task: 128)', ' (bits task: 0.01)', '')
    """
    said = [] if default is None or default is False else [f"default: {_text(default)}"]
    if name in BITS_DEFAULTS:
        bits = BITS_DEFAULTS[name]
        high = BITS_DEFAULTS.get(RANGE[1]) if name == RANGE[0] else None
        said.append(f"bits task: {_text(bits)}" + (f":{_text(high)}" if high is not None else ""))
    return f" ({'; '.join(said)})" if said else ""


def _text(value: Any) -> str:
    """A default as the help says it: ``on`` or ``off`` for a switch, ``0.01`` for a float."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_overrides(args: argparse.Namespace, fields: Any) -> dict[str, Any]:
    """The options that are configuration ``fields`` (unset: None), with ``--ebno-db A:B`` as ``ebno_db`` and
    ``ebno_db_max``."""
    values = {k: v for k, v in vars(args).items() if k in fields}
    if isinstance(values.get(RANGE[0]), tuple):
        values[RANGE[0]], values[RANGE[1]] = values[RANGE[0]]
    return values


def out_dir(text: str) -> str:
    """``--out DIR``: a directory name shown as it is (in a shell, a listing, a log): not empty, no control
    characters (a newline in a name makes every later line of a log ambiguous).

    >>> out_dir("runs/a")
    'runs/a'
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a directory")
    bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"holds a control character ({bad!r}): give a plain directory name")
    return text


def ebno_db(text: str) -> float | tuple[float, float]:
    """``--ebno-db X``, or ``A:B`` (a range, for the bits task on AWGN).

    >>> ebno_db("7"), ebno_db("4:8")
    (7.0, (4.0, 8.0))
    """
    try:
        parts = [float(v) for v in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X or A:B in dB, not {text!r}") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected X or A:B in dB, not {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])
