"""A run directory is one unit with one owner (issue #23, item 3).

Each test checks the state after the fault: which files the directory holds (byte for byte against the run it
held before), where the checkpoint is and what it holds, and that nothing temporary is left beside it.
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mfcomm import cli
from mfcomm.experiment import gradcheck, run_directory, run_lock, runs, snr_sweep
from mfcomm.experiment.run_directory import CHECKPOINT, staged
from mfcomm.experiment.run_lock import LOCK, owned
from mfcomm.learning import checkpointing
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.nodes import launcher

FAST = ["--iterations", "200", "--batch-size", "256", "--checkpoint-every", "50", "--no-baseline", "--quiet"]


def _files(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` (but the lock file), by relative path, with its bytes."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != LOCK}


def _leftovers(parent: Path, *keep: str) -> list[str]:
    """Hidden staging folders and temporary files in ``parent`` but ``keep``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and p.name not in keep)


def _signal_at(monkeypatch, call: int) -> None:
    """SIGINT to this process from inside transmitter step number ``call``."""
    real, calls = FeedbackLink.__call__, []

    def link(self, losses):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, losses)

    monkeypatch.setattr(FeedbackLink, "__call__", link)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 50-iteration run (seed 5)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert cli.main(["train", *FAST, "--iterations", "50", "--seed", "5", "--out", str(out)]) == 0
    return out


@pytest.fixture
def old_run(finished, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A copy of the finished run in this test's directory, and its files."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out, _files(out)


def _commands(tmp_path: Path, out: Path) -> dict[str, list[str]]:
    """Every command that writes a directory, each writing ``out``."""
    (tmp_path / "s.toml").write_text("[base]\niterations = 10\n[grid]\nseed = [1]\n")
    return {
        "train": ["train", *FAST, "--out", str(out)],
        "train --resume": ["train", "--resume", str(out)],
        "node all": ["node", "all", "--iterations", "10", "--out", str(out), "--quiet"],
        "sweep": ["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--quiet"],
        "evaluate": ["evaluate", str(out), "--quiet"],
        "gradcheck": ["gradcheck", "--trials", "10", "--out", str(out), "--quiet"],
    }


@pytest.mark.parametrize("command", ["train", "train --resume", "node all", "sweep", "evaluate", "gradcheck"])
def test_a_directory_another_command_writes_is_refused_in_one_line(old_run, tmp_path, monkeypatch, capsys, command):
    out, before = old_run
    if command == "train --resume":  # an interrupted run, which someone else is resuming
        out = tmp_path / "interrupted"
        _signal_at(monkeypatch, 60)
        assert cli.main(["train", *FAST, "--out", str(out)]) == 130
        monkeypatch.undo()
        capsys.readouterr()
        before = _files(out)
    elif command in ("train", "gradcheck", "node all", "sweep"):
        out = tmp_path / "new"
        before = {}
    args = _commands(tmp_path, out)[command]
    with owned(out):  # as another process holds it: flock refuses a second open file, in this process too
        assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is in use by another mfcomm process (pid {os.getpid()})" in err
    assert _files(out) == before and not (out / LOCK).exists()


def test_a_live_trainer_holds_its_directory_and_a_killed_one_does_not(tmp_path, capsys):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfcomm.cli", "train", *FAST, "--iterations", "100000", "--out", str(out)],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            if (out / CHECKPOINT).exists():
                break
            time.sleep(0.1)
        assert (out / LOCK).read_text().strip() == str(proc.pid)
        assert cli.main(["train", "--resume", str(out)]) == 2
        assert f"is in use by another mfcomm process (pid {proc.pid})" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.wait()
    assert (out / LOCK).exists()  # a kill -9 leaves its file; the kernel released the lock with the process
    with owned(out):
        assert (out / LOCK).read_text().strip() == str(os.getpid())
    checkpointing.read(out / CHECKPOINT)  # the killed run's checkpoint is whole


def test_an_interrupted_overwrite_leaves_the_old_run_whole_and_resumes_into_its_place(
    old_run, tmp_path, monkeypatch, capsys
):
    out, before = old_run
    reference = tmp_path / "reference"
    new = ["train", *FAST, "--seed", "6"]
    assert cli.main([*new, "--out", str(reference)]) == 0
    _signal_at(monkeypatch, 80)
    assert cli.main([*new, "--out", str(out), "--overwrite"]) == 130
    err = capsys.readouterr().err
    assert err.strip().endswith(f"resume with: mfcomm train --resume {out}")
    assert _files(out) == before  # the old run, whole: not one file of the new one
    assert checkpointing.read(staged(out) / CHECKPOINT)["iteration"] == 80
    assert _leftovers(tmp_path, staged(out).name) == []
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out)]) == 0
    assert not staged(out).exists() and not (out / CHECKPOINT).exists() and _leftovers(tmp_path) == []
    assert (out / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert '"seed": 6' in (out / "summary.json").read_text()


def test_a_failed_overwrite_before_its_first_checkpoint_leaves_the_old_run_and_nothing_else(
    old_run, tmp_path, monkeypatch, capsys
):
    out, before = old_run
    real = FeedbackLink.__call__
    monkeypatch.setattr(FeedbackLink, "__call__", lambda self, losses: real(self, losses * float("nan")))
    assert cli.main(["train", *FAST, "--seed", "6", "--out", str(out), "--overwrite"]) == 2
    assert "training diverged" in capsys.readouterr().err
    assert _files(out) == before and _leftovers(tmp_path) == []


def _full_disk(after: int):
    """A ``torch.save`` that fails with ENOSPC from its ``after``-th call on."""
    real, calls = torch.save, []

    def save(obj, path, *a, **k):
        calls.append(1)
        if len(calls) >= after:
            Path(path).write_bytes(b"")  # the file was opened before the disk filled: a 0-byte temporary
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, path, *a, **k)

    return save


def test_a_disk_that_fills_mid_run_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    monkeypatch.setattr(checkpointing.torch, "save", _full_disk(after=3))
    assert cli.main(["train", *FAST, "--seed", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device; the last good checkpoint: iteration 100, kept" in err
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]  # no 0-byte temporary, no result
    assert checkpointing.read(out / CHECKPOINT)["iteration"] == 100
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out)]) == 0


def test_a_disk_full_at_publish_keeps_the_old_run_and_the_new_checkpoint(old_run, tmp_path, monkeypatch, capsys):
    out, before = old_run

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runs, "save_weights", full)
    assert cli.main(["train", *FAST, "--seed", "6", "--out", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the results into" in err and "No space left on device" in err
    assert _files(out) == before
    assert checkpointing.read(staged(out) / CHECKPOINT)["iteration"] == 200  # resumable: only publishing is left
    assert _leftovers(tmp_path, staged(out).name) == [] and _leftovers(staged(out)) == []


def test_evaluate_checks_that_it_can_write_before_it_measures(old_run, monkeypatch, capsys):
    out, before = old_run

    def read_only(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(run_lock.tempfile, "TemporaryFile", read_only)  # root writes anywhere: fake the refusal
    monkeypatch.setattr(snr_sweep, "evaluate_run", lambda *a, **k: pytest.fail("measured"))
    assert cli.main(["evaluate", str(out), "--quiet"]) == 2
    assert (
        capsys.readouterr().err == f"mfcomm evaluate: error: cannot write to run directory {out}: Permission denied\n"
    )
    assert _files(out) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_evaluate_on_a_read_only_run_directory_is_one_line(old_run, capsys):
    out, before = old_run
    out.chmod(0o555)
    try:
        assert cli.main(["evaluate", str(out), "--quiet"]) == 2
    finally:
        out.chmod(0o755)
    assert "cannot write to run directory" in capsys.readouterr().err and _files(out) == before


def test_an_out_symlinked_to_another_file_system_gets_the_whole_run(tmp_path):
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    target = Path(f"/dev/shm/mfcomm-test-{os.getpid()}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    try:
        (tmp_path / "link").symlink_to(target)
        assert cli.main(["train", *FAST, "--iterations", "50", "--out", str(tmp_path / "link")]) == 0
        assert (target / "summary.json").exists() and (tmp_path / "link").is_symlink()
        assert cli.main(["train", *FAST, "--iterations", "50", "--out", str(tmp_path / "link"), "--overwrite"]) == 0
        assert (target / "summary.json").exists() and not (target / CHECKPOINT).exists()
        assert _leftovers(tmp_path) == [] and _leftovers(Path("/dev/shm"), *_leftovers(Path("/dev/shm"))) == []
        assert not any(p.name.startswith(f".{target.name}") for p in Path("/dev/shm").iterdir())
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.mark.parametrize(
    "command, holds, message",
    [
        ("node all", "file", "exists and is not a directory"),
        ("node all", "run", "already holds a result (summary.json); choose another --out"),
        ("node all", "notes", "is a non-empty directory that holds no summary.json"),
        ("gradcheck", "file", "exists and is not a directory"),
        ("gradcheck", "run", "already holds a run (summary.json); choose another --out"),
        ("gradcheck", "notes", "is a non-empty directory that holds no gradcheck.csv"),
        ("gradcheck", "gradcheck", "already holds a result (gradcheck.csv); choose another --out, or add --overwrite"),
    ],
)
def test_node_all_and_gradcheck_check_out_as_train_does(
    old_run, tmp_path, monkeypatch, capsys, command, holds, message
):
    monkeypatch.setattr(launcher, "run_all", lambda *a, **k: pytest.fail("nodes started"))
    monkeypatch.setattr(gradcheck, "run_gradcheck", lambda *a, **k: pytest.fail("measured"))
    out, _ = old_run
    if holds == "file":
        out = tmp_path / "file"
        out.write_text("mine")
    elif holds != "run":
        out = tmp_path / holds
        out.mkdir()
        (out / ("gradcheck.csv" if holds == "gradcheck" else "notes.txt")).write_text("mine")
    before = out.read_bytes() if out.is_file() else _files(out)
    assert cli.main(_commands(tmp_path, out)[command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert (out.read_bytes() if out.is_file() else _files(out)) == before


def test_a_stale_lock_file_alone_is_an_empty_directory(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text("12345\n")  # left by a process killed with -9
    assert cli.main(["train", *FAST, "--iterations", "50", "--out", str(out)]) == 0
    assert (out / "summary.json").exists() and not (out / LOCK).exists()
    assert run_directory.run_marker(out) == "summary.json"
