"""A GNU Radio flowgraph as a child process, and mfcomm's two ZMQ sockets to it (the plumbing of
:mod:`mfcomm.channels.gnuradio`, which states the contract a flowgraph keeps).

:class:`Flowgraph` binds a PUSH socket on 127.0.0.1 (``--in-address``: the flowgraph's ZMQ PULL source connects
to it), picks a free 127.0.0.1 port for ``--out-address`` (the flowgraph's ZMQ PUSH sink binds it), connects a
PULL socket there, and starts the flowgraph under the system Python with both options and the stage's own. A
``.grc`` file is compiled with ``grcc`` first, into a temporary directory removed at close.

Nothing a flowgraph starts outlives mfcomm, nor the flowgraph's stop: on Linux the flowgraph runs under
:mod:`mfcomm.channels.reaper`, a child subreaper that ends every process left below it (a daemon the flowgraph
double-forked into a session of its own included) when the flowgraph exits, and at once on SIGHUP. The reaper
runs in its own process group with ``PR_SET_PDEATHSIG`` = SIGHUP, set from a daemon thread that lives as long as
the child (the signal fires when the *thread* that started the child ends, not the process);
:meth:`Flowgraph.close` closes the flowgraph's stdin (a GRC-generated flowgraph then stops), then SIGTERMs it
through the reaper, then SIGHUPs the reaper, then SIGKILLs the group.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, NoReturn

import numpy as np

from mfcomm.channels import reaper
from mfcomm.errors import ChannelError

NOT_FOUND = "GNU Radio not found: run make gnuradio / scripts/install-gnuradio.sh"
ITEM = np.dtype(np.complex64).itemsize
"""Bytes per item both ways: GNU Radio's ``gr_complex``, two float32."""
SEND_POLL_SECONDS = 0.05
"""How often a blocked send checks that the flowgraph still runs."""
STOP_GRACE = 3.0
"""Seconds a flowgraph gets to stop after its stdin closes, then after SIGTERM, before all it started is killed."""
REAPER = reaper.PREFIX
"""What a flowgraph's command runs under: :mod:`mfcomm.channels.reaper` in an interpreter of its own (Linux)."""
GRCC_SECONDS = 120.0
MAX_MESSAGES = 256
"""Messages :meth:`Flowgraph.receive` takes at most in one call."""
EXCEPTION = re.compile(r"[\w.]*(Error|Exception)(:|$)")
"""A Python exception's last traceback line."""


def gnuradio_python() -> str:
    """The interpreter that has GNU Radio: ``$MFCOMM_GR_PYTHON`` or ``/usr/bin/python3``."""
    return os.environ.get("MFCOMM_GR_PYTHON", "/usr/bin/python3")


def has_gnuradio() -> bool:
    """Whether :func:`gnuradio_python` can import GNU Radio (what the flowgraph tests skip on, saying why)."""
    try:
        found = subprocess.run([gnuradio_python(), "-c", "import gnuradio"], capture_output=True, check=False)
    except OSError:
        return False
    return found.returncode == 0


def grcc() -> str:
    """GNU Radio Companion's compiler: beside :func:`gnuradio_python`, else on ``PATH``, else ``/usr/bin/grcc``."""
    beside = Path(gnuradio_python()).with_name("grcc")
    return str(beside) if beside.is_file() else shutil.which("grcc") or "/usr/bin/grcc"


def compile_grc(path: Path, into: Path) -> Path:
    """The Python top block ``grcc`` generates from the ``.grc`` file ``path`` into the directory ``into``;
    a one-line ChannelError naming the file and grcc's complaint if it cannot."""
    try:
        done = subprocess.run(
            [grcc(), "-o", str(into), str(path)], capture_output=True, text=True, timeout=GRCC_SECONDS, check=False
        )
    except OSError:
        raise ChannelError(f"cannot compile {path}: grcc not found ({NOT_FOUND})") from None
    except subprocess.TimeoutExpired:
        raise ChannelError(f"cannot compile {path}: grcc took over {GRCC_SECONDS:g} s") from None
    out = [line.removeprefix(">>> ").strip() for line in done.stdout.splitlines()]
    made = [Path(line.partition(":")[2].strip()) for line in out if line.startswith("Generating:")]
    if done.returncode == 0 and made and made[-1].is_file():
        return made[-1]
    said = [line for line in out if "Error" in line] + done.stderr.strip().splitlines()  # grcc's stderr often
    raise ChannelError(f"grcc cannot compile {path}: {said[0] if said else 'no message'}")  # says only that


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn(command: list[str], stderr: IO[bytes], released: threading.Event) -> subprocess.Popen[bytes]:
    """Start ``command`` (stdin a pipe, stdout discarded) under :data:`REAPER` in a process group of its own, from
    a daemon thread that lives until ``released`` is set; when that thread ends (mfcomm exits or is killed), all
    the command started ends. FileNotFoundError if ``command[0]`` is not found."""
    if shutil.which(command[0]) is None:  # the reaper would find out only after it started
        raise FileNotFoundError(command[0])
    started: queue.SimpleQueue[subprocess.Popen[bytes] | Exception] = queue.SimpleQueue()
    die = functools.partial(reaper.hang_up_with_parent, os.getpid(), reaper.libc_prctl())

    def parent() -> None:
        try:
            started.put(
                subprocess.Popen(
                    [*REAPER, *command],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    process_group=0,
                    preexec_fn=die,  # noqa: PLW1509 - prctl only; its thread is this one, alive until released
                )
            )
        except Exception as err:  # noqa: BLE001 - raised again in the caller's thread, below
            started.put(err)
            return
        released.wait()

    threading.Thread(target=parent, daemon=True, name="mfcomm-flowgraph").start()
    result = started.get()
    if isinstance(result, Exception):
        raise result
    return result


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` (the reaper :func:`spawn` started) and all below it: close its stdin, wait; SIGTERM it (the
    reaper passes it on), wait; SIGHUP it (the reaper SIGKILLs all below it), wait; SIGKILL its group."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    for sig in (None, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL):
        if sig is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                (os.killpg if sig == signal.SIGKILL else os.kill)(process.pid, sig)
        try:
            process.wait(timeout=None if sig == signal.SIGKILL else STOP_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue


class Flowgraph:
    """A running flowgraph ``path`` (``.py`` or ``.grc``) started with ``options`` (``--key=value``), and the
    stream through it: complex64 samples sent, complex64 samples received. ``label`` names it in errors."""

    def __init__(self, path: Path, options: list[str], label: str):
        import zmq

        self.label, self.rest, self.closed = label, b"", False
        self.released = threading.Event()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the flowgraph's, for its life; close() closes it
        self.compiled = tempfile.TemporaryDirectory(prefix="mfcomm-grcc-") if path.suffix == ".grc" else None
        self.context = zmq.Context()
        self.push = self.context.socket(zmq.PUSH)
        self.pull = self.context.socket(zmq.PULL)
        for sock in (self.push, self.pull):
            sock.setsockopt(zmq.LINGER, 0)
        self.pull.setsockopt(zmq.RECONNECT_IVL, 10)  # ms: until the flowgraph's sink binds, soon after its start
        try:
            script = compile_grc(path, Path(self.compiled.name)) if self.compiled else path
            in_address = f"tcp://127.0.0.1:{self.push.bind_to_random_port('tcp://127.0.0.1')}"
            out_address = f"tcp://127.0.0.1:{free_port()}"
            self.pull.connect(out_address)
            command = [gnuradio_python(), str(script), f"--in-address={in_address}", f"--out-address={out_address}"]
            self.process = spawn([*command, *options], self.stderr, self.released)
        except OSError:
            self.close()
            raise ChannelError(NOT_FOUND) from None
        except subprocess.SubprocessError as err:
            self.close()
            raise ChannelError(f"GNU Radio flowgraph {label} did not start: {err}") from None
        except ChannelError:  # grcc's
            self.close()
            raise

    def seconds(self) -> float:
        """The wall clock (a radio's own clock runs with it): what mfcomm paces a radio's bursts by."""
        return time.monotonic()

    def diagnostic(self) -> str:
        """The flowgraph's last line of stderr, or the last Python exception line where one came after it
        (``RuntimeError: LookupError: No devices found for ----->`` rather than the device address printed
        after it); '' if none."""
        self.stderr.seek(0)
        lines = [line.strip() for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        raised = [line for line in lines if EXCEPTION.match(line)]
        return raised[-1] if raised else lines[-1] if lines else ""

    def _failed(self, what: str) -> NoReturn:
        """Close the flowgraph and raise a one-line ChannelError: ``what`` happened, its exit status, its last
        line of stderr (GNU Radio missing: :data:`NOT_FOUND`)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1.0)
        status, last = self.process.returncode, self.diagnostic()
        self.stderr.seek(0)
        missing = any(
            "No module named 'gnuradio'" in line or line.startswith("GNU Radio not found")
            for line in self.stderr.read().decode(errors="replace").splitlines()
        )
        self.close()
        if missing:
            raise ChannelError(NOT_FOUND)
        if status is not None:
            what += f" (killed by {signal.Signals(-status).name})" if status < 0 else f" (exit status {status})"
        raise ChannelError(f"GNU Radio flowgraph {self.label} {what}" + (f": {last}" if last else ""))

    def send(self, samples: np.ndarray, deadline: float) -> None:
        """Push ``samples`` (complex64) into the flowgraph; a ChannelError if it has exited, or takes nothing
        before ``deadline`` (``time.monotonic()``)."""
        import zmq

        data = samples.astype(np.complex64).tobytes()
        while True:
            try:
                self.push.send(data, zmq.NOBLOCK, copy=False)
                return
            except zmq.Again:
                self.push.poll(int(SEND_POLL_SECONDS * 1000), zmq.POLLOUT)
            if self.process.poll() is not None:
                self._failed("exited")
            if time.monotonic() > deadline:
                self._failed("took no samples within the channel's time-out")

    def receive(self, wait: float) -> np.ndarray | None:
        """Samples (complex64) that arrived within ``wait`` seconds, or None; a ChannelError if the flowgraph
        has exited or sends values that are not finite (items that are not complex64)."""
        if not self.pull.poll(int(wait * 1000)):
            if self.process.poll() is not None:
                self._failed("exited")
            return None
        import zmq

        parts = [self.rest, self.pull.recv()]
        while len(parts) < MAX_MESSAGES and self.pull.poll(0):  # all that has arrived: one piece per call is slow
            parts.append(self.pull.recv(zmq.NOBLOCK))
        data = b"".join(parts)
        whole = len(data) - len(data) % ITEM
        self.rest = data[whole:]
        samples = np.frombuffer(data[:whole], np.complex64)
        if not np.isfinite(samples).all():
            self._failed("sent values that are not finite (are its sink's items complex?)")
        return samples

    def close(self) -> None:
        """Stop the flowgraph (see :func:`stop`), close the sockets, remove the compiled ``.grc``; idempotent."""
        if self.closed:
            return
        self.closed = True
        process = getattr(self, "process", None)
        if process is not None:
            stop(process)
        self.released.set()
        self.push.close()
        self.pull.close()
        self.context.term()
        self.stderr.close()
        if self.compiled is not None:
            self.compiled.cleanup()
