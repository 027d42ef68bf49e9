"""Each role's random streams and initial weights, derived from the run's seed, and the same training in
one process.

A node draws only from its own generators: the transmitter's weights and perturbations, the receiver's
weights and feedback-link noise, the channel's noise. The training messages come from a generator both
the transmitter and the receiver seed identically: the receiver knows the training sequence in advance,
as the paper's setup assumes, and no labels travel over the air. Each generator is consumed in the same
order whether the roles run in three processes or in one, so :func:`train_in_process` reproduces
three-process training bit for bit (``tests/test_nodes.py`` checks it).
``mfcomm train`` keeps torch's single global generator instead: same distribution, other samples.
"""

from __future__ import annotations

from typing import Any

import torch

from mfcomm.channels import Counted, make_channel
from mfcomm.config import Config
from mfcomm.model_free import Streams, train_model_free
from mfcomm.receiver import Receiver
from mfcomm.transmitter import Transmitter

STREAMS = ("tx", "rx", "messages", "exploration", "feedback", "channel")


def role_seed(seed: int, stream: str) -> int:
    """Seed of one stream (see ``STREAMS``), distinct for each stream and each run seed."""
    return (seed * 1_000_003 + STREAMS.index(stream)) % 2**63


def generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator seeded for ``stream``."""
    return torch.Generator().manual_seed(role_seed(seed, stream))


def seeded_transmitter(cfg: Config) -> Transmitter:
    """The transmitter's initial weights, from its own seed (torch's global generator is left as it was)."""
    from mfcomm.runs import build_transmitter  # here: runs imports matplotlib, which nodes do not need

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(role_seed(cfg.seed, "tx"))
        return build_transmitter(cfg)


def seeded_receiver(cfg: Config) -> Receiver:
    """The receiver's initial weights, from its own seed."""
    from mfcomm.runs import build_receiver

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(role_seed(cfg.seed, "rx"))
        return build_receiver(cfg)


def train_in_process(cfg: Config) -> tuple[Transmitter, Receiver, list[dict[str, Any]]]:
    """Train as the three nodes do, with the same streams, in this process: (tx, rx, learning-curve rows).

    The rows have the columns of ``metrics.csv`` but ``seconds``.
    """
    tx, rx = seeded_transmitter(cfg), seeded_receiver(cfg)
    streams = Streams(generator(cfg.seed, "messages"), generator(cfg.seed, "exploration"),
                      generator(cfg.seed, "feedback"))
    channel = Counted(make_channel(cfg.channel, cfg.n0, generator(cfg.seed, "channel"), cfg.channel_timeout or None))
    rows: list[dict[str, Any]] = []

    def log(iteration: int, values: dict[str, torch.Tensor]) -> None:
        rows.append({"iteration": iteration, "channel_uses": channel.uses, **{k: float(v) for k, v in values.items()}})

    train_model_free(tx, rx, channel, cfg, log, streams=streams)
    return tx, rx, rows
