"""The worker process of a user's ``PATH.py:FUNC`` channel: run by path (never imported) by
:class:`mfcomm.channels.worker.ProcessWorker` as ``python -P worker_main.py SPEC``, under :mod:`mfcomm.channels.reaper`.

It imports ``FUNC`` from ``PATH.py`` and answers calls on its stdin and stdout until stdin closes. It imports the
standard library and NumPy only, never mfcomm or torch, so that it starts in a fraction of a second. It dies with
mfcomm (``PR_SET_PDEATHSIG``), keeps the protocol's pipes on descriptors of its own and points descriptors 0 and
1 elsewhere (``/dev/null`` and stderr), so that the user's ``print`` or ``input`` cannot corrupt the protocol.

Every message is a header (a 4-byte little-endian length, then UTF-8 text) and the raw bytes it announces:

- request: ``"ROWS COLS ..."`` (the shape), then the complex64 input, C-ordered;
- reply: ``"ok DTYPE DIM ..."`` then the raw bytes of ``np.asarray(y)`` made contiguous (the data under a masked
  array's mask too), if DTYPE is complex64 (any other dtype is refused, so its data is not sent); ``"type NAME"``
  (``y`` is not an ndarray); ``"raised TYPE MESSAGE"`` (the call raised, ``SystemExit`` included);
- at start-up: ``"ready"``, or ``"error MESSAGE"`` (the file cannot be imported, or has no such function).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

PR_SET_PDEATHSIG = 1
LENGTH = struct.Struct("<I")


class LoadError(Exception):
    """The channel cannot be loaded; its message is the whole one-line error."""


def die_with_parent() -> None:
    """SIGKILL this process when its parent (the reaper, which checked that mfcomm was alive) ends."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def load(spec: str) -> Callable[[np.ndarray], object]:
    """``FUNC`` of ``PATH.py:FUNC``, imported as ``python PATH.py`` would run it (its folder first on the module
    path: it may import the modules beside it); a LoadError with the message mfcomm prints otherwise."""
    path_text, _, func_name = spec.rpartition(":")
    path = Path(path_text)
    sys.path.insert(0, str(path.resolve().parent))
    module_spec = importlib.util.spec_from_file_location(f"mfcomm_user_channel_{path.stem}", path)
    assert module_spec is not None and module_spec.loader is not None  # mfcomm checked: PATH ends with .py
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except BaseException as err:  # noqa: BLE001 - user code may raise anything, SystemExit included: one line
        raise LoadError(f"channel {spec}: importing {path} raised {type(err).__name__}: {err}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise LoadError(f"channel {spec}: {path} has no function {func_name}")
    return func


def read_exactly(fd: int, view: memoryview) -> None:
    """Fill ``view`` from ``fd``; exit quietly at end of file (mfcomm closed the pipe)."""
    while view:
        got = os.readv(fd, [view])
        if not got:
            os._exit(0)
        view = view[got:]


def as_bytes(a: np.ndarray) -> memoryview:
    """The bytes of the C-ordered array ``a``, writable where ``a`` is (no copy; an empty one too)."""
    return a.reshape(-1).view(np.uint8).data


def message(header: str, data: np.ndarray | None = None) -> list[memoryview]:
    """One message's bytes: ``header``'s length and text, then ``data``'s raw bytes (None: none)."""
    text = header.encode("utf-8", "backslashreplace")
    return [memoryview(LENGTH.pack(len(text)) + text), *([] if data is None else [as_bytes(data)])]


def advance(parts: list[memoryview], done: int) -> None:
    """Drop the first ``done`` bytes of ``parts`` (what a write took), in place."""
    while parts and done >= len(parts[0]):
        done -= len(parts.pop(0))
    if done:
        parts[0] = parts[0][done:]


def send(fd: int, header: str, data: np.ndarray | None = None) -> None:
    """Write one message (see :func:`message`) to ``fd``."""
    parts = message(header, data)
    while parts:
        advance(parts, os.writev(fd, parts))


def answer(func: Callable[[np.ndarray], object], x: np.ndarray) -> tuple[str, np.ndarray | None]:
    """The reply to one call of ``func`` on ``x``: its header and the data to send after it."""
    try:
        y = func(x)
        if not isinstance(y, np.ndarray):
            return f"type {type(y).__name__}", None
        y = np.ascontiguousarray(np.asarray(y))  # the plain array under a subclass: a mask hides no NaN here
    except BaseException as err:  # noqa: BLE001 - the user's failure, reported; never the end of this worker
        return f"raised {type(err).__name__} {describe(err)}", None
    return f"ok {y.dtype.str} {' '.join(map(str, y.shape))}", y if y.dtype == np.complex64 else None


def describe(err: BaseException) -> str:
    """``str(err)``, or a word saying why there is none (an exception's ``__str__`` may raise too)."""
    try:
        return str(err)
    except BaseException:  # noqa: BLE001 - whatever it raises, the call's failure is still reported
        return "(its message cannot be shown)"


def serve(func: Callable[[np.ndarray], object], inp: int, out: int) -> None:
    """Answer calls until mfcomm closes the pipe; the function gets a fresh array each call (it may keep it)."""
    length = bytearray(LENGTH.size)
    while True:
        read_exactly(inp, memoryview(length))
        header = bytearray(LENGTH.unpack(length)[0])
        read_exactly(inp, memoryview(header))
        x = np.empty(tuple(int(d) for d in header.split()), np.complex64)
        read_exactly(inp, as_bytes(x))
        send(out, *answer(func, x))


def main(spec: str) -> None:
    die_with_parent()
    inp, out = os.dup(0), os.dup(1)  # the protocol's; 0 and 1 are the user's
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # print() shows at once (on stderr)
    try:
        func = load(spec)
    except LoadError as err:
        send(out, f"error {err}")
        return
    send(out, "ready")
    serve(func, inp, out)


if __name__ == "__main__":
    main(sys.argv[1])
