"""The errors mfcomm reports to users as one line (the CLI prints them without a traceback).

An error that echoes a user's value echoes it through :func:`shown`, cut short."""


class MfcommError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class ConfigError(MfcommError):
    """A configuration value is missing, malformed or out of range."""


class ChannelError(MfcommError):
    """A channel could not be loaded, or returned something that breaks the channel contract."""


class NodeError(MfcommError):
    """Three-process training: a peer timed out, failed, or sent a malformed or oversized message."""


class DivergedError(MfcommError):
    """Training produced a non-finite loss or weight; it stops at once, keeping the last good checkpoint."""


class Interrupted(MfcommError):
    """SIGINT or SIGTERM stopped training at the end of an iteration, after writing a checkpoint (``saved``)."""

    def __init__(self, iteration: int, signal_name: str, saved: bool):
        super().__init__(f"{signal_name} at iteration {iteration}")
        self.iteration, self.signal_name, self.saved = iteration, signal_name, saved


SHOWN = 40
"""The most characters of a user's value that an error message echoes."""


def shorten(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters (the last three ``...``), so that a huge value gives a short error.

    >>> shorten("x" * 100)
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'
    """
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def shown(value: object, limit: int = SHOWN) -> str:
    """A user's value as an error message echoes it: its ``repr``, :func:`shorten`-ed (one too deeply nested to
    print: its type).

    >>> shown("10")
    "'10'"
    >>> shown(list(range(100)))
    '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11...'

    """
    try:
        text = repr(value)
    except RecursionError:
        text = f"a deeply nested {type(value).__name__}"
    return shorten(text, limit)
