"""SIGTERM ends a command as Ctrl-C does, and each command's exit status says which: 130 for SIGINT, 143 for
SIGTERM (docs/reliability.md).

SIGTERM raises ``KeyboardInterrupt("SIGTERM")`` (:func:`terminate`), so that every ``finally`` and every
handler of an interrupt runs as for Ctrl-C, while the exception still names the signal.

Example
-------
>>> signal_name(KeyboardInterrupt("SIGTERM")), exit_status(KeyboardInterrupt())
('SIGTERM', 130)
"""

from __future__ import annotations

import signal


def terminate(_signum: int, _frame: object) -> None:
    """The SIGTERM handler of ``mfcomm``: an interrupt that names SIGTERM."""
    raise KeyboardInterrupt("SIGTERM")


def signal_name(err: KeyboardInterrupt) -> str:
    """``SIGTERM`` for the interrupt :func:`terminate` raised, else ``SIGINT`` (Ctrl-C)."""
    return "SIGTERM" if err.args[:1] == ("SIGTERM",) else "SIGINT"


def exit_status(err: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal.Signals[signal_name(err)].value
