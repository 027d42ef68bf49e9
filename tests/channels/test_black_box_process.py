"""A ``PATH.py:FUNC`` black box runs in a worker process (issue #23): a call that holds the GIL, exits, crashes or
forks costs that process, never mfcomm; each such fault is one ChannelError line and the next call gets a fresh
worker; a signal ends a run within about a second even when the call never returns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mfcomm.channels import worker
from mfcomm.channels.spec import make_channel
from mfcomm.errors import ChannelError
from mfcomm.learning import checkpointing

BOX = """import ctypes, os, re, sys, time
from pathlib import Path
import numpy as np

HERE = Path({here!r})


def exact(x):
    return (x * np.complex64(1 - 2j) + np.sin(x.real)).astype(np.complex64)


def where(x):
    HERE.joinpath("ids").write_text(f"{{os.getpid()}} {{os.getsid(0)}} {{os.getpgid(0)}}")
    return x


def chatty(x):
    print("a line for the user", flush=True)
    sys.stdout.write("no line break, then ten thousand bytes" + "x" * 10_000)
    os.write(1, bytes(range(256)))  # the user's stdout at the lowest level
    return x


def faulty(x):  # x[0, 0]: 0 no fault, 1 hold the GIL for ages, 2 exit 0, 3 segfault, 4 fork, 5 a daemon
    fault = int(x[0, 0].real)
    if fault == 1:
        HERE.joinpath("calling").touch()
        re.match(r"(a+)+$", "a" * 60 + "b")  # catastrophic backtracking: C code that never lets the GIL go
    elif fault == 2:
        os._exit(0)
    elif fault == 3:
        ctypes.string_at(0)
    elif fault == 4 and os.fork() == 0:
        HERE.joinpath("grandchild").write_text(str(os.getpid()))
        time.sleep(600)
    elif fault == 5 and os.fork() == 0:  # a daemon: double fork, a session of its own
        os.setsid()
        if os.fork() == 0:
            HERE.joinpath("grandchild").write_text(str(os.getpid()))
            time.sleep(600)
        os._exit(0)
    return x
"""


@pytest.fixture
def box(tmp_path: Path) -> Path:
    path = tmp_path / "box.py"
    path.write_text(BOX.format(here=str(tmp_path)))
    return path


def _x(fault: int = 0) -> torch.Tensor:
    x = torch.arange(8, dtype=torch.float32).reshape(4, 2).to(torch.complex64) + 1
    x[0, 0] = fault
    return x


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its reaper counts) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return True
        if state in "ZX":
            return True
        time.sleep(0.05)
    return False


def test_the_output_is_the_functions_bit_for_bit(box):
    x = torch.randn(64, 3, dtype=torch.complex64)
    ch = make_channel(f"{box}:exact", None)
    expected = (x.numpy() * np.complex64(1 - 2j) + np.sin(x.numpy().real)).astype(np.complex64)
    assert torch.equal(ch(x), torch.from_numpy(expected))
    ch.close()


def test_the_function_runs_in_a_process_of_its_own_session_and_group(box, tmp_path):
    ch = make_channel(f"{box}:where", None)
    assert torch.equal(ch(_x()), _x())
    pid, sid, pgid = map(int, (tmp_path / "ids").read_text().split())
    assert pid != os.getpid() and sid == pgid and sid not in (os.getsid(0), os.getpgid(0))
    ch.close()
    assert _gone(pid)


def test_the_users_print_does_not_break_the_protocol(box, capfd):
    ch = make_channel(f"{box}:chatty", None, timeout=30)
    for _ in range(3):
        assert torch.equal(ch(_x()), _x())
    ch.close()
    captured = capfd.readouterr()
    assert "a line for the user" in captured.err and "a line for the user" not in captured.out


def test_a_call_holding_the_gil_times_out_in_one_line_and_the_next_call_works(box):
    ch = make_channel(f"{box}:faulty", None, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ChannelError, match=r"^channel .*box.py:faulty did not answer within 1 s$") as err:
        ch(_x(1))
    assert time.monotonic() - start < 4.0 and "\n" not in str(err.value)
    assert torch.equal(ch(_x()), _x())  # a fresh worker, the file imported again
    ch.close()


@pytest.mark.parametrize("fault, how", [(2, r"exit status 0"), (3, r"killed by SIGSEGV")], ids=["exit", "segfault"])
def test_a_worker_that_dies_in_a_call_is_one_line_naming_how_and_the_next_call_works(box, fault, how):
    ch = make_channel(f"{box}:faulty", None)
    with pytest.raises(ChannelError, match=rf"^channel .*box.py:faulty ended during a call \({how}\)$"):
        ch(_x(fault))
    assert torch.equal(ch(_x()), _x())
    ch.close()


def _grandchild(tmp_path: Path) -> int:
    """The pid the forked process wrote, once written."""
    marker = tmp_path / "grandchild"
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return int(marker.read_text())


@pytest.mark.parametrize("fault", [4, 5], ids=["fork", "daemon in a session of its own"])
def test_what_the_function_forked_ends_when_the_channel_closes(box, tmp_path, fault):
    ch = make_channel(f"{box}:faulty", None)
    assert torch.equal(ch(_x(fault)), _x(fault))
    grandchild = _grandchild(tmp_path)
    assert not _gone(grandchild, within=0.1)
    ch.close()
    assert _gone(grandchild)


def test_a_daemon_the_function_started_ends_when_mfcomm_is_killed(box, tmp_path):
    """kill -9 of the process that holds the channel: the reaper above the worker gets SIGHUP and ends all below."""
    script = (
        "import sys, time, torch\nfrom mfcomm.channels.spec import make_channel\n"
        f"ch = make_channel({str(box) + ':faulty'!r}, None)\n"
        "x = torch.ones(4, 2, dtype=torch.complex64)\nx[0, 0] = 5\nch(x)\ntime.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script])
    try:
        grandchild = _grandchild(tmp_path)
        assert not _gone(grandchild, within=0.1)
    finally:
        holder.kill()
        holder.wait()
    assert _gone(grandchild)


def test_a_stop_request_abandons_a_call_that_never_returns(box):
    ch = make_channel(f"{box}:faulty", None)
    worker.abandon_calls("SIGTERM")
    try:
        assert torch.equal(ch(_x()), _x())  # a call that answers finishes as usual: the iteration can end
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            ch(_x(1))
        assert 0.9 < time.monotonic() - start < 3.0
    finally:
        worker.reset()
    assert torch.equal(ch(_x()), _x())
    ch.close()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_during_a_call_kills_the_worker_and_the_next_call_gets_a_fresh_one(box, tmp_path):
    ch = make_channel(f"{box}:faulty", None)
    pid, sent = ch.process.proc.pid, []

    def interrupt_once_calling() -> None:
        deadline = time.monotonic() + 30
        while not (tmp_path / "calling").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt_once_calling)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        ch(_x(1))
    thread.join()
    assert time.monotonic() - sent[0] < 2.0 and _gone(pid)
    assert torch.equal(ch(_x()), _x())
    ch.close()


def _train(box: Path, func: str, out: Path) -> subprocess.Popen[str]:
    """``mfcomm train`` in a process of its own through ``box.py:func``: tiny, a checkpoint every 10 iterations."""
    args = ["--channel", f"{box}:{func}", "--iterations", "100000", "--checkpoint-every", "10", "--messages", "4"]
    args += ["--channel-uses", "1", "--batch-size", "16", "--no-baseline", "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mfcomm.cli", "train", *args]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)


GIL_AFTER_A_FEW = """import re
from pathlib import Path
calls = 0


def f(x):
    global calls
    calls += 1
    if calls == 25:  # in iteration 25, after the checkpoint of iteration 20
        Path({marker!r}).touch()
        re.match(r"(a+)+$", "a" * 60 + "b")  # holds the GIL until killed
    return x
"""


def test_sigterm_ends_training_during_a_call_that_holds_the_gil(tmp_path):
    marker = tmp_path / "calling"
    (tmp_path / "hangs.py").write_text(GIL_AFTER_A_FEW.format(marker=str(marker)))
    proc = _train(tmp_path / "hangs.py", "f", tmp_path / "run")
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - start < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert len(err.strip().splitlines()) == 1 and "interrupted (SIGTERM)" in err, err
    assert checkpointing.read(tmp_path / "run" / "checkpoint.pt")["iteration"] >= 10  # the last one, intact


def test_a_channel_that_exits_during_training_is_one_line_and_a_failure(tmp_path):
    (tmp_path / "quits.py").write_text("import os\n\n\ndef f(x):\n    os._exit(0)\n")
    proc = _train(tmp_path / "quits.py", "f", tmp_path / "run")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert len(err.strip().splitlines()) == 1 and "ended during a call (exit status 0)" in err, err


def test_a_channel_file_imports_the_modules_beside_it(tmp_path):
    """The worker imports the file as ``python PATH.py`` runs it: its folder is on the module path."""
    (tmp_path / "helpers_beside.py").write_text("import numpy as np\nGAIN = np.complex64(0.5)\n")
    (tmp_path / "uses_helper.py").write_text("from helpers_beside import GAIN\ndef f(x):\n    return x * GAIN\n")
    ch = make_channel(f"{tmp_path / 'uses_helper.py'}:f", None)
    assert torch.equal(ch(_x()), _x() * 0.5)
    ch.close()
