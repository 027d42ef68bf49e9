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

import os
import shutil
import tempfile
import time
from pathlib import Path

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
