"""Every node message is authenticated: an HMAC-SHA256 tag under a secret the three nodes share.

A node's inbox is a TCP port that any local process (and, with ``--bind``, any host) can connect to, so a
message counts only if it proves it comes from the node's predecessor in the ring, in this run. Each
message gets a first frame ``nonce (16 bytes) | counter (8, big-endian) | tag (32)``: the tag is
HMAC-SHA256 over the hop (sender and receiver roles), the configuration fingerprint, the nonce (drawn
by the sending process at start), the counter (one more for each message) and every frame. The receiver
recomputes it and compares with :func:`hmac.compare_digest`; it accepts a sender's counters only in
increasing order, and never again a nonce after a newer one replaced it (the sender restarted). A message
that fails is dropped and counted, never acted on (threat model: ``docs/reliability.md``).

The key comes from ``--key FILE`` (at least 32 bytes, in a file only its owner may read or write), or from
``$MFCOMM_NODE_KEY``, which ``mfcomm node all`` sets in its children's environment to a fresh secret for
each run. Without either, a node refuses to start, saying how to make a key.

Example
-------
>>> key = b"k" * 32
>>> tx, channel = Seal(key, "fp", "tx", "channel", "rx"), Seal(key, "fp", "channel", "rx", "tx")
>>> frames = tx.sign([b"payload"])
>>> channel.open(frames), channel.open(frames), channel.rejected  # the second time it is a replay
([b'payload'], None, 1)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from mfcomm.errors import NodeError

KEY_ENV = "MFCOMM_NODE_KEY"
"""Where a node started without ``--key`` finds the secret (``mfcomm node all`` puts one there)."""
MIN_KEY_BYTES = 32
NONCE, COUNTER, TAG = 16, 8, 32
MAKE_KEY = "(umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > node.key)"
"""A shell command that makes a key file only its owner can read."""


def load_key(path: str | Path | None) -> bytes:
    """The secret in the file ``path`` (None: ``$MFCOMM_NODE_KEY``), or a one-line NodeError saying what to do."""
    source: str | Path
    if path is None:
        key, source = os.environ.get(KEY_ENV, "").strip().encode(), f"${KEY_ENV}"
        if not key:
            raise NodeError(
                f"no key: the three nodes must share a secret; create one with {MAKE_KEY}, "
                "copy it to each node and pass --key node.key"
            )
    else:
        path = source = Path(path)
        key = _read_key_file(path)
    if len(key) < MIN_KEY_BYTES:
        raise NodeError(f"key in {source} has {len(key)} bytes, fewer than {MIN_KEY_BYTES}; make one with {MAKE_KEY}")
    return key


def _read_key_file(path: Path) -> bytes:
    """The stripped contents of the key file ``path``: a regular file (reading a FIFO would block, a device might
    never end) only its owner may read or write; else a one-line NodeError. Opened without blocking, then
    checked on the open file, so that what is checked is what is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise NodeError(f"cannot read key file {path}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NodeError(f"key file {path} is not a regular file: make one with {MAKE_KEY}")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise NodeError(f"key file {path} is open to group or others (mode {mode:03o}): chmod 600 {path}")
        data = b"".join(iter(lambda: os.read(fd, 65536), b""))
    except OSError as err:
        raise NodeError(f"cannot read key file {path}: {err.strerror}") from None
    finally:
        os.close(fd)
    return data.strip()


class Seal:
    """Signs what node ``role`` sends to ``sends_to``; checks what it hears from ``hears_from``."""

    def __init__(self, key: bytes, fingerprint: str, role: str, sends_to: str, hears_from: str):
        self.key = key
        self.outgoing = f"mfcomm-node-v1|{fingerprint}|{role}>{sends_to}|".encode()
        self.incoming = f"mfcomm-node-v1|{fingerprint}|{hears_from}>{role}|".encode()
        self.nonce, self.sent = secrets.token_bytes(NONCE), 0
        self.stream: bytes | None = None
        self.last = 0
        self.retired: set[bytes] = set()
        self.rejected = 0
        """Messages dropped: not authentic, or replayed."""

    def sign(self, frames: list[bytes]) -> list[bytes]:
        """``frames`` with the authentication frame in front."""
        self.sent += 1
        head = self.nonce + self.sent.to_bytes(COUNTER, "big")
        return [head + self._tag(self.outgoing, head, frames), *frames]

    def open(self, frames: list[bytes]) -> list[bytes] | None:
        """The frames of an authentic, fresh message without its authentication frame; else None (counted)."""
        if len(frames) >= 2 and len(frames[0]) == NONCE + COUNTER + TAG:
            head, tag = frames[0][: NONCE + COUNTER], frames[0][NONCE + COUNTER :]
            if hmac.compare_digest(tag, self._tag(self.incoming, head, frames[1:])) and self._fresh(head):
                return frames[1:]
        self.rejected += 1
        return None

    def _fresh(self, head: bytes) -> bool:
        """Whether an authentic message is new: a higher counter of the current stream, or a new stream."""
        nonce, counter = head[:NONCE], int.from_bytes(head[NONCE:], "big")
        if nonce != self.stream:
            if nonce in self.retired:
                return False
            if self.stream is not None:
                self.retired.add(self.stream)
            self.stream, self.last = nonce, 0
        if counter <= self.last:
            return False
        self.last = counter
        return True

    def _tag(self, context: bytes, head: bytes, frames: list[bytes]) -> bytes:
        mac = hmac.new(self.key, context + head, hashlib.sha256)
        for frame in frames:  # length-prefixed: no two frame lists give the same input
            mac.update(len(frame).to_bytes(8, "big"))
            mac.update(frame)
        return mac.digest()
