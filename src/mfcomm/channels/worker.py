"""A user's ``PATH.py:FUNC`` channel in a worker process of its own, so that no call of it can hang, end or
outlive mfcomm (Linux).

In mfcomm's own process, a call that holds the GIL (C code, a catastrophic regex, a long NumPy call) ignored the
time-out and SIGTERM, ``os._exit(0)`` ended mfcomm silently with status 0, and ``os.fork()`` left processes
behind. :class:`ProcessWorker` runs the file in a child (:mod:`mfcomm.channels.worker_main`, in a session and
process group of its own, killed with mfcomm) and waits for each answer in slices of :data:`SLICE` seconds:

- at the time-out (None: none) it kills the child and raises TimeoutError;
- a child that dies is a one-line ChannelError naming its exit status or signal;
- a signal that asked training to stop (:func:`abandon_calls`) abandons a call still unanswered :data:`GRACE`
  seconds later, with ``KeyboardInterrupt(SIGNAL_NAME)``;
- any other exception (the ``KeyboardInterrupt`` of Ctrl-C) kills the child on its way out.

The time-out limits each call, not the import at start-up (as in mfcomm's process before). After a kill the next
call starts a fresh child, which imports the file again. :meth:`ProcessWorker.close` (also run when the worker is
collected, and at exit) ends the child and everything below it. On Linux the child runs under
:mod:`mfcomm.channels.reaper`, a child subreaper: what the channel forks stays below it even in a session of its
own, and is killed with it, also when mfcomm is killed with -9 (the reaper gets SIGHUP). The reaper dies with
the thread that started it (``PR_SET_PDEATHSIG``: build the channel in the thread that outlives its use).

Example
-------
>>> import pathlib, tempfile
>>> import numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "half.py"
>>> _ = path.write_text("def f(x):\\n    if len(x) > 2:\\n        raise ValueError('too long')\\n    return x / 2\\n")
>>> worker = ProcessWorker(f"{path}:f", "half.py:f")
>>> worker.call(np.ones((2, 3), np.complex64), timeout=10.0)
array([[0.5+0.j, 0.5+0.j, 0.5+0.j],
       [0.5+0.j, 0.5+0.j, 0.5+0.j]], dtype=complex64)
>>> worker.call(np.ones((3, 1), np.complex64), timeout=None)
Raised(type_name='ValueError', message='too long')
>>> worker.close()
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from mfcomm.channels import reaper
from mfcomm.channels.worker_main import LENGTH, advance, as_bytes, message
from mfcomm.errors import ChannelError

T = TypeVar("T")

WORKER_MAIN = str(Path(__file__).with_name("worker_main.py"))
SLICE = 0.1
"""Seconds the wait for an answer blocks at most before it looks at the clock and at stop requests."""
GRACE = 1.0
"""Seconds a call may still take after a signal asked training to stop (the iteration can end normally)."""
EXIT_WAIT = 1.0
"""Seconds a child that closed its pipe gets to exit by itself, before it is killed."""
REAP_WAIT = 2.0
"""Seconds the reaper gets to end everything below it after SIGHUP, before its process group is SIGKILLed."""
_stop_asked: list[tuple[str, float]] = []  # (signal name, time.monotonic()) of the first stop request


def abandon_calls(signal_name: str) -> None:
    """Record that ``signal_name`` asked mfcomm to stop: a call unanswered :data:`GRACE` seconds after this (or
    after it started) is abandoned with ``KeyboardInterrupt(signal_name)``. Training's first SIGINT or SIGTERM
    calls it (:func:`mfcomm.learning.checkpointing.stop_signals`); later calls keep the first request."""
    if not _stop_asked:
        _stop_asked.append((signal_name, time.monotonic()))


def reset() -> None:
    """Forget the stop request: calls wait for their answer (or their time-out) again."""
    _stop_asked.clear()


class NotArray(NamedTuple):
    """The channel returned something that is not an ndarray: its type's name."""

    type_name: str


class Raised(NamedTuple):
    """The channel's call raised: the exception's type name and its message."""

    type_name: str
    message: str


class _Ended(Exception):
    """The child's pipe closed or the child exited."""


class _Wait(NamedTuple):
    """How long one exchange may wait: until ``deadline`` (``time.monotonic()``; None: no limit); it ``started``
    then (a stop request abandons it :data:`GRACE` seconds after the later of the request and this)."""

    deadline: float | None
    started: float


class ProcessWorker:
    """The worker process of the channel ``spec`` (``PATH.py:FUNC``, its form and file checked beforehand), named
    ``name`` in errors. Starting it imports the file in the child: a one-line ChannelError if that fails (the
    message the child sends) or the child ends first."""

    def __init__(self, spec: str, name: str) -> None:
        self.spec, self.name = spec, name
        self.proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        # under the reaper: what the channel forks, even into a session of its own, ends with the worker, and with
        # mfcomm should it be killed; -P: no script directory on the worker's path
        command = [*reaper.PREFIX, sys.executable, "-P", WORKER_MAIN, self.spec]
        proc = subprocess.Popen(
            command,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=functools.partial(reaper.hang_up_with_parent, os.getpid(), reaper.libc_prctl()),  # noqa: PLW1509
        )
        assert proc.stdin is not None and proc.stdout is not None  # both pipes were asked for
        self.proc, self.pidfd = proc, os.pidfd_open(proc.pid)
        self.finalizer = weakref.finalize(self, _kill, proc, self.pidfd)
        self.rfd, self.wfd = proc.stdout.fileno(), proc.stdin.fileno()
        os.set_blocking(self.wfd, False)  # a write waits in slices too (a child's fork may hold the pipe open)
        self.readable, self.writable = select.poll(), select.poll()
        self.readable.register(self.rfd, select.POLLIN)
        self.writable.register(self.wfd, select.POLLOUT)
        for poller in (self.readable, self.writable):
            poller.register(self.pidfd, select.POLLIN)  # readable once the child has exited
        header = self._guarded(self._header, None, "while starting")
        if header != "ready":
            self.close()
            raise ChannelError(header.removeprefix("error "))

    def call(self, x: np.ndarray, timeout: float | None) -> np.ndarray | NotArray | Raised:
        """The channel's answer to ``x`` ((batch, n) complex64, C-ordered): an array (of any dtype and shape, for
        :func:`mfcomm.channels.contract.check_output` to check; empty where the dtype is not complex64), or what
        it returned or raised instead. A TimeoutError after ``timeout`` seconds (None: no limit); a ChannelError
        naming the exit status or signal if the child ends; the child killed on any exception."""
        if self.proc is None:
            self._start()
        return self._guarded(lambda wait: self._answer(x, wait), timeout, "during a call")

    def close(self) -> None:
        """Kill the child and every process below it, and reap it (idempotent)."""
        if self.proc is not None:
            self.proc = None
            self.finalizer()

    def _answer(self, x: np.ndarray, wait: _Wait) -> np.ndarray | NotArray | Raised:
        self._write(message(" ".join(map(str, x.shape)), x), wait)
        kind, _, rest = self._header(wait).partition(" ")
        if kind == "type":
            return NotArray(rest)
        if kind == "raised":
            type_name, _, text = rest.partition(" ")
            return Raised(type_name, text)
        dtype, *dims = rest.split()
        if np.dtype(dtype) != np.complex64:
            return np.empty(0, np.dtype(dtype))  # refused for its dtype alone: its data was not sent
        y = np.empty(tuple(int(d) for d in dims), np.complex64)
        self._read(as_bytes(y), wait)
        return y

    def _guarded(self, step: Callable[[_Wait], T], timeout: float | None, when: str) -> T:
        """``step`` within ``timeout`` seconds; the child killed if it fails; its end a one-line ChannelError."""
        started = time.monotonic()
        try:
            return step(_Wait(None if timeout is None else started + timeout, started))
        except _Ended:
            raise self._ended(when) from None
        except BaseException:
            self.close()
            raise

    def _ended(self, when: str) -> ChannelError:
        """The error for a child that closed its pipe or exited ``when``; what is left of it killed."""
        assert self.proc is not None
        proc = self.proc
        try:
            select.select([self.pidfd], [], [], EXIT_WAIT)  # a child that closed its pipe is exiting: its status
        finally:
            self.close()
        status = proc.returncode
        how = f"killed by {_signal_name(-status)}" if status < 0 else f"exit status {status}"
        return ChannelError(f"channel {self.name} ended {when} ({how})")

    def _header(self, wait: _Wait) -> str:
        length = bytearray(LENGTH.size)
        self._read(memoryview(length), wait)
        header = bytearray(LENGTH.unpack(length)[0])
        self._read(memoryview(header), wait)
        return header.decode("utf-8", "replace")

    def _read(self, view: memoryview, wait: _Wait) -> None:
        while view:
            self._wait(self.readable, self.rfd, wait)
            got = os.readv(self.rfd, [view])
            if not got:
                raise _Ended
            view = view[got:]

    def _write(self, parts: list[memoryview], wait: _Wait) -> None:
        while parts:
            try:
                advance(parts, os.writev(self.wfd, parts))
            except BlockingIOError:
                self._wait(self.writable, self.wfd, wait)
            except BrokenPipeError:
                raise _Ended from None

    def _wait(self, poller: select.poll, fd: int, wait: _Wait) -> None:
        """Return once ``fd`` is ready; _Ended if the child exits first; TimeoutError at the deadline;
        ``KeyboardInterrupt(SIGNAL)`` once a stop request and the call are both :data:`GRACE` seconds old."""
        while True:
            now = time.monotonic()
            if wait.deadline is not None and now >= wait.deadline:
                raise TimeoutError
            if _stop_asked and now - max(_stop_asked[0][1], wait.started) > GRACE:
                raise KeyboardInterrupt(_stop_asked[0][0])
            limit = SLICE if wait.deadline is None else min(SLICE, wait.deadline - now)
            ready = {ready_fd for ready_fd, _ in poller.poll(1000 * limit)}
            if fd in ready:
                return
            if self.pidfd in ready:
                raise _Ended


def _kill(proc: subprocess.Popen[bytes], pidfd: int) -> None:
    """End the reaper and all below it (SIGHUP: it SIGKILLs every process below it, wherever it moved; its process
    group SIGKILLed should it not end in time), then reap it and close its pipes."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc.pid, signal.SIGHUP)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=REAP_WAIT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    os.close(pidfd)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def _signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal N`` for a number with no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
