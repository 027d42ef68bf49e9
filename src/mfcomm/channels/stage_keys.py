"""The ``gnuradio`` stage's keys: which are mfcomm's, which a radio's, and how the rest reach the flowgraph.

mfcomm's own keys (:data:`OWN_KEYS`) and a radio's (:data:`RADIO_KEYS`) configure the framing and the link;
every other key goes to the flowgraph as an option, ``noise_voltage=0.1`` as ``--noise-voltage=0.1`` (what GRC
makes of a Parameter block), checked to be a word or a number. A ``.grc`` flowgraph gets only the options it
declares a Parameter block for (:func:`declared`: one warning line names the others), so that one set of keys
can drive several flowgraphs.

Example
-------
>>> as_options({"noise_voltage": text("noise_voltage", 0.1), "seed": text("seed", 3.0)})
['--noise-voltage=0.1', '--seed=3']
>>> flag("radio", "true"), radio_keys(True, {"samp_rate": 2e6}, {})
(True, (2000000.0, 1.0))
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from mfcomm.channels.stage_bounds import check
from mfcomm.channels.stream_model import BUILT_IN_KEYS, number
from mfcomm.errors import ChannelError

OWN_KEYS: dict[str, str | int | float] = {
    "flowgraph": "",
    "engine": "flowgraph",
    "sync": "fine",
    "payload": 512,
    "sps": 1,
    "rolloff": 0.35,
    "radio": False,
}
"""The stage keys that are mfcomm's (with their defaults); every other key is passed to the flowgraph."""
RADIO_KEYS: dict[str, float] = {"samp_rate": 1e6, "max_latency": 1.0}
"""The keys of ``radio=true`` (with their defaults): the radio's sample rate (mfcomm paces its bursts by it and
passes it as ``--samp-rate``) and the latency beyond which bursts count as a fault (seconds). Without
``radio=true``, ``samp_rate`` is a flowgraph key like any other."""
ENGINES = ("flowgraph", "python")
"""What the built-in channel model runs on: GNU Radio's flowgraph, or :class:`StreamModel` in this process."""
SET_BY_MFCOMM = ("in_address", "out_address")
WORD = re.compile(r"[\w.+/-]+")
"""What a key's value may be (a chain spec's word: a number, a name or a path)."""


def engine(engine: str, flowgraph: str) -> str:
    """``engine`` checked: one of :data:`ENGINES`, and ``python`` only for the built-in channel model."""
    if engine not in ENGINES:
        raise ChannelError(f"channel stage gnuradio: engine must be flowgraph or python, not {engine!r}")
    if engine == "python" and flowgraph:
        raise ChannelError(
            "channel stage gnuradio: engine=python emulates the built-in channel model only, not flowgraph="
        )
    return engine


def text(key: str, value: float | str) -> str:
    """A key's value as the flowgraph and the stage's name get it: ``3`` for 3.0, ``true`` for True."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    if not WORD.fullmatch(text) or not re.fullmatch(r"[A-Za-z_]\w*", key) or key in SET_BY_MFCOMM:
        raise ChannelError(
            f"channel stage gnuradio: cannot pass {key}={text!r} to the flowgraph (keys are names, values "
            f"words or numbers; {' and '.join(SET_BY_MFCOMM)} are mfcomm's)"
        )
    return text


def flag(key: str, value: float | str | bool) -> bool:
    """A true/false key given as a bool (a chain spec's ``true``) or as the words themselves."""
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return value if isinstance(value, bool) else str(value).lower() == "true"
    raise ChannelError(f"channel stage gnuradio: {key} must be true or false, not {value!r}")


def radio_keys(radio: bool, given: dict[str, float | str], keys: dict[str, float | str]) -> tuple[float, float]:
    """``samp_rate`` and ``max_latency`` of a radio (defaults :data:`RADIO_KEYS`); without ``radio=true``,
    ``samp_rate`` goes back to the flowgraph's keys and ``max_latency`` is refused."""
    if not radio:
        if "max_latency" in given:
            raise ChannelError("channel stage gnuradio: max_latency is a key of radio=true only")
        keys.update(given)
        return RADIO_KEYS["samp_rate"], RADIO_KEYS["max_latency"]
    rate, latency = (float(number(k, given.get(k, d), float)) for k, d in RADIO_KEYS.items())
    check("gnuradio", samp_rate=rate, max_latency=latency)
    return rate, latency


_WARNED: set[tuple] = set()
"""The flowgraphs and keys :func:`declared` has warned of in this process."""


def declared(path: Path, values: dict[str, str]) -> dict[str, str]:
    """``values`` less the keys a ``.grc`` flowgraph declares no Parameter block for (one warning line names
    them: an option a GRC top block does not take would stop it); all of them for a ``.py`` flowgraph."""
    if path.suffix != ".grc":
        return values
    import yaml  # type: ignore[import-untyped]  # no stubs needed for safe_load

    try:
        blocks = yaml.safe_load(path.read_text(errors="replace")).get("blocks", [])
        declared = {b["name"] for b in blocks if isinstance(b, dict) and b.get("id") == "parameter"}
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return values  # grcc will say what is wrong with it
    ignored = sorted(set(values) - declared)
    if ignored and (path, *ignored) not in _WARNED:  # once: a run builds its channel more than once
        _WARNED.add((path, *ignored))
        print(f"mfcomm: warning: {path.name} takes no {', '.join(ignored)}: not passed", file=sys.stderr)
    return {key: text for key, text in values.items() if key in declared}


def as_options(values: dict[str, str]) -> list[str]:
    """``{noise_voltage: 0.1}`` -> ``['--noise-voltage=0.1']``."""
    return [f"--{key.replace('_', '-')}={text}" for key, text in values.items()]


def flowgraph_path(text: str) -> Path:
    """The flowgraph file ``text`` names, made absolute; a ChannelError unless it is a ``.py`` or ``.grc`` file."""
    path = Path(text).expanduser().absolute()
    if not WORD.fullmatch(text):
        raise ChannelError(
            f"channel stage gnuradio: flowgraph path may hold letters, digits and . _ + / - only: {text}"
        )
    if path.suffix not in (".py", ".grc"):
        raise ChannelError(f"channel stage gnuradio: flowgraph must be a .py or .grc file, not {text}")
    if not path.is_file():
        raise ChannelError(f"channel stage gnuradio: flowgraph {text} not found")
    return path


def signature() -> inspect.Signature:
    """The stage's keys as :func:`mfcomm.channels.chain.parse` reads them (typed by their defaults): the
    built-in's, mfcomm's own, ``timeout`` and ``generator``; any other key goes to the flowgraph."""
    named = {**BUILT_IN_KEYS, **OWN_KEYS, **dict.fromkeys(RADIO_KEYS), "timeout": 60.0, "generator": None}
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter(k, keyword, default=v) for k, v in named.items()]
    return inspect.Signature([*parameters, inspect.Parameter("keys", inspect.Parameter.VAR_KEYWORD)])
