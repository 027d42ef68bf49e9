"""GNU Radio as the channel: symbols streamed through a GNU Radio 3.10 flowgraph over ZMQ, as to a radio.

The chain stage ``gnuradio(snr_db, freq_offset, epsilon, taps, seed, sync, payload)`` starts the flowgraph
:mod:`mfcomm.channels.flowgraphs.gr_channel` under the system Python (``/usr/bin/python3``, or ``$MFCOMM_GR_PYTHON``)
on its first call and stops it when the process exits. Each call's (batch, n) symbols are flattened
row by row, cut into frames of ``payload`` symbols (:mod:`mfcomm.channels.framing`: preamble, payload, guard zeros),
pushed into the stream, found again by the delay search, synchronised (``sync``: ``none``, ``gain``,
``cfo`` or ``fine``) and returned as (batch, n). The stream never stops between frames: while the flowgraph holds
samples back, filler zeros are pushed to flush them.

Conventions (:mod:`mfcomm.conventions`): the symbols have unit average energy, and GNU Radio's complex
noise of ``noise_voltage`` has variance ``noise_voltage**2`` (measured in ``tests/channels/test_gnuradio.py``), so
``snr_db`` = Es/N0 sets ``noise_voltage = 10**(-snr_db/20)``. ``freq_offset`` is in cycles per sample
(= per symbol); ``epsilon`` is the sample-clock ratio (1: none); ``taps`` the multipath filter, complex
numbers separated by ``/`` (``1/0.2+0.1j``), applied as given (not normalised).

Example
-------
>>> ch = GnuRadioChannel(snr_db=15, freq_offset=1e-3)   # nothing starts until the first call
>>> ch.name, ch.differentiable
('gnuradio(snr_db=15,freq_offset=0.001,epsilon=1,taps=1,seed=0,sync=cfo,payload=512)', False)
"""

from __future__ import annotations

import math
import os
import select
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import NoReturn, Protocol, cast

import numpy as np
import torch

from mfcomm.channels.framing import Framer
from mfcomm.conventions import SYMBOL_DTYPE
from mfcomm.errors import ChannelError

FLOWGRAPH = Path(__file__).parent / "flowgraphs" / "gr_channel.py"
NOT_FOUND = "GNU Radio not found: run make gnuradio / scripts/install-gnuradio.sh"
POLL_SECONDS = 0.02
"""How long to wait for samples before pushing filler to flush what the flowgraph holds back."""


def gnuradio_python() -> str:
    """The interpreter that has GNU Radio: ``$MFCOMM_GR_PYTHON`` or ``/usr/bin/python3``."""
    return os.environ.get("MFCOMM_GR_PYTHON", "/usr/bin/python3")


class Transport(Protocol):
    """A sample stream: what is sent comes back, delayed, in pieces of any size."""

    def send(self, samples: np.ndarray) -> None: ...

    def receive(self, wait: float) -> np.ndarray | None:
        """Samples that arrived within ``wait`` seconds, or None."""
        ...

    def close(self) -> None: ...


class Flowgraph:
    """The flowgraph subprocess and mfcomm's two ZMQ sockets: a PUSH bound on 127.0.0.1 that the
    flowgraph's source pulls from, and a PULL connected to the flowgraph's sink."""

    def __init__(self, args: list[str], timeout: float):
        import zmq

        self.context = zmq.Context()
        self.push = self.context.socket(zmq.PUSH)
        self.push.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
        self.push.setsockopt(zmq.LINGER, 0)
        self.pull = self.context.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        port = self.push.bind_to_random_port("tcp://127.0.0.1")
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the flowgraph's life; close() closes it
        command = [gnuradio_python(), str(FLOWGRAPH), "--input", f"tcp://127.0.0.1:{port}", *args]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        except OSError:
            self.close()
            raise ChannelError(NOT_FOUND) from None
        self.pull.connect(self._ready(timeout))

    def _ready(self, timeout: float) -> str:
        """The sink's endpoint, from the flowgraph's ``ready`` line, or a ChannelError."""
        stdout = self.process.stdout
        assert stdout is not None  # Popen(stdout=PIPE)
        if select.select([stdout], [], [], timeout)[0]:
            words = stdout.readline().decode(errors="replace").split()
            if len(words) == 2 and words[0] == "ready":
                return words[1]
        self._failed("failed to start", timeout)

    def _failed(self, what: str, timeout: float) -> NoReturn:
        """Raise a one-line ChannelError saying why the flowgraph stopped (GNU Radio missing, or its last
        line of stderr); the flowgraph is closed."""
        try:
            status = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            status = None
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        self.close()
        if status == 3 or any("No module named 'gnuradio'" in line for line in lines):
            raise ChannelError(NOT_FOUND)
        detail = lines[-1] if lines else f"no answer within {timeout:g} s" if status is None else "no message"
        raise ChannelError(f"GNU Radio flowgraph {what} (exit status {status}): {detail}")

    def send(self, samples: np.ndarray) -> None:
        import zmq

        try:
            self.push.send(samples.astype(np.complex64).tobytes(), copy=False)
        except zmq.Again:
            self._failed("took no samples", cast(int, self.push.getsockopt(zmq.SNDTIMEO)) / 1000)

    def receive(self, wait: float) -> np.ndarray | None:
        if self.pull.poll(int(wait * 1000)):
            return np.frombuffer(self.pull.recv(), np.complex64)
        if self.process.poll() is not None:
            self._failed("exited", 0.0)
        return None

    def close(self) -> None:
        """Stop the flowgraph (closing its stdin ends it; terminate, then kill, if it does not) and the sockets."""
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.push.close()
        self.pull.close()
        self.context.term()
        self.stderr.close()


def parse_taps(text: str) -> list[complex]:
    """``1/0.2+0.1j`` -> [1, 0.2+0.1j]; a ChannelError if a tap is not a complex number."""
    try:
        taps = [complex(t) for t in text.split("/")]
    except ValueError:
        raise ChannelError(
            f"channel stage gnuradio: taps must be complex numbers separated by /, not {text!r}"
        ) from None
    if not all(math.isfinite(abs(t)) for t in taps) or not any(taps):
        raise ChannelError(f"channel stage gnuradio: taps must be finite and not all zero, not {text!r}")
    return taps


class GnuRadioChannel:
    """GNU Radio's ``channel_model`` as a sampled channel (see the module doc). Not differentiable.

    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64, synchronised as ``sync`` says.
    A call that gets no samples back within ``timeout`` seconds, a frame whose preamble is not found, or
    a flowgraph that fails, raises a one-line ChannelError; the flowgraph is then restarted on the next call.
    ``transport`` may be set before the first call to stream through something else (tests do).
    """

    differentiable = False

    def __init__(
        self,
        snr_db: float = 15.0,
        freq_offset: float = 0.0,
        epsilon: float = 1.0,
        taps: str = "1",
        seed: int = 0,
        sync: str = "cfo",
        payload: int = 512,
        timeout: float | None = 60.0,
        generator: torch.Generator | None = None,
    ):
        parse_taps(taps)
        if not (math.isfinite(snr_db) and abs(freq_offset) < 0.5 and 0.5 < epsilon < 2.0):
            raise ChannelError(
                "channel stage gnuradio: needs a finite snr_db, |freq_offset| < 0.5 (cycles per "
                "sample) and 0.5 < epsilon < 2"
            )
        try:
            self.framer = Framer(payload=payload, sync=sync)
        except ChannelError as err:
            raise ChannelError(f"channel stage gnuradio: {err}") from None
        self.noise_voltage = 10.0 ** (-snr_db / 20.0)
        self.args = [
            "--noise-voltage",
            repr(self.noise_voltage),
            "--freq-offset",
            repr(freq_offset),
            "--epsilon",
            repr(epsilon),
            "--taps",
            ",".join(map(str, parse_taps(taps))),
            "--seed",
            str(seed),
        ]
        self.timeout = timeout or math.inf
        self.name = (
            f"gnuradio(snr_db={snr_db:g},freq_offset={freq_offset:g},epsilon={epsilon:g},taps={taps},"
            f"seed={seed},sync={sync},payload={payload})"
        )
        self.transport: Transport | None = None
        self._reset()

    def _reset(self) -> None:
        """A fresh stream: nothing sent, nothing received."""
        self.deframer = self.framer.deframer()
        self.sent = 0

    def _stream(self) -> Transport:
        if self.transport is None:
            flowgraph = Flowgraph(self.args, min(self.timeout, 60.0))
            self.transport = flowgraph
            weakref.finalize(self, flowgraph.close)
            self._reset()
        return self.transport

    def close(self) -> None:
        """Stop the flowgraph (a later call starts a fresh one)."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        symbols = x.detach().to("cpu", SYMBOL_DTYPE).numpy().reshape(-1)
        try:
            y = self._through_stream(symbols)
        except ChannelError:
            self.close()
            raise
        return torch.from_numpy(y.reshape(tuple(x.shape))).to(x.device)

    def _through_stream(self, symbols: np.ndarray) -> np.ndarray:
        """Send ``symbols`` as frames, then collect each frame's synchronised payload, in order."""
        stream, deframer = self._stream(), self.deframer
        if self.sent == 0:  # a lead-in of zeros: a stream that starts early (negative delay) loses only these
            stream.send(np.zeros(self.framer.guard, np.complex64))
            self.sent = self.framer.guard
        in_flight = []
        for frame in self.framer.frames(symbols):
            stream.send(frame)
            in_flight.append((self.sent, len(frame) - self.framer.overhead))
            self.sent += len(frame)
        deadline = time.monotonic() + self.timeout
        payloads = []
        for start, length in in_flight:
            while deframer.end < deframer.needed(start, length):
                samples = stream.receive(POLL_SECONDS)
                if samples is not None:
                    deframer.push(samples)
                    continue
                if time.monotonic() > deadline:
                    raise ChannelError(f"channel {self.name}: no samples back within {self.timeout:g} s")
                filler = max(self.framer.guard, min(deframer.needed(start, length) - deframer.end, 8192))
                stream.send(np.zeros(filler, np.complex64))  # keep the stream going: flush what it holds back
                self.sent += filler
            payloads.append(deframer.extract(start, length))
        return np.concatenate(payloads) if payloads else symbols.copy()
