"""Impairment chains: a channel spec such as ``rapp(p=2,sat=1.2) | awgn | adc(bits=3)``, parsed and applied.

Syntax: stages separated by ``|``, applied left to right (transmitter side first). A stage is ``name`` or
``name(key=value, ...)``; values are numbers (``3``, ``1.2``, ``1e-3``, ``-0.5``) or ``true``/``false``;
unnamed parameters keep their defaults. Stages: ``awgn`` and ``rbf`` (no parameters: their N0 comes from
the run's ``snr_db`` or ``ebno_db``), and the impairments of :mod:`mfcomm.channels.impairments`: ``adc(bits, clip,
agc)``, ``rapp(p, sat)``, ``saleh(aa, ba, ap, bp)``, ``phase_noise(linewidth)``, ``cfo(offset,
random_phase)``, ``iq(amplitude_db, phase_deg)``, ``phase(max_deg)``; and the field model ``tdl(model,
delay_spread, bandwidth, carrier_frequency, speed)`` of :mod:`mfcomm.channels.field_models`; and GNU Radio's
channel model or any flowgraph,
``gnuradio(snr_db, freq_offset, epsilon, taps, seed, sync, payload, sps, rolloff, engine)`` or
``gnuradio(flowgraph=PATH, key=value, ...)`` (:mod:`mfcomm.channels.gnuradio`; taps separated by ``/``, calls
limited to the run's ``channel_timeout``). A chain is differentiable only if
every stage is. Anything that does not parse, and any number outside its key's range
(:data:`mfcomm.channels.stage_bounds.BOUNDS`, checked when the stage is built), raises a one-line
:class:`~mfcomm.errors.ChannelError` naming the stage. :func:`memory` estimates what a call allocates.

Example
-------
>>> import torch
>>> ch = build("rapp(p=2, sat=1.2) | awgn | adc(bits=3)", n0=0.1)
>>> ch.name, ch.differentiable
('rapp(p=2,sat=1.2) | awgn | adc(bits=3,clip=1.5,agc=false,ste=false)', False)
>>> ch(torch.ones(4, 2, dtype=torch.complex64)).shape
torch.Size([4, 2])
>>> build(ch.name, n0=0.1).name == ch.name
True
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable

import torch

from mfcomm.channels.contract import AWGN, Channel, RayleighBlockFading
from mfcomm.channels.field_models import FIELD_MODELS
from mfcomm.channels.gnuradio import GnuRadioChannel
from mfcomm.channels.impairments import IMPAIRMENTS
from mfcomm.errors import ChannelError

STAGES: dict[str, Callable[..., Channel]] = {**IMPAIRMENTS, **FIELD_MODELS, "gnuradio": GnuRadioChannel}
"""Every stage but the noise stages: the impairments, the field models (:mod:`mfcomm.channels.field_models`) and GNU
Radio's channel model."""

NOISE_STAGES: dict[str, Callable[[float, torch.Generator | None], Channel]] = {"awgn": AWGN, "rbf": RayleighBlockFading}
"""Stages whose noise variance N0 is the run's (from ``snr_db`` or ``ebno_db``)."""

STAGE = re.compile(r"^([A-Za-z_]\w*)\s*(?:\((.*)\))?$", re.DOTALL)

Stage = tuple[str, dict[str, float | bool | str]]


def is_chain(spec: str) -> bool:
    """Whether ``spec`` is written as a chain (holds ``|`` or ``(``, or is one impairment's name), not ``awgn``,
    ``rbf`` or a user's ``PATH.py:FUNC``. What any spec means is :func:`mfcomm.channels.spec.kind`'s to say."""
    if spec.rpartition(":")[0].endswith(".py"):
        return False
    return "|" in spec or "(" in spec or spec.strip() in STAGES


def parameters(name: str) -> dict[str, float | bool | str]:
    """A stage's parameters and their defaults (the keyword parameters of its class but ``generator`` and
    ``timeout``, which the run sets, and a ``**keys`` catch-all: see :func:`takes_any_key`)."""
    if name in NOISE_STAGES:
        return {}
    signature = inspect.signature(STAGES[name])
    return {
        k: p.default
        for k, p in signature.parameters.items()
        if k not in ("generator", "timeout") and p.kind is not p.VAR_KEYWORD
    }


def takes_any_key(name: str) -> bool:
    """Whether the stage passes keys it does not name on (``gnuradio``: to its flowgraph), as words."""
    return name in STAGES and any(p.kind is p.VAR_KEYWORD for p in inspect.signature(STAGES[name]).parameters.values())


def _value(stage: str, key: str, text: str, default: float | bool | str) -> float | bool | str:
    """``text`` as the type of ``default``, or a ChannelError naming the stage."""
    if isinstance(default, str):
        if not re.fullmatch(r"[\w.+/-]+", text):
            raise ChannelError(f"channel stage {stage}: {key} must be a word such as {default!r}, not {text!r}")
        return text
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise ChannelError(f"channel stage {stage}: {key} must be true or false, not {text!r}")
        return text.lower() == "true"
    try:
        value = float(text)
    except ValueError:
        raise ChannelError(f"channel stage {stage}: {key} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise ChannelError(f"channel stage {stage}: {key} must be a finite number, not {text!r}")
    if isinstance(default, int):
        if not value.is_integer():
            raise ChannelError(f"channel stage {stage}: {key} must be an integer, not {text!r}")
        return int(value)
    return value


def parse(spec: str) -> list[Stage]:
    """Stages of a chain spec, ``[(name, {key: value})]``, checked for syntax, names, keys and types
    (value ranges are checked when the stage is built, by :func:`build`)."""
    stages: list[Stage] = []
    for raw in spec.split("|"):
        text = raw.strip()
        match = STAGE.match(text)
        if not text or not match:
            raise ChannelError(
                f"channel {spec!r}: cannot parse stage {text!r} (expected name or "
                "name(key=value, ...), stages separated by |)"
            )
        name, args = match.group(1), match.group(2)
        if name not in STAGES and name not in NOISE_STAGES:
            known = ", ".join([*NOISE_STAGES, *STAGES])
            raise ChannelError(f"channel {spec!r}: unknown stage {name!r} (known: {known})")
        allowed, values = parameters(name), {}
        for item in (args or "").split(","):
            if not item.strip():
                continue
            key, equals, value = (part.strip() for part in item.partition("="))
            if not equals or not value:
                raise ChannelError(f"channel stage {name}: expected key=value, not {item.strip()!r}")
            if key not in allowed and not takes_any_key(name):
                hint = f"parameters: {', '.join(allowed)}" if allowed else "it takes no parameters"
                raise ChannelError(f"channel stage {name}: unknown parameter {key!r} ({hint})")
            if key in values:
                raise ChannelError(f"channel stage {name}: parameter {key} given twice")
            values[key] = _value(name, key, value, allowed.get(key, ""))
        stages.append((name, values))
    return stages


def has_noise(spec: str) -> bool:
    """Whether the channel ``spec`` takes the run's N0: ``awgn``, ``rbf``, or a chain with such a stage."""
    if spec in NOISE_STAGES:
        return True
    return is_chain(spec) and any(name in NOISE_STAGES for name, _ in parse(spec))


def has_fading(spec: str) -> bool:
    """Whether the channel ``spec`` has an ``rbf`` stage: a gain ``h`` that the receiver is not told."""
    return spec == "rbf" or (is_chain(spec) and any(name == "rbf" for name, _ in parse(spec)))


class Chain:
    """Stages applied in order, ``y = stage_last(... stage_1(x))``; each keeps the channel contract.

    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64. ``name``: the stages' names joined
    by `` | `` (every parameter spelled out; it parses back to the same chain). Differentiable only if
    every stage is.
    """

    def __init__(self, stages: list[Channel]):
        self.stages = stages
        self.name = " | ".join(stage.name for stage in stages)
        self.differentiable = all(stage.differentiable for stage in stages)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x

    @property
    def counters(self) -> dict[str, float]:
        """The stages' counters (a radio's bursts), added up."""
        total: dict[str, float] = {}
        for stage in self.stages:
            for key, value in (getattr(stage, "counters", None) or {}).items():
                total[key] = total.get(key, 0) + value
        return total


ELEMENTWISE_BYTES = 32
"""Bytes per symbol of a call of a stage that works symbol by symbol (an impairment, added noise): its output and
a few temporaries, complex64."""


def memory(spec: str, rows: int, n: int) -> int:
    """Rough peak bytes one call of the chain ``spec`` allocates on (rows, n) symbols: the sum of its stages',
    each stage's own ``memory(rows, n)`` where it has one (``tdl``, ``fiber``, ``gnuradio``: buffers that grow
    with their keys), else :data:`ELEMENTWISE_BYTES` a symbol. Builds the stages (which starts nothing)."""
    total = 0
    for name, values in parse(spec):
        stage = STAGES[name](**values) if name in STAGES else None
        estimate = getattr(stage, "memory", None)
        total += estimate(rows, n) if estimate else ELEMENTWISE_BYTES * rows * n
    return total


def build(spec: str, n0: float | None, generator: torch.Generator | None = None, timeout: float | None = None) -> Chain:
    """The chain for ``spec``; its ``awgn``/``rbf`` stages use noise variance ``n0`` (required if present),
    stages that take a ``timeout`` (``gnuradio``) get ``timeout`` seconds per call."""
    stages: list[Channel] = []
    for name, values in parse(spec):
        if name in NOISE_STAGES:
            if n0 is None:
                raise ChannelError(f"channel stage {name}: needs the noise level (set snr_db or ebno_db)")
            stages.append(NOISE_STAGES[name](n0, generator))
        else:
            timed = {"timeout": timeout} if "timeout" in inspect.signature(STAGES[name]).parameters else {}
            try:
                stages.append(STAGES[name](**values, **timed, generator=generator))
            except (ArithmeticError, ValueError) as err:  # a value the stage's own checks let through
                raise ChannelError(f"channel stage {name}: cannot be built with {values} ({err})") from None
    return Chain(stages)
