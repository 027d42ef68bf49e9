"""The one place a run's randomness comes from: every random generator and initial weight, derived from its seed.

*Generators* here are random number generators (``torch.Generator``), one per role; a *sample stream* is
something else (a radio's received samples, :mod:`mfcomm.channels.stream_model`).

A node draws only from its own generators: the transmitter's weights and perturbations, the receiver's
weights and feedback-link noise, the channel's noise. The training messages come from a generator both
the transmitter and the receiver seed identically: the receiver knows the training sequence in advance,
as the paper's setup assumes, and no labels travel over the air. Each generator is consumed in the same
order whether the roles run in three processes or in one: ``mfcomm train`` (:func:`mfcomm.experiment.runs.train`)
uses these generators for model-free training on the CPU, so one seed trains the same system, bit for bit, in one
process or in three (``tests/nodes/test_nodes.py`` checks it). What draws from torch's default generator (the
other tasks and methods, the evaluation) draws from the run's own one, :func:`run_generator`.

Example
-------
>>> role_seed(0, "messages"), role_seed(1, "tx"), role_seed(1, "baseline")
(2, 1000003, 1001003)
>>> g = training_generators(0)
>>> torch.equal(torch.rand(3, generator=g.messages), torch.rand(3, generator=generator(0, "messages")))
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from mfcomm.system.build import build_receiver, build_transmitter, device_of
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

OFFSETS = {
    "tx": 0,
    "rx": 1,
    "messages": 2,
    "exploration": 3,
    "feedback": 4,
    "channel": 5,
    "baseline": 1_000,
    "baseline_channel": 1_001,
    "figure": 1_002,
}
"""Each role's offset in :func:`role_seed`: ``baseline`` is the classical system measured after training (and
``baseline_channel`` the channel it is measured through, the OFDM task's); ``figure`` draws what a figure shows."""


@dataclass(frozen=True)
class Generators:
    """The training steps' random generators by role (None: torch's default generator, the run's own one, see
    :func:`run_generator`): ``messages`` (the training messages, drawn by the transmitter and, from the same
    seed, by the receiver that must know them), ``exploration`` (the transmitter's perturbations) and
    ``feedback`` (the feedback link's noise)."""

    messages: torch.Generator | None = None
    exploration: torch.Generator | None = None
    feedback: torch.Generator | None = None


def role_seed(seed: int, role: str) -> int:
    """Seed of one role's generator (see :data:`OFFSETS`), distinct for each role and each run seed."""
    return (seed * 1_000_003 + OFFSETS[role]) % 2**63


def generator(seed: int, role: str) -> torch.Generator:
    """A CPU generator seeded for ``role``."""
    return torch.Generator().manual_seed(role_seed(seed, role))


def training_generators(seed: int) -> Generators:
    """The messages', perturbations' and feedback link's generators of a run."""
    return Generators(generator(seed, "messages"), generator(seed, "exploration"), generator(seed, "feedback"))


@contextlib.contextmanager
def run_generator(cfg: Any) -> Iterator[None]:
    """Within the block, torch's default generators (the CPU's, and the config's CUDA device's) are the run's
    own, seeded with ``cfg.seed``; after it, they are as they were."""
    device = device_of(cfg)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(cfg.seed)
        yield


def seeded_transmitter(cfg: Any) -> Transmitter:
    """The transmitter's initial weights, from its own seed (torch's global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(role_seed(cfg.seed, "tx"))
        return build_transmitter(cfg)


def seeded_receiver(cfg: Any) -> Receiver:
    """The receiver's initial weights, from its own seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(role_seed(cfg.seed, "rx"))
        return build_receiver(cfg)
