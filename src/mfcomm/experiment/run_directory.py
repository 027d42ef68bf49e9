"""Where ``mfcomm train`` writes: checked before any training, never mixing two runs' results.

:func:`prepare` refuses an ``--out`` that lacks the space for the checkpoints and results, or that already holds
a run (unless the user asked to ``--overwrite`` it or to ``--resume`` it), each with a one-line error, before a
single channel use is spent (:func:`~mfcomm.experiment.run_lock.owned`, which the caller holds, has refused a
file and a directory that cannot be written). A run that replaces another is trained beside it
(:func:`staged`) and swapped in whole at the end (:func:`swap`): an interrupt or a failure leaves the old run as
it was. Result files are written under temporary names and renamed, ``summary.json`` last (:func:`publish`).

Example
-------
>>> import tempfile, pathlib
>>> from mfcomm.experiment.run_lock import owned
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> out.mkdir()
>>> with owned(out):
...     prepare(out, need_bytes=1000) == out
True
>>> _ = (out / "summary.json").write_text("{}")
>>> with owned(out):
...     prepare(out, need_bytes=1000)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mfcomm.errors.MfcommError: --out ... already holds a run (summary.json); choose another --out, or add --overwrite ...
>>> with owned(out):
...     prepare(out, overwrite=True).name
'.run.overwrite'
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from mfcomm.errors import MfcommError
from mfcomm.experiment.run_lock import LOCK, create_writable

CHECKPOINT = "checkpoint.pt"
RUN_MARKERS = ("summary.json", "config.toml", "model.safetensors", CHECKPOINT)
"""Files whose presence makes a directory a run directory (finished, or with a checkpoint)."""
PUBLISHING = ".publish-"
"""The infix of the folder beside a run directory where :func:`publish` writes its files before renaming them."""
TENSORBOARD = "tensorboard"
"""The folder of TensorBoard event files that ``mfcomm train --tensorboard`` writes during training."""


def default_out() -> Path:
    """``runs/<timestamp>``, with a suffix if a run started in the same second."""
    base = Path(f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def run_marker(out: Path) -> str | None:
    """The first file that makes ``out`` a run directory, or None."""
    return next((name for name in RUN_MARKERS if (out / name).exists()), None)


def prepare(out: Path, overwrite: bool = False, resume: bool = False, need_bytes: int = 0) -> Path:
    """Check the run directory ``out`` (which the caller holds, :func:`~mfcomm.experiment.run_lock.owned`) before
    training, and return the directory training writes to: ``out``, or, when ``overwrite`` replaces a run (or
    ``resume`` continues such a replacement), its staging folder (:func:`staged`), which :func:`swap` puts in
    its place at the end. A one-line error if ``out`` cannot serve."""
    create_writable(out)  # where the caller holds no lock of its own (a sweep's trial: the sweep holds one)
    remove_stale(out)
    names = [p.name for p in out.iterdir() if p.name != LOCK]
    work = out
    if resume:
        work = resumed(out)
    elif names:
        marker = run_marker(out)
        if marker is None:
            raise MfcommError(f"--out {out} is a non-empty directory that holds no run; choose another --out")
        if not overwrite:
            hint = f", --resume {out} to continue it" if marker == CHECKPOINT else ""
            raise MfcommError(
                f"--out {out} already holds a run ({marker}); choose another --out{hint}, or add "
                "--overwrite to replace it"
            )
        work = staged(out)  # the old run stays whole until the new one is complete
        shutil.rmtree(work, ignore_errors=True)  # an earlier replacement given up: --overwrite starts afresh
        create_writable(work)
    check_space(out, need_bytes)
    return work


def check_out(out: Path, result: str, overwrite: bool | None = None, resumable: str | None = None) -> None:
    """The up-front checks of a command that writes its results into ``out`` (``gradcheck``'s ``gradcheck.csv``,
    ``node all``'s run and its ``summary.json``): a one-line error when ``out`` already holds the ``result`` file
    (unless ``overwrite``; None: the command has no ``--overwrite``), a run of another command, or files that are
    neither; a folder named ``resumable`` (``node all``'s ``nodes``, its checkpoints) is what the same command
    continues."""
    names = {p.name for p in out.iterdir() if p.name != LOCK}
    if not names or names == {resumable}:
        return
    if (out / result).exists():
        if overwrite:
            return
        hint = "" if overwrite is None else ", or add --overwrite to replace it"
        raise MfcommError(f"--out {out} already holds a result ({result}); choose another --out{hint}")
    marker = run_marker(out)
    if marker is not None:
        raise MfcommError(f"--out {out} already holds a run ({marker}); choose another --out")
    raise MfcommError(f"--out {out} is a non-empty directory that holds no {result}; choose another --out")


def resumed(out: Path) -> Path:
    """The directory ``--resume out`` continues: the staging folder of an interrupted ``--overwrite`` of ``out``
    where it holds a checkpoint (the newer run), else ``out``."""
    return staged(out) if (staged(out) / CHECKPOINT).exists() else out


def remove_stale(out: Path) -> None:
    """Remove what a process killed while writing ``out`` left: its publishing folders beside ``out`` and its
    temporary files in ``out`` and in its replacement's folder (the caller owns ``out``: no one else writes them)."""
    real = out.resolve()
    for folder in real.parent.glob(f".{real.name}{PUBLISHING}*"):
        shutil.rmtree(folder, ignore_errors=True)
    for tmp in [*real.glob(".*.tmp"), *staged(out).glob(".*.tmp")]:
        tmp.unlink(missing_ok=True)


def check_space(out: Path, need_bytes: int) -> None:
    """A one-line error when the file system of ``out`` has less than ``need_bytes`` free."""
    free = shutil.disk_usage(out).free
    if free < need_bytes:
        raise MfcommError(
            f"not enough space for --out {out}: {free / 2**20:.1f} MiB free, the run needs about "
            f"{need_bytes / 2**20:.1f} MiB"
        )


def staged(out: Path) -> Path:
    """Where a run that replaces the run in ``out`` (``--overwrite``) is trained and written, beside it (on the
    same file system, so that :func:`swap` is a rename): ``.NAME.overwrite``."""
    real = out.resolve()
    return real.with_name(f".{real.name}.overwrite")


def swap(work: Path, out: Path) -> None:
    """Put the finished run in ``work`` (:func:`staged`) in the place of ``out`` in one step, then remove the run
    it replaced: at no moment does ``out`` hold a mix of the two. ``renameat2(RENAME_EXCHANGE)`` where the file
    system has it; else two renames, between which ``out`` is briefly absent (never mixed)."""
    real = out.resolve()
    if not _exchange(work, real):
        old = real.with_name(f".{real.name}.replaced")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(real, old)
        os.rename(work, real)
        work = old
    shutil.rmtree(work)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically (Linux ``renameat2``); False where that is not available."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def remove_others(out: Path, keep: set[str]) -> None:
    """Remove what ``out`` holds besides ``keep``: an overwritten run's files never sit beside the new ones."""
    for path in out.iterdir():
        if path.name not in keep and path.name != LOCK:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else os.unlink(path)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV, columns in first-seen order; written to a temporary name and renamed."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with _staged(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def write_text(path: Path, text: str) -> None:
    """Text written to a temporary name and renamed into place."""
    with _staged(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``, renamed to it after the block; removed if the block fails or is
    interrupted (a signal during a write leaves no partial file, not even a hidden one)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def publish(out: str | Path, write: Callable[[Path], None], replace: bool = False, keep: Collection[str] = ()) -> Path:
    """Write a result directory: ``write(stage)`` fills a staging folder beside ``out``, whose files are then
    renamed into ``out`` (created if missing), ``summary.json`` last; a failure leaves nothing in ``out``.
    With ``replace``, whatever else ``out`` held is then removed (its checkpoint, an overwritten run's files)
    but the names in ``keep`` (what this run wrote there while training: ``tensorboard``)."""
    given = Path(out)
    given.parent.mkdir(parents=True, exist_ok=True)
    out = given.resolve()  # staged beside the real directory: a symlinked --out on another file system renames
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{PUBLISHING}", dir=out.parent))
    try:
        write(stage)
        out.mkdir(exist_ok=True)
        names = sorted(p.name for p in stage.iterdir())
        for name in [n for n in names if n != "summary.json"] + ["summary.json"]:
            os.replace(stage / name, out / name)
        if replace:
            remove_others(out, set(names) | set(keep))
    except OSError as err:  # a full disk, a directory made read-only: one line, what was there before stays
        raise MfcommError(f"cannot write the results into {given}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return given
