"""Nothing a flowgraph starts outlives its stop (issue #23): ``flowgraphs/double_fork.py`` leaves a daemon in a
session of its own, which a signal to the flowgraph's process group misses; the reaper the flowgraph runs under
(:mod:`mfcomm.channels.reaper`) ends it and reaps it when the channel closes, when the flowgraph exits by itself,
and when mfcomm is killed. The flowgraph tests are skipped when the system Python has no GNU Radio (run
``make gnuradio``)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from mfcomm.channels import flowgraph_process
from mfcomm.channels.flowgraph_process import gnuradio_python, has_gnuradio
from mfcomm.channels.gnuradio import GnuRadioChannel
from mfcomm.errors import ChannelError

pytestmark = [
    pytest.mark.integration,  # flowgraphs in their own processes
    pytest.mark.skipif(not flowgraph_process.REAPER, reason="the reaper is Linux's (PR_SET_CHILD_SUBREAPER)"),
]
needs_gnuradio = pytest.mark.skipif(not has_gnuradio(), reason=f"{gnuradio_python()} cannot import gnuradio")

DOUBLE_FORK = Path(__file__).parent / "flowgraphs" / "double_fork.py"
PID_FILE = "MFCOMM_TEST_DAEMON_PID_FILE"


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether ``condition()`` holds within ``seconds``, polled."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _reaped(pid: int) -> bool:
    """Whether process ``pid`` has ended and been reaped (a zombie still has its /proc entry)."""
    return not Path(f"/proc/{pid}").exists()


def _daemon(pid_file: Path) -> int:
    """The daemon's process id, once it has written it; running, in a session of its own."""
    assert _within(30, pid_file.exists), "the flowgraph left no daemon"
    daemon = int(pid_file.read_text())
    assert not _reaped(daemon) and os.getsid(daemon) != os.getsid(0)
    return daemon


def _x() -> torch.Tensor:
    return torch.randn(64, 4, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))


def _call_for(ch: GnuRadioChannel, seconds: float) -> None:
    """Call ``ch`` again and again for ``seconds`` (a flowgraph that exits fails a call within them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ch(_x())


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where the daemon writes its process id; a daemon still there at the end (a failed test) is killed."""
    path = tmp_path / "daemon.pid"
    yield path
    if path.exists() and not _reaped(daemon := int(path.read_text())):
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signal.SIGKILL)


ENDINGS = [("sys.exit(3)", 3), ("os.kill(os.getpid(), signal.SIGSEGV)", -signal.SIGSEGV)]


@pytest.mark.parametrize("ending, status", ENDINGS, ids=["exits", "crashes"])
def test_the_reaper_exits_as_its_command_did_and_ends_what_it_left(pid_file, tmp_path, ending, status):
    """The reaper alone (no GNU Radio): a command that leaves a daemon, then exits or crashes."""
    leave = f"runpy.run_path({str(DOUBLE_FORK)!r})['leave_a_daemon'](pathlib.Path({str(pid_file)!r}))"
    command = [sys.executable, "-c", f"import os, pathlib, runpy, signal, sys\n{leave}\n{ending}\n"]
    done = subprocess.run([*flowgraph_process.REAPER, *command], cwd=tmp_path, timeout=30, check=False)
    assert done.returncode == status
    assert _reaped(int(pid_file.read_text()))  # before the reaper exited


@needs_gnuradio
def test_the_daemon_a_flowgraph_left_ends_with_the_channel(pid_file, monkeypatch):
    monkeypatch.setenv(PID_FILE, str(pid_file))
    ch = GnuRadioChannel(flowgraph=str(DOUBLE_FORK), gain=2, sync="none", timeout=10)
    try:
        for _ in range(3):
            assert torch.allclose(ch(_x()), 2 * _x(), atol=1e-5)
        daemon = _daemon(pid_file)
        process = ch.transport.process
    finally:
        ch.close()
    assert process.returncode == 0  # the flowgraph's own status: its stdin closed, it stopped
    assert _within(5, lambda: _reaped(daemon))


@needs_gnuradio
def test_the_daemon_ends_when_the_flowgraph_exits_by_itself(pid_file, monkeypatch):
    monkeypatch.setenv(PID_FILE, str(pid_file))
    ch = GnuRadioChannel(flowgraph=str(DOUBLE_FORK), fault="exit", timeout=2)
    with pytest.raises(ChannelError, match=r"double_fork.py exited \(exit status 4\): relay: radio lost$"):
        _call_for(ch, 30)
    daemon = int(pid_file.read_text())  # written before the flowgraph went on
    assert _within(5, lambda: _reaped(daemon))


@needs_gnuradio
def test_the_daemon_ends_when_mfcomm_is_killed(pid_file, tmp_path):
    """SIGKILL leaves mfcomm no time to stop anything: the reaper gets SIGHUP (``PR_SET_PDEATHSIG``) and ends the
    flowgraph and its daemon all the same."""
    train = ["train", "--channel", f"gnuradio(flowgraph={DOUBLE_FORK})", "--iterations", "100000", "--no-baseline"]
    mfcomm = subprocess.Popen(
        [sys.executable, "-m", "mfcomm.cli", *train, "--quiet", "--out", str(tmp_path / "run")],
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1", PID_FILE: str(pid_file)},
    )
    try:
        assert _within(60, lambda: pid_file.exists() or mfcomm.poll() is not None)
        assert mfcomm.poll() is None, mfcomm.stderr.read() if mfcomm.stderr else ""
        daemon = _daemon(pid_file)
    finally:
        mfcomm.kill()
        mfcomm.communicate()
    assert _within(5, lambda: _reaped(daemon))
