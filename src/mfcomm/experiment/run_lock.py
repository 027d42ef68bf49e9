"""One owner per run directory: an advisory lock, so that two commands never write the same directory.

``mfcomm train``, ``node all``, ``sweep``, ``evaluate`` and ``gradcheck`` hold :func:`owned` on the directory they
write for as long as they run; a second one is refused in one line that names the holder's pid. The lock is
``flock`` on ``DIR/.mfcomm.lock`` (which holds the pid): the kernel drops it when its process ends, however it
ends (``kill -9`` included), so a stale file never locks anyone out. The file is removed when the lock is
released; a directory holding only a stale one counts as empty (:data:`LOCK` is never a run's file).

Example
-------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> with owned(out):
...     (out / LOCK).read_text().strip() == str(os.getpid())
True
>>> sorted(out.iterdir())  # released: no lock file left
[]
>>> with owned(out / "new"):  # created, left empty: removed
...     pass
>>> (out / "new").exists()
False
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mfcomm.errors import MfcommError

LOCK = ".mfcomm.lock"
"""The lock file in a directory a command writes; never part of a run."""


@contextlib.contextmanager
def owned(out: Path, what: str = "--out") -> Iterator[Path]:
    """``out`` (created if missing) held by this process for the block; a one-line MfcommError if it is a file,
    cannot be created or written, or another process holds it. A directory the block created and left empty
    is removed (a refused or failed command leaves nothing behind)."""
    if out.exists() and not out.is_dir():
        raise MfcommError(f"{what} {out} exists and is not a directory")
    created = not out.exists()
    create_writable(out, what)
    try:
        fd = _lock(out, what)
    except OSError as err:
        raise MfcommError(f"cannot write to {what} {out}: {err.strerror or err}") from None
    try:
        yield out
    finally:
        _unlock(out, fd)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def create_writable(out: Path, what: str = "--out") -> None:
    """Create ``out`` (and its parents) and check that a new file can be written there, before any work is done; a
    one-line MfcommError if not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise MfcommError(f"cannot write to {what} {out}: {err.strerror or err}") from None


def _lock(out: Path, what: str) -> int:
    """The descriptor of ``out``'s lock file, locked (exclusive) and holding this process's pid."""
    path = out / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise MfcommError(
                f"{what} {out} is in use by another mfcomm process (pid {holder}); wait for it to end, or choose "
                "another directory"
            ) from None
        if _same_file(fd, path):  # not a file its last holder unlinked between our open and our lock
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _unlock(out: Path, fd: int) -> None:
    """Remove the lock file (if it is still ours: a swap may have moved the directory), then release it."""
    path = out / LOCK
    if _same_file(fd, path):
        path.unlink()
    os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` names the file open as ``fd``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False
