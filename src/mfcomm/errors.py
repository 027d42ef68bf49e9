"""The errors mfcomm reports to users as one line (the CLI prints them without a traceback)."""


class MfcommError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class ConfigError(MfcommError):
    """A configuration value is missing, malformed or out of range."""


class ChannelError(MfcommError):
    """A channel could not be loaded, or returned something that breaks the channel contract."""


class NodeError(MfcommError):
    """Three-process training: a peer timed out, failed, or sent a malformed or oversized message."""
