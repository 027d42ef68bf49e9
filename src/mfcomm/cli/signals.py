"""SIGTERM ends a command as Ctrl-C does, and each command's exit status says which: 130 for SIGINT, 143 for
SIGTERM (docs/reliability.md).

SIGTERM raises ``KeyboardInterrupt("SIGTERM")`` and SIGINT ``KeyboardInterrupt("SIGINT")`` (:func:`interrupt`), so
that every ``finally`` and every handler of an interrupt runs as for Ctrl-C, while the exception still names the
signal; one that arrives inside an import waits for the import to finish.

Example
-------
>>> signal_name(KeyboardInterrupt("SIGTERM")), exit_status(KeyboardInterrupt())
('SIGTERM', 130)
"""

from __future__ import annotations

import signal
from types import FrameType

_PENDING: list[str] = []
"""A signal that arrived inside an import, raised once the import is done."""
RETRY = 0.02
"""Seconds between looks at whether the import a signal arrived in is done."""


def interrupt(signum: int, frame: FrameType | None) -> None:
    """The SIGINT and SIGTERM handler of ``mfcomm``: an interrupt that names its signal, raised at once, or, if it
    arrived inside an import, as soon as the import is done (an interrupt that tears an import of NumPy or torch
    apart leaves a module half-initialised, and a later import of it fails with a traceback)."""
    name = signal.Signals(signum).name
    if _importing(frame):
        _PENDING.append(name)
        signal.signal(signal.SIGALRM, _retry)
        signal.setitimer(signal.ITIMER_REAL, RETRY)
        return
    raise KeyboardInterrupt(name)


def _retry(_signum: int, frame: FrameType | None) -> None:
    """The pending interrupt, raised if the import it arrived in is done; else a look again soon."""
    if _importing(frame):
        signal.setitimer(signal.ITIMER_REAL, RETRY)
    elif _PENDING:
        raise KeyboardInterrupt(_PENDING.pop())


def settle() -> None:
    """No interrupt pending any more (the command has ended): the look-again timer cancelled."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    _PENDING.clear()


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (importlib's machinery is among its callers)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def signal_name(err: KeyboardInterrupt) -> str:
    """``SIGTERM`` for the interrupt :func:`interrupt` raised for it, else ``SIGINT`` (Ctrl-C)."""
    return "SIGTERM" if err.args[:1] == ("SIGTERM",) else "SIGINT"


def exit_status(err: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal.Signals[signal_name(err)].value
