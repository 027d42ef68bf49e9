"""Test-session set-up shared by every test.

A test run started in the background by a shell without job control (``nohup make test &`` from a script, some CI
runners) inherits SIGINT ignored, and so would the processes it starts: a test that interrupts a call with SIGINT,
as a terminal's Ctrl-C does, would then wait for a signal that never lands. Python's own handler is restored here,
so those tests check the code's handling of Ctrl-C whatever started them (a Python handler is reset to the default
on exec, so the processes the tests start get SIGINT's default too).
"""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """SIGINT raises KeyboardInterrupt in the test process, even where it was started with SIGINT ignored."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
