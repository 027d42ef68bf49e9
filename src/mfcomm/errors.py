"""The errors mfcomm reports to users as one line (the CLI prints them without a traceback)."""


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
