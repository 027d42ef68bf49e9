"""Ray's own output kept off the terminal (issue #23): what Ray prints as it starts (its C++ core writes to fds 1
and 2 directly) and stops goes to a temporary file, and only mfcomm's line reaches the terminal; ``--address``
where something listens that is not Ray gives that one line within a bounded time, as does Ctrl-C meanwhile."""

import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfcomm.errors import MfcommError
from mfcomm.tune import runner

pytestmark = pytest.mark.integration  # Ray

SPEC = "[base]\niterations = 100\nbatch_size = 256\ncompare_baseline = false\n"
RAY_GIVES_UP = 60.0
"""Seconds the command may take where no Ray answers: start-up (torch, Ray) and Ray's one try of about 20 s."""


@pytest.fixture
def deaf_port() -> Iterator[tuple[int, list[socket.socket]]]:
    """A port where something accepts connections and never says a word, as no Ray GCS does; and the connections
    it accepted. It listens on every address of this machine: Ray dials this machine's own address for 127.0.0.1."""
    server = socket.create_server(("", 0))
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    done.set()
    thread.join()
    for connection in [*accepted, server]:
        connection.close()


def _sweep(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    (tmp_path / "s.toml").write_text(SPEC)
    command = ["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--address", f"127.0.0.1:{port}"]
    return subprocess.Popen(
        [sys.executable, "-m", "mfcomm.cli", *command, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # about 30 s: mfcomm's start-up, then Ray's one try
def test_an_address_where_no_ray_answers_is_one_line_within_a_bounded_time(tmp_path, deaf_port):
    port, accepted = deaf_port
    start = time.monotonic()
    sweep = _sweep(tmp_path, port)
    out, err = sweep.communicate(timeout=RAY_GIVES_UP + 30)
    assert time.monotonic() - start < RAY_GIVES_UP
    assert sweep.returncode == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"mfcomm sweep: error: cannot start the Ray cluster at 127.0.0.1:{port}: "), err
    assert len(accepted) >= 2  # mfcomm's reachability check, then Ray itself
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # about 30 s: Ray's core does not see Ctrl-C until its try ends
def test_ctrl_c_while_ray_tries_an_address_is_one_line(tmp_path, deaf_port):
    port, accepted = deaf_port
    sweep = _sweep(tmp_path, port)
    deadline = time.monotonic() + RAY_GIVES_UP
    while len(accepted) < 2 and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)  # Ray is trying, and printing its warnings
    sweep.send_signal(signal.SIGINT)
    out, err = sweep.communicate(timeout=RAY_GIVES_UP)
    assert sweep.returncode == 130 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("mfcomm sweep: interrupted (SIGINT): 0 of 1 trials"), err


def test_what_ray_prints_stays_off_the_terminal_but_for_its_first_warning(capfd):
    with runner._ray_output_off():
        os.write(2, b"[2026-01-01 00:00:00,000 I 7 7] core_worker.cc:1: Connected.\n")
        os.write(2, b"[2026-01-01 00:00:00,001 W 7 7] rpc_client.h:153: Failed to connect to GCS within 5 s.\n")
        os.write(1, b"C++ on stdout\n")
        os.write(2, b"[2026-01-01 00:00:00,002 E 7 7] gcs_client.cc:2: Timed out.\n")
        print("Python on stdout")
        print("Python on stderr", file=sys.stderr)
    assert capfd.readouterr() == ("", "mfcomm sweep: Ray warns: Failed to connect to GCS within 5 s.\n")
    with runner._ray_output_off():
        os.write(2, b"[2026-01-01 00:00:00,000 I 7 7] core_worker.cc:1: Connected.\n")
    assert capfd.readouterr() == ("", "")


def test_a_failed_join_is_one_line_and_leaves_the_environment_as_it_was(monkeypatch, capfd):
    """Ray's error in one line, none of its output, and :data:`runner.RAY_JOIN` in force only while it tried,
    for its C++ core too (which reads it again from the environment)."""
    seen: dict[str, dict[str, str | None]] = {}

    def settings() -> dict[str, str | None]:
        return {name: os.environ.get(name) for name in runner.RAY_JOIN}

    class Config:
        @staticmethod
        def initialize(_: str) -> None:
            seen["core"] = settings()

    def init(**_: object) -> None:
        seen["python"] = settings()
        os.write(2, b"[2026-01-01 00:00:00,001 W 7 7] rpc_client.h:153: Failed to connect to GCS within 5 s.\n")
        raise ConnectionError("Failed to connect to Ray cluster at 192.0.2.1:6379\nsecond line")

    for name in runner.RAY_JOIN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(importlib.import_module("ray._raylet"), "Config", Config)
    monkeypatch.setattr(runner.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(runner.ray, "init", init)
    monkeypatch.setattr(runner, "_check_reachable", lambda _: None)
    with pytest.raises(MfcommError) as err:
        runner._start_ray(None, "192.0.2.1:6379")
    assert str(err.value).startswith(
        "cannot start the Ray cluster at 192.0.2.1:6379: Failed to connect to Ray cluster at 192.0.2.1:6379"
    )
    assert "\n" not in str(err.value) and "second line" not in str(err.value)
    assert seen == {"core": runner.RAY_JOIN, "python": runner.RAY_JOIN} and not set(runner.RAY_JOIN) & set(os.environ)
    assert capfd.readouterr() == ("", "")
