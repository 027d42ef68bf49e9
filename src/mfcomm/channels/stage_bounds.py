"""The range of every numeric key of every chain stage, in one table, and the check each stage runs on its keys.

A key out of its range is refused when the stage is built (a config's chain is built when the config is checked,
before anything runs), in one line naming the stage and the key. The ranges are what a user could want
(physically meaningful, and generous) and small enough that no key alone makes a stage allocate absurdly,
overflow or hang; what grows with several values together (a ``gnuradio`` stage's samples with the batch and
``sps``, ``fiber``'s buffers with ``spans`` and ``steps``, ``tdl``'s with ``delay_spread`` x ``bandwidth``) is the
memory estimate's to refuse (:func:`mfcomm.channels.chain.memory`). ``interval`` says which ends are allowed, as
for a config option: ``[]`` both, ``()`` neither. Integer keys have integer ends.

Keys that a ``gnuradio`` stage passes on to a user's flowgraph (``gnuradio(flowgraph=PATH, key=value)``: the
built-in model's keys too, there) are the flowgraph's, not mfcomm's: they are not bounded here.

Example
-------
>>> check("adc", bits=3, clip=1.5)
>>> check("gnuradio", sps=10**9)
Traceback (most recent call last):
...
mfcomm.errors.ChannelError: channel stage gnuradio: sps must be in [1, 64], not 1000000000
"""

from __future__ import annotations

from mfcomm.errors import ChannelError, shorten

Bound = tuple[float, float, str]
"""``(low, high, interval)``: the lowest and highest value and which of them are allowed (``[]``, ``[)``, ``(]``,
``()``)."""

BOUNDS: dict[tuple[str, str], Bound] = {
    # impairments (:mod:`mfcomm.channels.impairments`): amplitudes relative to unit-energy symbols
    ("adc", "bits"): (1, 16, "[]"),
    ("adc", "clip"): (1e-3, 1e3, "[]"),
    ("rapp", "p"): (0.1, 100.0, "[]"),
    ("rapp", "sat"): (1e-3, 1e3, "[]"),
    ("saleh", "aa"): (0.0, 100.0, "[]"),
    ("saleh", "ba"): (0.0, 100.0, "[]"),
    ("saleh", "ap"): (0.0, 100.0, "[]"),
    ("saleh", "bp"): (0.0, 100.0, "[]"),
    ("phase_noise", "linewidth"): (0.0, 1.0, "[]"),  # normalised to the symbol rate
    ("cfo", "offset"): (-0.5, 0.5, "[]"),  # cycles per symbol
    ("iq", "amplitude_db"): (-20.0, 20.0, "[]"),
    ("iq", "phase_deg"): (-90.0, 90.0, "()"),  # at +-90 degrees the Q branch is lost
    ("phase", "max_deg"): (0.0, 180.0, "[]"),
    # field models (:mod:`mfcomm.channels.field_models`)
    ("tdl", "delay_spread"): (1e-9, 1e-3, "[]"),  # s
    ("tdl", "bandwidth"): (1e3, 1e10, "[]"),  # Hz
    ("tdl", "carrier_frequency"): (1e6, 1e12, "[]"),  # Hz
    ("tdl", "speed"): (0.0, 1e4, "[]"),  # m/s
    ("fiber", "spans"): (1, 100, "[]"),
    ("fiber", "length"): (0.1, 300.0, "[]"),  # km
    ("fiber", "power_dbm"): (-30.0, 30.0, "[]"),
    ("fiber", "symbol_rate"): (1e6, 1e12, "[]"),  # Bd
    ("fiber", "alpha"): (0.0, 0.25, "[]"),  # 1/km (1.1 dB/km): the span loss exp(alpha length) stays in float32
    ("fiber", "beta_2"): (-1000.0, 1000.0, "[]"),  # ps^2/km
    ("fiber", "gamma"): (0.0, 100.0, "[]"),  # 1/(W km)
    ("fiber", "noise_figure_db"): (0.0, 30.0, "[]"),
    ("fiber", "steps"): (1, 1000, "[]"),
    # gnuradio (:mod:`mfcomm.channels.gnuradio`): mfcomm's own keys, a radio's, the built-in channel model's
    ("gnuradio", "payload"): (1, 65536, "[]"),  # symbols per frame
    ("gnuradio", "sps"): (1, 64, "[]"),
    ("gnuradio", "rolloff"): (0.0, 1.0, "[]"),
    ("gnuradio", "samp_rate"): (1e3, 1e11, "[]"),  # a radio's, samples per second
    ("gnuradio", "max_latency"): (1e-3, 3600.0, "[]"),  # s
    ("gnuradio", "snr_db"): (-100.0, 100.0, "[]"),  # as a config's snr_db
    ("gnuradio", "freq_offset"): (-0.5, 0.5, "()"),  # cycles per sample
    ("gnuradio", "epsilon"): (0.5, 2.0, "()"),  # sample-clock ratio
    ("gnuradio", "seed"): (0, 2**31 - 1, "[]"),  # a C int wherever GNU Radio runs
}
"""``(stage, key) -> (low, high, interval)`` for every numeric key of every stage of
:data:`mfcomm.channels.chain.STAGES` (``tests/channels/test_stage_bounds.py`` fails if one is missing)."""


def _number(value: float) -> str:
    """``value`` as an error message shows it: an integer below 1e12 in full, another number as ``1e+12``, a huge
    integer cut short."""
    if isinstance(value, int) and abs(value) < 10**12:
        return str(value)
    return f"{value:g}" if abs(value) < 1e300 else shorten(str(value), 24)


def _inside(value: float, bound: Bound) -> bool:
    """Whether ``value`` lies in ``bound`` (never NaN)."""
    low, high, interval = bound
    above = low < value if interval[0] == "(" else low <= value
    return above and (value < high if interval[1] == ")" else value <= high)


def check(stage: str, **values: float) -> None:
    """Raise a one-line ChannelError naming ``stage`` and the key unless every value lies in its key's range."""
    for key, value in values.items():
        bound = BOUNDS[stage, key]
        if not _inside(value, bound):
            low, high, interval = bound
            span = f"{interval[0]}{_number(low)}, {_number(high)}{interval[1]}"
            raise ChannelError(f"channel stage {stage}: {key} must be in {span}, not {_number(value)}")
