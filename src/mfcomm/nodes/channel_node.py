"""The channel node: ``y = channel(x)`` on every block of symbols the tx node sends, passed on to the rx node.

It builds its channel with :func:`mfcomm.channels.spec.make_channel`, so any spec works here (``awgn``,
``rbf``, impairment chains, black boxes ``PATH.py:FUNC``), and knows nothing of the networks: complex64
blocks (batch, n) in, complex64 blocks of the same shape out, one channel call per block. Its checkpoints
hold the state of its noise generator (a black box's own random state is the black box's business and is not restored).
"""

from __future__ import annotations

import torch

from mfcomm.channels.spec import make_channel
from mfcomm.config.fields import Config
from mfcomm.errors import NodeError
from mfcomm.learning.seeding import generator
from mfcomm.nodes import wire
from mfcomm.nodes.checkpoints import Role, Store
from mfcomm.nodes.link import Link
from mfcomm.nodes.protocol import serve


class ChannelNode(Role):
    """The channel and its noise generator."""

    def __init__(self, cfg: Config, store: Store, link: Link):
        self.cfg, self.store, self.link = cfg, store, link
        self.generator = generator(cfg.seed, "channel")
        self.channel = make_channel(cfg.channel, cfg.n0, self.generator, cfg.channel_timeout or None)
        self.counters: dict[str, float] = {}  # a radio's burst counters at the end of the last training step

    def load(self, iteration: int) -> None:
        """The noise generator's state after ``iteration`` (0: the fresh start from the seed)."""
        if iteration:
            self.generator.set_state(self.store.load(iteration)[1]["generator"])
        else:
            self.generator.manual_seed(self.generator.initial_seed())

    def handle(self, msg: wire.Message, epoch: int) -> None:
        x = msg.array
        assert x is not None  # a data message carries its array (wire.decode checks)
        if x.shape[1] != self.cfg.channel_uses:
            raise NodeError(f"channel node received blocks of {x.shape[1]} symbols, expected {self.cfg.channel_uses}")
        with torch.no_grad():  # one channel call per step's block, as in one process
            y = torch.cat([self.channel(block) for block in x.split(msg["blocks"])])
        fields = {k: msg[k] for k in ("epoch", "iteration", "step", "kinds", "blocks", "last", "reply")}
        self.link.send(wire.encode("data", y, **fields))
        it, every = msg["iteration"], self.cfg.checkpoint_every
        if msg["last"] and "eval" not in msg["kinds"]:
            self.store.iterations_run += 1
            self.counters = dict(getattr(self.channel, "counters", None) or {})
            if every and it % every == 0:
                self.store.save(it, None, {"generator": self.generator.get_state()})

    def finish(self) -> None:
        result = {"role": "channel", "rejected_messages": self.link.seal.rejected, "counters": self.counters}
        self.store.finish(None, result)


def run(cfg: Config, link: Link, store: Store) -> None:
    """Serve the ring until the tx node says ``done``."""
    serve(link, ChannelNode(cfg, store, link))
