"""SIGTERM exits 143 and SIGINT 130 in every phase of a command, with one line on stderr and nothing half
written (docs/reliability.md): real processes, signalled once the phase under test has started.

A black-box channel that touches a marker file on its first evaluation-sized call (``EVAL_BATCH`` messages)
says when evaluation has started; a tiny noise keeps the SER near zero, so evaluation runs until the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfcomm import cli
from mfcomm.config.fields import EVAL_BATCH

MARKED = """
import numpy as np
from pathlib import Path

def f(x):
    if x.shape[0] == {batch}:
        Path({marker!r}).touch()
    return (x + 1e-3 * (np.random.randn(*x.shape) + 1j * np.random.randn(*x.shape))).astype(np.complex64)
"""
LONG = ["--target-errors", "1000000000", "--max-messages", "1000000000000", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small finished run."""
    out = tmp_path_factory.mktemp("signals") / "run"
    args = ["train", "--iterations", "20", "--messages", "4", "--channel-uses", "1", "--no-baseline", "--quiet"]
    assert cli.main([*args, "--out", str(out)]) == 0
    return out


def _marked_channel(tmp_path: Path) -> tuple[str, Path]:
    """``PATH.py:f`` and the marker it touches when evaluation starts."""
    marker = tmp_path / "evaluating"
    (tmp_path / "marked.py").write_text(MARKED.format(batch=EVAL_BATCH, marker=str(marker)))
    return f"{tmp_path / 'marked.py'}:f", marker


def _signal_once_started(cmd: list[str], marker: Path, signum: int) -> tuple[int, list[str]]:
    """Run ``mfcomm CMD``, send ``signum`` once ``marker`` exists; the exit status and stderr's lines."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfcomm.cli", *cmd],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, f"mfcomm ended before the signal: {proc.communicate()[1]}"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed test leaves no process behind
            proc.kill()
            proc.communicate()
    return proc.returncode, err.strip().splitlines()


@pytest.mark.integration
@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)  # SIGTERM: make test-slow
def test_a_signal_during_evaluate_exits_128_plus_it_in_one_line_leaving_no_ser_csv(trained, tmp_path, signum):
    channel, marker = _marked_channel(tmp_path)
    status, err = _signal_once_started(["evaluate", str(trained), "--channel", channel, *LONG], marker, signum)
    name = signal.Signals(signum).name
    assert (status, err) == (128 + signum, [f"mfcomm evaluate: interrupted ({name}); nothing written"])
    assert not [p.name for p in trained.iterdir() if p.name.startswith(("ser", ".ser"))]


@pytest.mark.integration
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)], ids=["SIGTERM", "SIGINT"]
)  # SIGINT: make test-slow
def test_a_signal_during_the_measurement_after_training_exits_128_plus_it_and_says_how_to_resume(tmp_path, signum):
    channel, marker = _marked_channel(tmp_path)
    config = tmp_path / "long.toml"  # the final measurement as long as it takes
    config.write_text("eval_target_errors = 1000000000\neval_max_messages = 1000000000000\n")
    out = tmp_path / "run"
    cmd = [
        "train",
        "--config",
        str(config),
        "--channel",
        channel,
        "--iterations",
        "20",
        "--batch-size",
        "64",
        "--quiet",
    ]
    status, err = _signal_once_started(
        [*cmd, "--messages", "4", "--channel-uses", "1", "--out", str(out)], marker, signum
    )
    name = signal.Signals(signum).name
    resume = f"mfcomm train --resume {out} --trust-config"
    assert (status, err) == (128 + signum, [f"mfcomm train: interrupted ({name}); resume with: {resume}"])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no summary.json: nothing looks like a result


def test_an_error_with_line_breaks_from_a_users_channel_is_printed_on_one_line(tmp_path, capsys):
    (tmp_path / "multi.py").write_text("def f(x):\n    raise ValueError('radio\\n  unplugged\\n\\nagain')\n")
    args = ["train", "--channel", f"{tmp_path / 'multi.py'}:f", "--iterations", "5", "--quiet"]
    assert cli.main([*args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "multi.py:f raised ValueError: radio unplugged again" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("command", "target", "left"),
    [
        ("demo --quick --quiet --out {tmp}/demo", "mfcomm.experiment.demo.run_demo", "no report written"),
        ("gradcheck --quiet --out {tmp}/g", "mfcomm.experiment.gradcheck.run_gradcheck", "nothing written"),
    ],
    ids=["demo", "gradcheck"],
)
def test_sigterm_to_demo_and_gradcheck_exits_143_in_one_line(tmp_path, monkeypatch, capsys, command, target, left):
    def signalled(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # mfcomm's own handler takes it, as in a real process
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(target, signalled)
    assert cli.main(command.format(tmp=tmp_path).split()) == 143
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"mfcomm {command.split()[0]}: interrupted (SIGTERM); {left}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_mfcomm_starts_is_one_line_and_128_plus_it(monkeypatch, capsys, signum):
    """A signal that arrives while ``mfcomm.cli`` is imported is held for ``main``, which reports it as it would
    have during the command: one line, 130 or 143, nothing started."""
    monkeypatch.setattr(cli, "_EARLY", [signum])
    monkeypatch.setattr(cli, "COMMANDS", {**cli.COMMANDS, "train": lambda args: pytest.fail("the command started")})
    assert cli.main(["train"]) == 128 + signum
    assert capsys.readouterr().err == f"mfcomm: interrupted ({signal.Signals(signum).name}); nothing written\n"


def test_a_real_start_up_interrupted_at_once_is_one_line(tmp_path):
    """SIGTERM 0.1 s after the process starts (it is still importing): one line, exit 143, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfcomm.cli", "train", "--quiet", "--out", str(tmp_path / "run")],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    code, err = proc.wait(timeout=60), proc.stderr.read() if proc.stderr else ""
    assert code in (143, -signal.SIGTERM) and "Traceback" not in err and err.count("\n") <= 1, (code, err)
    assert not (tmp_path / "run").exists()
