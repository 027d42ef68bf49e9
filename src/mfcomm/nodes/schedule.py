"""Algorithm 1's loop run by a node: what its bookkeeping, :class:`mfcomm.learning.loop.Loop`, needs of its
``state``, from the node's checkpoint store and counters.

``mfcomm train`` hands its :class:`~mfcomm.learning.loop.Loop` a
:class:`~mfcomm.learning.checkpointing.TrainingState`, which saves the whole loop in one file and resumes from
it. A node resumes from the iteration the handshake agreed on (:func:`mfcomm.nodes.protocol.synchronise`), with
its own checkpoint (:class:`~mfcomm.nodes.checkpoints.Store`), and the loop's parts need no saving there:

- the loss window is empty at every checkpoint: ``checkpoint_every`` is a multiple of ``log_every`` (a
  configuration check) and every log row empties it;
- the nodes run no stop rule (:func:`without_stop_rule`): the channel and rx nodes follow the fixed
  schedule (:func:`mfcomm.nodes.rx_node.expected_kind`), so the main loop always runs all ``iterations``.

Example
-------
>>> from mfcomm.config.files import configure
>>> cfg = without_stop_rule(configure(overrides={"stop_early": True}))
>>> cfg.patience, cfg.stop_early
(0, False)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Protocol

import torch

from mfcomm.config.fields import Config
from mfcomm.nodes.checkpoints import Store

NODE_DELAY = 2
"""``feedback_delay`` of ``mfcomm node`` when not given: the pipeline's depth (measured: docs/results/nodes.md)."""


def pipelined(cfg: Config) -> Config:
    """``cfg`` with the nodes' ``feedback_delay``: as given, else :data:`NODE_DELAY`."""
    return cfg if cfg.feedback_delay is not None else dataclasses.replace(cfg, feedback_delay=NODE_DELAY)


class Checkpointed(Protocol):
    """What :class:`NodeState` needs of a node."""

    store: Store
    seconds: float
    """Training seconds up to the last iteration done (saved in the node's checkpoints)."""

    def save(self, iteration: int) -> None:
        """Checkpoint the state after ``iteration``."""
        ...


def without_stop_rule(cfg: Config) -> Config:
    """``cfg`` as the nodes schedule it: no plateau rule, so no early stop (see the module docstring)."""
    return dataclasses.replace(cfg, patience=0, stop_early=False)


class NodeState:
    """The :class:`~mfcomm.learning.loop.Loop`'s ``state`` for ``node``, resuming after iteration ``resumed``: it
    counts the iterations run (``store.iterations_run``) and the training seconds (each iteration's own, from
    :meth:`begin` to :meth:`done`: not the handshakes, checkpoints or evaluation), and checkpoints every
    ``every`` iterations (0: never)."""

    def __init__(self, node: Checkpointed, resumed: int, every: int) -> None:
        self.node, self.resumed, self.every = node, resumed, every
        self.started = time.perf_counter()

    def track(self, **parts: Any) -> int:
        """The iterations already done; the loop's parts need no restoring (see the module docstring)."""
        return self.resumed

    def begin(self) -> None:
        """An iteration starts: its time counts from here."""
        self.started = time.perf_counter()

    def seconds(self) -> float:
        """Training seconds so far, the running iteration's included."""
        return self.node.seconds + time.perf_counter() - self.started

    def done(self, iteration: int, losses: list[torch.Tensor]) -> None:
        """End of ``iteration`` (its fed-back losses were checked finite on the wire): count it, checkpoint
        when due."""
        self.node.seconds = self.seconds()
        self.node.store.iterations_run += 1
        if self.every and iteration % self.every == 0:
            self.node.save(iteration)
