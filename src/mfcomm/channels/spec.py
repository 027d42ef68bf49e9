"""What a channel spec means, decided in one place, and the channel it names (:func:`make_channel`).

A spec (the ``channel`` of a config, ``--channel``) is one of these kinds (:func:`kind`):

- ``built-in``: ``awgn`` or ``rbf`` (:mod:`mfcomm.channels`), which take the run's noise level N0;
- ``chain``: an impairment chain such as ``rapp(p=2,sat=1.2) | awgn | adc(bits=3)`` (:mod:`mfcomm.channels.chain`;
  one impairment's name alone, such as ``adc``, is a chain too);
- ``function``: a user's black box ``PATH.py:FUNC``, a Python file that :func:`make_channel` runs in a worker
  process (every other spec with ``:``; its form is checked when it is loaded);
- ``object``: ``object:NAME``, what a run trained on a Python object (``mfcomm.train(cfg, channel=obj)``)
  records as its channel: it names no channel that can be rebuilt;
- ``unknown``: anything else.

Example
-------
>>> [kind(s) for s in ("awgn", "adc", "rapp | awgn", "box.py:f", "object:my_radio", "nosuch")]
['built-in', 'chain', 'chain', 'function', 'object', 'unknown']
>>> has_noise("rapp | awgn"), has_noise("adc"), has_noise("box.py:f")
(True, False, False)
>>> make_channel("awgn", n0=0.1).name
'awgn'
>>> make_channel("object:my_radio", n0=None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mfcomm.errors.ChannelError: channel object:my_radio was a Python object given to mfcomm.train(channel=...): ...
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeGuard

import torch

from mfcomm.channels import chain
from mfcomm.channels.contract import AWGN, BlackBox, Channel, RayleighBlockFading
from mfcomm.channels.framing import Framer
from mfcomm.errors import ChannelError

Kind = Literal["built-in", "chain", "function", "object", "unknown"]

BUILT_IN = tuple(chain.NOISE_STAGES)
"""The channels named by one word, ``awgn`` and ``rbf``: a chain's noise stages, alone."""

OBJECT = "object:"
"""The prefix of the spec a run trained on a Python object records: ``object:NAME``."""

FLOWGRAPH_KEY = re.compile(r"([(,]\s*flowgraph\s*=\s*)([^,)]+?)(?=\s*[,)])")
"""A ``gnuradio`` stage's ``flowgraph=PATH`` (group 2: the PATH), which names code to run."""


def kind(spec: str) -> Kind:
    """What ``spec`` names (see the module doc); reads no file and imports nothing."""
    if spec in BUILT_IN:
        return "built-in"
    if spec.startswith(OBJECT):
        return "object"
    if chain.is_chain(spec):
        return "chain"
    return "function" if ":" in spec else "unknown"


def object_spec(name: str) -> str:
    """The spec a run records when trained on a channel object whose ``name`` is ``name``: ``object:NAME``."""
    return f"{OBJECT}{name}"


def is_chain(spec: str) -> bool:
    """Whether ``spec`` is an impairment chain."""
    return kind(spec) == "chain"


def is_black_box(spec: str) -> bool:
    """Whether ``spec`` is neither a built-in channel nor a chain: a user's function, an object, or unknown
    (no model of it is known: no classical baseline, no SNR sweep unless it has a noise stage)."""
    return kind(spec) not in ("built-in", "chain")


def names_code(spec: Any) -> TypeGuard[str]:
    """Whether using ``spec`` would run a user's code: a ``PATH.py:FUNC`` that :func:`make_channel` imports, or a
    chain with a ``gnuradio(flowgraph=PATH)`` stage, whose flowgraph it starts. Reads no file; a chain need not
    parse (a stage that names a flowgraph counts even where another stage is malformed); anything but a string
    (a config file's wrong type) names none.

    >>> names_code("box.py:f"), names_code("gnuradio(flowgraph=fg.grc) | awgn"), names_code("gnuradio(snr_db=9)")
    (True, True, False)
    """
    if not isinstance(spec, str):
        return False
    k = kind(spec)
    return k == "function" or (k == "chain" and any(_names_flowgraph(stage) for stage in spec.split("|")))


def _names_flowgraph(stage: str) -> bool:
    """Whether the chain stage ``stage`` (text) is ``gnuradio(...)`` with a ``flowgraph=PATH``."""
    match = chain.STAGE.match(stage.strip())
    return bool(match and match.group(1) == "gnuradio" and FLOWGRAPH_KEY.search(stage))


def absolute_paths(spec: str) -> str:
    """``spec`` with the paths of the code it names made absolute (``PATH.py:FUNC``'s file, each
    ``gnuradio(flowgraph=PATH)``'s flowgraph), so that it names the same code from any directory; any other spec
    unchanged. What a config records (:func:`mfcomm.config.files.normalize`).

    >>> absolute_paths("gnuradio(flowgraph=/fg/../x.grc, gain=2)"), absolute_paths("/a/./b.py:f")
    ('gnuradio(flowgraph=/x.grc, gain=2)', '/a/b.py:f')
    """
    k = kind(spec)
    if k == "function" and spec.rsplit(":", 1)[0].endswith(".py"):
        path, func = spec.rsplit(":", 1)
        return f"{Path(path).expanduser().resolve()}:{func}"
    if k != "chain":
        return spec
    return "|".join(
        FLOWGRAPH_KEY.sub(lambda m: m.group(1) + str(Path(m.group(2)).expanduser().resolve()), stage)
        if _names_flowgraph(stage)
        else stage
        for stage in spec.split("|")
    )


def has_noise(spec: str) -> bool:
    """Whether the channel ``spec`` takes the run's N0: ``awgn``, ``rbf``, or a chain with such a stage."""
    return kind(spec) in ("built-in", "chain") and chain.has_noise(spec)


def has_fading(spec: str) -> bool:
    """Whether the channel ``spec`` is ``rbf`` or a chain with an ``rbf`` stage (the receiver is not told ``h``).

    >>> has_fading("rbf"), has_fading("rbf | adc(bits=3)"), has_fading("awgn"), has_fading("box.py:f")
    (True, True, False, False)
    """
    return kind(spec) in ("built-in", "chain") and chain.has_fading(spec)


def known_model(spec: str) -> str | None:
    """``awgn`` or ``rbf`` if ``spec`` is that model alone (built in, or a one-stage chain such as ``awgn()``),
    where the baseline's ML detector is known; else None.

    >>> known_model("awgn()"), known_model("rbf"), known_model("awgn | adc"), known_model("box.py:f")
    ('awgn', 'rbf', None, None)
    """
    k = kind(spec)
    if k == "built-in":
        return spec
    if k == "chain":
        stages = chain.parse(spec)
        if len(stages) == 1 and stages[0][0] in BUILT_IN:
            return stages[0][0]
    return None


def check_known(spec: str) -> None:
    """A one-line ChannelError if ``spec`` names no channel at all (kind ``unknown``) or an ``object:NAME``
    (see :func:`make_channel`); reads no file and imports nothing."""
    k = kind(spec)
    if k == "object":
        raise ChannelError(
            f"channel {spec} was a Python object given to mfcomm.train(channel=...): pass it again "
            "(mfcomm.evaluate(run, channel=...)) or evaluate with --channel SPEC"
        )
    if k == "unknown":
        raise ChannelError(f"unknown channel {spec!r}: use awgn, rbf, an impairment chain or PATH.py:FUNC")


def make_channel(
    spec: str, n0: float | None, generator: torch.Generator | None = None, timeout: float | None = None
) -> Channel:
    """The channel ``spec`` names: ``awgn``, ``rbf`` (both need ``n0``), an impairment chain such as
    ``rapp(p=2,sat=1.2) | awgn | adc(bits=3)`` (see :mod:`mfcomm.channels.chain`) or a user's ``PATH.py:FUNC``
    (a :class:`BlackBox` whose worker process imports the file now; each call may take at most ``timeout``
    seconds; :meth:`BlackBox.close` ends the process). ``object:NAME`` and unknown specs raise a one-line
    ChannelError."""
    check_known(spec)
    k = kind(spec)
    if k == "built-in":
        if n0 is None:
            raise ChannelError(f"channel {spec}: needs the noise level (set snr_db or ebno_db)")
        return AWGN(n0, generator) if spec == "awgn" else RayleighBlockFading(n0, generator)
    if k == "chain":
        return chain.build(spec, n0, generator, timeout)
    return BlackBox(spec, name=spec, timeout=timeout)


def radio_framer(spec: str) -> Framer | None:
    """The framing and pulse shaping of the first ``gnuradio`` stage of ``spec`` (what its transmitted samples
    look like), or None when ``spec`` streams through no flowgraph.

    >>> radio_framer("gnuradio(snr_db=15, sps=4) | adc").sps, radio_framer("awgn")
    (4, None)
    """
    if kind(spec) != "chain":
        return None
    for name, values in chain.parse(spec):
        if name == "gnuradio":
            stage = chain.STAGES[name](**values)
            return stage.framer  # type: ignore[attr-defined]  # the gnuradio stage is a GnuRadioChannel
    return None
