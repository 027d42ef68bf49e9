"""A node's two sockets: its inbox, and the way to the next node of the ring tx -> channel -> rx -> tx.

Each node binds a ZeroMQ PULL socket (its inbox, on 127.0.0.1 unless ``--bind`` says otherwise) and
connects a PUSH socket to the next node's inbox. PUSH/PULL reconnects by itself when a peer restarts; the
messages a dead peer took with it are replaced by a resynchronisation (:mod:`mfcomm.nodes.protocol`), not
by retries. Every message is signed and checked (:mod:`mfcomm.nodes.auth`): one that fails authentication
is dropped, counted and reported on stderr, and does not count as a sign of life. Every receive waits at
most ``peer_timeout`` seconds for an authentic message, then raises a one-line NodeError. An authentic
message over ``max_bytes`` is a one-line NodeError too; one over four times that never reaches memory
(ZeroMQ drops it and the connection), and the node reports the silence at the time-out instead.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import zmq

from mfcomm.config.checks import check_number
from mfcomm.config.option import TIMEOUT_MAX
from mfcomm.errors import ConfigError, NodeError
from mfcomm.nodes import wire
from mfcomm.nodes.auth import Seal, load_key

NEXT = {"tx": "channel", "channel": "rx", "rx": "tx"}
"""The ring: who each node sends to."""
PREVIOUS = {after: before for before, after in NEXT.items()}
DEFAULT_PORTS = {"tx": 5555, "channel": 5556, "rx": 5557}


class PeerFailed(NodeError):
    """Another node reported an error; this node stops too (without reporting an error of its own)."""


@dataclass(frozen=True)
class NodeOptions:
    """Where the three nodes listen (``host:port`` each), what this node binds, and the limits."""

    tx: str = f"127.0.0.1:{DEFAULT_PORTS['tx']}"
    channel: str = f"127.0.0.1:{DEFAULT_PORTS['channel']}"
    rx: str = f"127.0.0.1:{DEFAULT_PORTS['rx']}"
    bind: str | None = None
    """Interface this node binds its inbox to; default: the host of its own address (127.0.0.1)."""
    peer_timeout: float = 30.0
    """Seconds to wait for any message from the peers before stopping with an error."""
    max_bytes: int = 64 << 20
    """Largest message accepted."""
    key_file: str | None = None
    """The file holding the secret the three nodes share; None: ``$MFCOMM_NODE_KEY`` (see :mod:`~mfcomm.nodes.auth`)."""

    def address(self, role: str) -> tuple[str, int]:
        """(host, port) of ``role``'s inbox, or a ConfigError."""
        text = getattr(self, role)
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--{role}-addr {text!r}: expected HOST:PORT")
        return host, int(port)

    def validate(self) -> NodeOptions:
        for role in NEXT:
            self.address(role)
        check_number("--peer-timeout", self.peer_timeout, 0.0, TIMEOUT_MAX, "(]")
        check_number("--max-message-mb", self.max_bytes / 2**20, 4096 / 2**20, 4096.0)
        return self


class Link:
    """The inbox and the outgoing socket of node ``role``, for the configuration with ``fingerprint``."""

    def __init__(self, role: str, options: NodeOptions, fingerprint: str):
        self.role, self.options = role, options
        self.seal = Seal(load_key(options.key_file), fingerprint, role, NEXT[role], PREVIOUS[role])
        self.context = zmq.Context()
        self.inbox = self.context.socket(zmq.PULL)
        self.outbox = self.context.socket(zmq.PUSH)
        self.outbox.setsockopt(zmq.IMMEDIATE, 1)  # queue only to a connected peer, never to a dead one
        self.outbox.setsockopt(zmq.LINGER, 0)
        self.inbox.setsockopt(zmq.LINGER, 0)
        self.inbox.setsockopt(zmq.MAXMSGSIZE, 4 * options.max_bytes)  # a memory bound; decode names the size
        host, port = options.address(role)
        try:
            self.inbox.bind(f"tcp://{options.bind or host}:{port}")
        except zmq.ZMQError as err:
            self.close()
            raise NodeError(f"{role} node cannot listen on {options.bind or host}:{port}: {err}") from None
        self.outbox.connect("tcp://{}:{}".format(*options.address(NEXT[role])))

    def send(self, frames: list[bytes], wait: float = 0.0) -> bool:
        """Send to the next node if it is connected within ``wait`` seconds; False if not (message dropped)."""
        if wait and not self.outbox.poll(int(wait * 1000), zmq.POLLOUT):
            return False
        try:
            self.outbox.send_multipart(self.seal.sign(frames), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def poll(self, timeout: float) -> wire.Message | None:
        """The next authentic message within ``timeout`` seconds, validated, or None."""
        deadline = time.monotonic() + timeout
        while self.inbox.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            frames = self.seal.open(self.inbox.recv_multipart())
            if frames is not None:
                try:
                    return wire.decode(frames, self.options.max_bytes)
                except NodeError as err:
                    raise NodeError(f"{self.role} node received a {err}") from None
            count = self.seal.rejected
            if count & (count - 1) == 0:  # 1, 2, 4, 8, ...: a flood of forgeries does not flood the log
                print(
                    f"{self.role} node: dropped a message that failed authentication or was replayed ({count} so far)",
                    file=sys.stderr,
                    flush=True,
                )
            if time.monotonic() >= deadline:
                break
        return None

    def receive(self, waiting_for: str) -> wire.Message:
        """The next message, or a NodeError after ``peer_timeout`` seconds of silence."""
        msg = self.poll(self.options.peer_timeout)
        if msg is None:
            raise NodeError(
                f"{self.role} node: no message for {self.options.peer_timeout:g} s while waiting for "
                f"{waiting_for} (a peer stopped or is unreachable; --peer-timeout){self.suspect()}"
            )
        return msg

    def suspect(self) -> str:
        """For a time-out: messages that failed authentication hint at another key or configuration."""
        if not self.seal.rejected:
            return ""
        return (
            f"; {self.seal.rejected} messages failed authentication: were the three nodes started with the "
            "same --key and configuration?"
        )

    def announce(self) -> None:
        """Tell the ring this node has (re)started, so that the tx node resynchronises everyone."""
        self.send(wire.encode("hello", role=self.role), wait=min(2.0, self.options.peer_timeout))

    def fail(self, text: str) -> None:
        """Best effort: tell the next node why this one stops, so the ring stops without waiting for time-outs."""
        self.send(wire.encode("error", role=self.role, text=text[:2000]), wait=0.5)

    def pass_on_error(self, msg: wire.Message) -> PeerFailed:
        """Forward a peer's error message unless it has gone round the ring; the error to raise here."""
        if msg["role"] != NEXT[self.role]:
            self.send(msg.frames, wait=0.5)
        return PeerFailed(f"{msg['role']} node failed: {msg['text']}")

    def close(self, linger: float = 1.0) -> None:
        """Close both sockets, giving messages still queued ``linger`` seconds to leave."""
        self.inbox.close()
        self.outbox.close(linger=int(linger * 1000))
        self.context.term()
