"""Where ``mfcomm train`` writes: checked before any training, never mixing two runs' results.

:func:`prepare` refuses an ``--out`` that is a file, that cannot be created or written, that lacks the
space for the checkpoints and results, or that already holds a run (unless the user asked to
``--overwrite`` it or to ``--resume`` it), each with a one-line error, before a single channel use is spent.

Example
-------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> prepare(out, need_bytes=1000).is_dir()
True
>>> _ = (out / "summary.json").write_text("{}")
>>> prepare(out, need_bytes=1000)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mfcomm.errors.MfcommError: --out ... already holds a run (summary.json); choose another --out, or add --overwrite ...
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

CHECKPOINT = "checkpoint.pt"
RUN_MARKERS = ("summary.json", "config.toml", "model.safetensors", CHECKPOINT)
"""Files whose presence makes a directory a run directory (finished, or with a checkpoint)."""
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
    """Check (and create) the run directory ``out`` before training; a one-line error if it cannot serve."""
    if out.exists() and not out.is_dir():
        raise MfcommError(f"--out {out} exists and is not a directory")
    if out.is_dir() and not resume and any(out.iterdir()):
        marker = run_marker(out)
        if marker is None:
            raise MfcommError(f"--out {out} is a non-empty directory that holds no run; choose another --out")
        if not overwrite:
            hint = f", --resume {out} to continue it" if marker == CHECKPOINT else ""
            raise MfcommError(
                f"--out {out} already holds a run ({marker}); choose another --out{hint}, or add "
                "--overwrite to replace it"
            )
    create_writable(out)
    free = shutil.disk_usage(out).free
    if free < need_bytes:
        raise MfcommError(
            f"not enough space for --out {out}: {free / 2**20:.1f} MiB free, the run needs about "
            f"{need_bytes / 2**20:.1f} MiB"
        )
    return out


def create_writable(out: Path) -> None:
    """Create ``out`` (and its parents) and check a file can be written there; a one-line error if not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise MfcommError(f"cannot write to --out {out}: {err.strerror or err}") from None


def remove_others(out: Path, keep: set[str]) -> None:
    """Remove what ``out`` holds besides ``keep``: an overwritten run's files never sit beside the new ones."""
    for path in out.iterdir():
        if path.name not in keep:
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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(stage)
        out.mkdir(exist_ok=True)
        names = sorted(p.name for p in stage.iterdir())
        for name in [n for n in names if n != "summary.json"] + ["summary.json"]:
            os.replace(stage / name, out / name)
        if replace:
            remove_others(out, set(names) | set(keep))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
