"""How the three nodes agree where training stands, and stay agreed when one of them restarts.

The tx node leads. It starts every session with a two-lap handshake round the ring:

1. ``sync``: each node intersects the list of checkpoints it holds (0, the fresh start, always) with the
   list it received and passes it on; the tx node gets back the checkpoints all three hold;
2. ``resume``: each node restores the newest of them, forgets its checkpoints after it, and passes the
   message on; when it is back at the tx node, training goes on from there.

A node that starts keeps the checkpoints in its state directory: only a ``resume`` of the handshake now
running (the epoch of the last ``sync`` passed on) makes it go back and forget newer ones. A session is
named by a random ``epoch``: data and feedback of any other epoch are stale (sent before a restart) and
dropped. A node that starts sends ``hello``; the others pass it on to the tx node, which then runs the
handshake again, so killing any node and restarting it loses only the iterations after the newest
checkpoint all three hold (at most ``checkpoint_every``). Messages within an epoch arrive in order (one
TCP connection per hop), so the receiving node checks their iteration and step. Errors travel round the
ring as ``error`` messages and stop every node; silence beyond ``peer_timeout`` is an error too. Only
authentic messages reach this module (:mod:`mfcomm.nodes.auth`).
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import Protocol

from mfcomm.errors import NodeError
from mfcomm.nodes import wire
from mfcomm.nodes.link import Link

ROUND = 1.0
"""Seconds the tx node waits for a handshake round to come back before it starts another."""


class Resync(Exception):
    """A node (re)started: the tx node must run the handshake again."""


class Node(Protocol):
    """What the protocol needs from every node."""

    def checkpoints(self) -> list[int]:
        """Iterations it can restore, 0 included."""
        ...

    def restore(self, iteration: int) -> None:
        """Go back to the state after ``iteration`` (0: the fresh start) and forget later checkpoints."""
        ...


class Follower(Node, Protocol):
    """The channel and rx nodes: they react to what reaches their inbox."""

    def handle(self, msg: wire.Message, epoch: int) -> None:
        """Process a ``data`` message of the current epoch (and send what it calls for)."""
        ...

    def finish(self) -> None:
        """Training and evaluation are over: write the results."""
        ...

    def after_resume(self, epoch: int) -> None:
        """The handshake of ``epoch`` is over: send what the tx node waits for since the checkpoint (if anything)."""
        ...


def serve(link: Link, node: Follower) -> None:
    """The channel and rx nodes' loop: answer the handshake, process data, stop at ``done``."""
    link.announce()
    epoch = syncing = None
    while True:
        msg = link.receive("the tx node" if epoch is None else "the next message")
        if msg.type == "hello":
            link.send(msg.frames)
        elif msg.type == "error":
            raise link.pass_on_error(msg)
        elif msg.type == "sync":  # authentic, so sent with the same configuration (see auth)
            have = sorted(set(msg["have"]) & set(node.checkpoints()))
            syncing = msg["epoch"]
            link.send(wire.encode("sync", epoch=syncing, have=have))
        elif msg.type == "resume":
            if msg["epoch"] != syncing:
                continue  # not the handshake now running (this node did not answer its sync)
            node.restore(msg["iteration"])
            epoch = msg["epoch"]
            resumed(link.role, msg["iteration"])
            link.send(msg.frames)
            node.after_resume(epoch)
        elif msg["epoch"] != epoch:
            continue  # sent before the last handshake
        elif msg.type == "done":
            node.finish()
            link.send(msg.frames, wait=link.options.peer_timeout)
            return
        elif msg.type == "data":
            node.handle(msg, epoch)
        else:
            raise NodeError(f"{link.role} node received an unexpected {msg.type} message")


def synchronise(link: Link, node: Node) -> tuple[int, int]:
    """The tx node's handshake: ``(epoch, iteration)`` once all three nodes restored ``iteration``.

    A round that does not come back within ``ROUND`` seconds (a peer is not up yet) is started again, until
    ``peer_timeout`` runs out.
    """
    deadline = time.monotonic() + link.options.peer_timeout
    while time.monotonic() < deadline:
        epoch = secrets.randbelow(2**62)
        link.send(wire.encode("sync", epoch=epoch, have=node.checkpoints()))
        round_end = min(deadline, time.monotonic() + ROUND)
        while (msg := link.poll(round_end - time.monotonic())) is not None:
            if msg.type == "hello":
                break  # someone (re)started after this round began: start a new one
            if msg.type == "error":
                raise link.pass_on_error(msg)
            if msg.type == "sync" and msg["epoch"] == epoch:
                iteration = max(set(msg["have"]) & set(node.checkpoints()))
                link.send(wire.encode("resume", epoch=epoch, iteration=iteration))
            elif msg.type == "resume" and msg["epoch"] == epoch:
                node.restore(msg["iteration"])
                resumed(link.role, msg["iteration"])
                return epoch, msg["iteration"]
    raise NodeError(
        f"tx node: the channel and rx nodes did not answer within {link.options.peer_timeout:g} s "
        f"(--peer-timeout); are they running at {link.options.channel} and {link.options.rx}?" + link.suspect()
    )


def resumed(role: str, iteration: int) -> None:
    """Say on stderr (the node's log) where training resumed, if not at the start."""
    if iteration:
        print(
            f"{role} node: resumed from iteration {iteration}, the newest checkpoint all three nodes hold",
            file=sys.stderr,
            flush=True,
        )


def await_reply(link: Link, epoch: int, msg_type: str, iteration: int, step: int) -> wire.Message:
    """The tx node waits for the reply to the data message (``iteration``, ``step``).

    Raises :class:`Resync` when a node announces a restart, a NodeError on a peer's error or silence.
    """
    while True:
        msg = link.receive(f"the rx node's {msg_type} for iteration {iteration}")
        if msg.type == "hello":
            raise Resync
        if msg.type == "error":
            raise link.pass_on_error(msg)
        if msg.type in ("sync", "resume") or msg["epoch"] != epoch:
            continue  # left over from an earlier handshake or session
        if (msg.type, msg["iteration"], msg["step"]) != (msg_type, iteration, step):
            raise NodeError(
                f"tx node expected {msg_type} for iteration {iteration} step {step}, received "
                f"{msg.type} for iteration {msg.header.get('iteration')} step {msg.header.get('step')}"
            )
        return msg
