"""How a field of the configuration is declared: one :func:`option` call gives its default, the range of its
numbers, the words it takes, and whether ``mfcomm train`` has a flag for it with what help. The checks
(:data:`~mfcomm.config.checks.BOUNDS`) and the command line (:mod:`mfcomm.cli.options`) are generated from
these declarations, read back with :func:`declared`.

Example
-------
>>> from dataclasses import dataclass, fields
>>> @dataclass
... class Example:
...     rate: float = option(0.5, 0.0, 1.0, "(]", help="a rate")
...     widths: list[int] = option([8], 1, WIDTH_MAX, items=LAYERS_MAX, flag=False)
>>> [declared(f).bound for f in fields(Example)]
[(0.0, 1.0, '(]'), (1, 65536, '[]')]
>>> Example().widths is not Example().widths  # each instance gets its own list
True
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import Any

LOOP_MAX = 10**9
"""Cap on iteration counts and intervals: far beyond any useful run, well within every counter."""
SEED_MAX = 2**63 - 1
"""Largest seed every generator takes (torch's are 64-bit; :mod:`mfcomm.learning.seeding` derives from it)."""
WIDTH_MAX, LAYERS_MAX = 65536, 16
"""Widest hidden layer and most hidden layers of a network."""
TIMEOUT_MAX = 86400.0
"""Longest time-out in seconds (a day); ``inf`` is refused: 0 means no limit where a limit may be lifted."""

Bound = tuple[float, float, str]
"""``(low, high, interval)``: ``interval`` is ``"[]"`` (both ends allowed), ``"(]"``, ``"[)"`` or ``"()"``."""


@dataclass(frozen=True)
class Option:
    """What a field declares besides its type and default: the ``"option"`` item of its metadata."""

    bound: Bound | None
    """The range of a number (of each item, for a list); None for a field that is not a number."""
    items: int
    """Most items of a list field; 0 for the others."""
    choices: tuple[str, ...]
    """The words a choice field takes; empty for numbers and free text (a channel, a path)."""
    help: str
    """The short help of its flag; the field's docstring is the long documentation."""
    flag: bool
    """Whether ``mfcomm train`` (and ``mfcomm node``) take it as ``--NAME``; False: set in a config file only."""


def option(
    default: Any,
    low: float | None = None,
    high: float | None = None,
    interval: str = "[]",
    *,
    items: int = 0,
    choices: tuple[str, ...] = (),
    help: str = "",
    flag: bool = True,
) -> Any:
    """A dataclass field with ``default`` (a list is copied for each instance) and its declaration: a number
    from ``low`` to ``high`` (``interval``: which ends are allowed, see :data:`Bound`), a list of at most
    ``items`` such numbers, or one of the words ``choices``; with ``flag``, the option ``--NAME`` and its
    ``help``."""
    bound = None if low is None or high is None else (low, high, interval)
    metadata = {"option": Option(bound, items, choices, help, flag)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def declared(f: Field[Any]) -> Option:
    """The declaration of the dataclass field ``f`` (every field of :class:`~mfcomm.config.fields.Config` has one)."""
    return f.metadata["option"]
