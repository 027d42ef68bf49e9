"""Each role's random streams and initial weights, derived from the run's seed.

A node draws only from its own generators: the transmitter's weights and perturbations, the receiver's
weights and feedback-link noise, the channel's noise. The training messages come from a generator both
the transmitter and the receiver seed identically: the receiver knows the training sequence in advance,
as the paper's setup assumes, and no labels travel over the air. Each generator is consumed in the same
order whether the roles run in three processes or in one: ``mfcomm train`` (:func:`mfcomm.experiment.runs.train`) uses
these streams for model-free training on the CPU, so one seed trains the same system, bit for bit, in one
process or in three (``tests/nodes/test_nodes.py`` checks it; on CUDA ``mfcomm train`` draws from torch's global
generator).
"""

from __future__ import annotations

import torch

from mfcomm.experiment.config import Config
from mfcomm.learning.model_free import Streams
from mfcomm.system.build import build_receiver, build_transmitter
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

STREAMS = ("tx", "rx", "messages", "exploration", "feedback", "channel")


def role_seed(seed: int, stream: str) -> int:
    """Seed of one stream (see ``STREAMS``), distinct for each stream and each run seed."""
    return (seed * 1_000_003 + STREAMS.index(stream)) % 2**63


def generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator seeded for ``stream``."""
    return torch.Generator().manual_seed(role_seed(seed, stream))


def training_streams(seed: int) -> Streams:
    """The messages', perturbations' and feedback link's generators of a run."""
    return Streams(generator(seed, "messages"), generator(seed, "exploration"), generator(seed, "feedback"))


def seeded_transmitter(cfg: Config) -> Transmitter:
    """The transmitter's initial weights, from its own seed (torch's global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(role_seed(cfg.seed, "tx"))
        return build_transmitter(cfg)


def seeded_receiver(cfg: Config) -> Receiver:
    """The receiver's initial weights, from its own seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(role_seed(cfg.seed, "rx"))
        return build_receiver(cfg)
