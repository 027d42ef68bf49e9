"""Escaping poor local optima: train several candidate systems briefly, keep the best on held-out messages;
and never return a system worse than the classical one.

Seeds of the same recipe end in different local optima of the code: ``make bench-quality`` measures the spread
over five seeds on eleven tasks (docs/results/quality.md, the worst seed's SER over the best's). Which basin a
system is in shows early, so
``candidates`` systems (the first starts where ``init`` says, the others from random weights, each from
its own seed) are each trained for ``candidate_iterations`` iterations of the same recipe at constant
learning rates; each is then scored on ``selection_messages`` fresh messages (never trained on) through
the channel, and the best one goes on to the main training. Every symbol sent, the candidates' training
and scoring included, counts as a channel use spent.

After training, when the classical same-rate system measured on its own fresh messages
(:mod:`mfcomm.evaluation.reference`) is better than the trained one beyond both 95% intervals, the run keeps the
classical codebook with a receiver trained for it (``keep_best``), and says so.

Example
-------
>>> from mfcomm.config.files import configure
>>> cfg = configure(overrides={"candidates": 3, "candidate_iterations": 500, "iterations": 2000})
>>> phase_config(cfg).iterations, phase_config(cfg).lr_schedule, phase_config(cfg).finetune_iterations
(500, 'constant', 0)
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from mfcomm.channels.contract import Channel
from mfcomm.config.fields import Config
from mfcomm.evaluation.reference import COHERENT_NOTE, BaselineResult, train_receiver
from mfcomm.evaluation.ser import SerEstimate, learned_ser
from mfcomm.learning.seeding import role_seed
from mfcomm.system.initial import start_classical
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

Train = Callable[[Transmitter, Receiver, Config], object]
"""Trains a system in place for a configuration's iterations."""


def phase_config(cfg: Config) -> Config:
    """The configuration a candidate trains with: ``candidate_iterations`` at constant learning rates, no
    fine-tuning, no stop rule."""
    return dataclasses.replace(
        cfg,
        iterations=cfg.candidate_iterations,
        lr_schedule="constant",
        finetune_iterations=0,
        patience=0,
        sigma2_final=None,
    )


def candidate_system(
    cfg: Config,
    index: int,
    build: Callable[[Config], tuple[Transmitter, Receiver]],
) -> tuple[Transmitter, Receiver]:
    """Candidate ``index``: 0 starts where ``cfg.init`` says; the others from random weights drawn from
    seed ``(cfg.seed, index)`` (torch's global generator is left as it was)."""
    if index == 0:
        return build(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed((cfg.seed * 1_000_003 + 7_919 * index) % 2**63)
        return build(dataclasses.replace(cfg, init="random"))


def select(
    cfg: Config,
    channel: Channel,
    train: Train,
    build: Callable[[Config], tuple[Transmitter, Receiver]],
    first: tuple[Transmitter, Receiver],
) -> tuple[Transmitter, Receiver, list[dict[str, Any]]]:
    """Train ``cfg.candidates`` candidates (the first is ``first``), score each on fresh messages through
    ``channel``, and return the best transmitter and receiver with one report row per candidate."""
    phase = phase_config(cfg)
    rows: list[dict[str, Any]] = []
    systems = []
    for index in range(cfg.candidates):
        tx, rx = first if index == 0 else candidate_system(cfg, index, build)
        train(tx, rx, phase)
        score = learned_ser(tx, rx, channel, 1, cfg.selection_messages, cfg.selection_messages)
        rows.append(
            {
                "candidate": index,
                "init": cfg.init if index == 0 else "random",
                "selection_ser": score.ser,
                "selection_errors": score.errors,
            }
        )
        systems.append((tx, rx))
    best = min(range(cfg.candidates), key=lambda i: (rows[i]["selection_ser"], i))
    rows[best]["kept"] = 1
    return *systems[best], rows


def classical_is_better(learned: SerEstimate, baseline: BaselineResult | None) -> bool:
    """True when the classical baseline's 95% interval lies wholly below the learned system's (a coherent
    baseline on fading knows ``h``, which no receiver here does: a bound, not a system to fall back to)."""
    return baseline is not None and baseline.note != COHERENT_NOTE and baseline.ci_high < learned.ci_low


def classical_system(
    cfg: Config, tx: Transmitter, baseline: BaselineResult, channel: Channel, quiet: bool = False
) -> tuple[Transmitter, Receiver, int]:
    """A copy of ``tx`` set to the classical codebook and a receiver for it, with the channel uses its
    training cost: the baseline's own trained receiver where it has one, else a receiver trained through
    ``channel`` as :func:`mfcomm.evaluation.reference.train_receiver` does (the baseline's closed form or ML detector
    is not a network a run can keep)."""
    tx = copy.deepcopy(tx)
    start_classical(tx, cfg)
    if baseline.receiver is not None:
        return tx, baseline.receiver, baseline.channel_uses
    generator = torch.Generator().manual_seed(role_seed(cfg.seed, "baseline") + 2)
    return tx, *train_receiver(cfg, tx.codebook().detach(), channel, generator, quiet)
