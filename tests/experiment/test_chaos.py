"""The chaos test (issue #23): ``mfcomm train`` killed at random moments, with and without ``--overwrite``.

120 runs, each killed by SIGKILL, SIGTERM or SIGINT at a moment drawn uniformly over a whole run's life (start-up,
training, checkpoint writes, the SER and baseline measurement, publishing). Afterwards the directory must be one
of three things: the old run whole (byte for byte), a checkpoint that resumes, or the finished new run, whose
every file is the uninterrupted run's (so ``evaluate``, which reads ``config.toml`` and the weights, reports the
model ``summary.json`` describes). A sample of the resumable ones is resumed and must end as that same run.
Slow (about 10 minutes): ``make test-slow``.
"""

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import CHECKPOINT, staged
from mfcomm.experiment.run_lock import LOCK
from mfcomm.learning import checkpointing

pytestmark = pytest.mark.slow

TRAIN = [sys.executable, "-m", "mfcomm.cli", "train", "--iterations", "120", "--batch-size", "256"]
TRAIN += ["--checkpoint-every", "20", "--quiet"]
KILLS = 120
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
START_UP = 0.15
"""Seconds before the first kill: the interpreter's own start-up (before mfcomm's code runs, about 30 ms) is
Python's, where SIGINT is its KeyboardInterrupt."""
VOLATILE = ("train_seconds", "baseline_seconds")


def _files(out: Path) -> dict[str, bytes]:
    """The files of a run directory (not its lock, its checkpoint or its TensorBoard logs), by name."""
    return {
        p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name not in (LOCK, CHECKPOINT, "metrics.csv")
    }


def _train(seed: int, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*TRAIN, "--seed", str(seed), "--out", str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(seed: int, out: Path) -> tuple[dict[str, bytes], float]:
    """An uninterrupted run's files (but the wall-clock ones), and how long the command took."""
    start = time.monotonic()
    proc = _train(seed, out)
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    return _comparable(out), time.monotonic() - start


def _comparable(out: Path) -> dict[str, bytes]:
    """What must equal the uninterrupted run: every result file but the summary's timings and the figures."""
    files = {k: v for k, v in _files(out).items() if not k.endswith(".png") and k != "summary.json"}
    runs.load(out)  # what evaluate loads (config.toml and the weights, compared above) loads
    summary = json.loads((out / "summary.json").read_text())
    files["summary"] = repr({k: v for k, v in summary.items() if k not in VOLATILE}).encode()
    return files


def _state(out: Path, old: dict[str, bytes] | None, new: dict[str, bytes]) -> str:
    """What a killed run left in ``out``: ``old`` (the run it was replacing, whole), ``new`` (the finished run,
    every file the uninterrupted run's), ``resumable`` (a checkpoint that reads back, in ``out`` or in its
    replacement's folder) or ``nothing``; anything else fails the test."""
    summary = (out / "summary.json").exists()
    if summary and old is not None and _files(out) == old:
        return "old" if not (staged(out) / CHECKPOINT).exists() else _checked(staged(out), "resumable")
    if summary:
        assert _comparable(out) == new, f"{out} holds a summary.json but not the run it describes"
        return "new"
    assert old is None, f"{out}: the run it was replacing is gone, and no new run is finished"
    if (out / CHECKPOINT).exists():
        return _checked(out, "resumable")
    assert not out.exists() or not [p for p in out.iterdir() if p.name != LOCK], f"{out}: files but no checkpoint"
    return "nothing"


def _checked(work: Path, state: str) -> str:
    checkpointing.read(work / CHECKPOINT)  # a whole checkpoint, never a torn one
    return state


def test_runs_killed_at_random_moments_leave_an_old_run_a_checkpoint_or_the_new_run(tmp_path):
    rng = random.Random(2312)
    _finished(1, tmp_path / "old")
    new, seconds = _finished(2, tmp_path / "reference")
    old = _files(tmp_path / "old")
    seen: dict[tuple[str, str, str], int] = {}
    for k in range(KILLS):
        out, overwrite, sig = tmp_path / f"run{k}", k % 2 == 1, SIGNALS[k % 3]
        if overwrite:
            shutil.copytree(tmp_path / "old", out)
        proc = _train(2, out, *(["--overwrite"] if overwrite else []))
        time.sleep(rng.uniform(START_UP, 1.1 * seconds))
        proc.send_signal(sig)
        code, err = proc.wait(), proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in err and err.count("\n") <= 1, err
        # 128 + sig from mfcomm's handlers; -sig (what a shell shows as 128 + sig) once they are gone, at exit
        assert code in (0, -signal.SIGKILL, 128 + sig, -sig), (code, err)
        state = _state(out, old if overwrite else None, new)
        key = (signal.Signals(sig).name, "--overwrite" if overwrite else "new --out", state)
        seen[key] = seen.get(key, 0) + 1
        if state == "resumable" and k % 4 in (0, 1):  # half of them resumed to the end: the same run
            resume = subprocess.run([*TRAIN[:4], "--resume", str(out)], check=False, capture_output=True, text=True)
            assert resume.returncode == 0, resume.stderr
            assert _comparable(out) == new and not staged(out).exists()
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.")]
    print("\n".join(f"{n:4d}  {' '.join(key)}" for key, n in sorted(seen.items())))
    states = {state for _, _, state in seen}
    assert {"old", "resumable", "new"} <= states, seen  # the kills did land in every phase
