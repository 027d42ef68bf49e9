"""Runs a command so that nothing it starts outlives it (Linux): ``python -I -S reaper.py COMMAND [ARG ...]``.

:mod:`mfcomm.channels.flowgraph_process` starts each flowgraph under this script. It makes itself a child
subreaper (``PR_SET_CHILD_SUBREAPER``): a process the command starts and that loses its parent, such as a daemon
that double-forks and calls ``setsid``, is re-parented here rather than to init, so it stays below this process
whatever process group or session it moves to. The command gets this process's stdin, stdout and stderr, and
SIGKILL should this process die (``PR_SET_PDEATHSIG``). Then:

- the command exits: every process still below this one is SIGKILLed and reaped, and this one exits as the
  command did (its exit status, or killed by its signal), so mfcomm's error messages read the same;
- SIGTERM or SIGINT: passed on to the command (which then exits, as above);
- SIGHUP, which mfcomm's death sends (``PR_SET_PDEATHSIG``), or its last resort at a stop: every process below
  this one is SIGKILLed at once.

Standard library only, and no mfcomm import: it runs in an interpreter of its own, started before the flowgraph.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import NoReturn

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
WAKE = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
"""The signals this process acts on: blocked, and taken one at a time with ``sigwaitinfo``."""
KILL_POLL = 0.01
"""Seconds between two sweeps of ``/proc`` while the processes SIGKILLed are still dying."""


PREFIX = [sys.executable, "-I", "-S", __file__] if sys.platform.startswith("linux") and sys.executable else []
"""What a command runs under so that nothing it starts outlives it: this script in an interpreter of its own (Linux;
nothing elsewhere). Start it with :func:`hang_up_with_parent` as ``preexec_fn``."""


def hang_up_with_parent(parent: int, prctl: Callable[..., int] | None) -> None:
    """In the reaper's process before exec: SIGHUP when the parent thread dies (Linux: the reaper then SIGKILLs all
    below it), SIGKILL now if it already has."""
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGHUP)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def libc_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up before a fork; None off Linux."""
    return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def descendants(root: int) -> list[int]:
    """The live processes below ``root``, from ``/proc`` (zombies left out: they have no children, and their
    parent, or this process once it is gone, reaps them)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):  # a process that ended meanwhile
            with open(f"/proc/{name}/stat", "rb") as stat:
                state, parent = stat.read().rpartition(b")")[2].split()[:2]  # the name, in (), may hold anything
            if state != b"Z":
                children.setdefault(int(parent), []).append(int(name))
    found, todo = [], [root]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def reap(command: int, ended: dict[int, int], block: bool = False) -> None:
    """Reap every child that has ended (``block``: every child, waiting for each to end), keeping the wait status
    of ``command`` in ``ended``."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:  # no child left
            return
        if pid == 0:
            return
        if pid == command:
            ended[pid] = status


def start(command: list[str], prctl: Callable[..., int]) -> int:
    """Fork and exec ``command`` with the signal state of a fresh process, to be SIGKILLed should this one die;
    its process id. A command that cannot run says why on stderr and exits with status 127, as a shell's does."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # this process died before the line above
            os._exit(1)
        for ignored in (signal.SIGPIPE, signal.SIGXFSZ):  # as Python's start-up left them: exec would keep them
            signal.signal(ignored, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.execvp(command[0], command)
    except OSError as err:
        os.write(2, f"cannot run {command[0]}: {err.strerror}\n".encode())
    os._exit(127)


def supervise(command: int, ended: dict[int, int]) -> None:
    """Until ``command`` ends or SIGHUP comes: reap the orphans re-parented here as they end, and pass SIGTERM and
    SIGINT on to ``command``."""
    while command not in ended:
        signo = signal.sigwaitinfo(WAKE).si_signo
        if signo == signal.SIGCHLD:
            reap(command, ended)
        elif signo == signal.SIGHUP:
            return
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(command, signo)


def kill_all(command: int, ended: dict[int, int]) -> None:
    """SIGKILL every process below this one, again until none is left (one may fork as it goes), and reap them
    all: those re-parented here too."""
    while below := descendants(os.getpid()):
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reap(command, ended)
        time.sleep(KILL_POLL)
    reap(command, ended, block=True)


def exit_as(status: int) -> NoReturn:
    """Exit as the command did: with its exit status, or killed by its signal (without a core file)."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with contextlib.suppress(OSError, ValueError):  # SIGKILL's action cannot be set: it is the default
            signal.signal(-code, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
        os.kill(os.getpid(), -code)
    sys.exit(code if code >= 0 else 128 - code)


def main(command: list[str]) -> NoReturn:
    """Run ``command`` below this process, a child subreaper, until it ends; then end all it left behind."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.pthread_sigmask(signal.SIG_BLOCK, WAKE)
    pid = start(command, prctl)
    ended: dict[int, int] = {}
    supervise(pid, ended)
    kill_all(pid, ended)
    exit_as(ended[pid])


if __name__ == "__main__":
    main(sys.argv[1:])
