"""Model-based training: back-propagate the mean loss through a differentiable channel.

This is the baseline the paper compares against; it needs ``channel.differentiable``. Its loop's bookkeeping is
the model-free one's (:class:`~mfcomm.learning.loop.Loop`), with no fine-tuning.

Example
-------
>>> import torch
>>> from types import SimpleNamespace
>>> from mfcomm.channels.contract import AWGN
>>> from mfcomm.system.receiver import Receiver
>>> from mfcomm.system.transmitter import Transmitter
>>> _ = torch.manual_seed(0)
>>> cfg = SimpleNamespace(
...     iterations=20, finetune_iterations=0, batch_size=64, tx_lr=1e-2, rx_lr=1e-2, tx_warmup=0, log_every=10,
...     patience=0, stop_early=False)
>>> rows = []
>>> train_model_based(Transmitter(4, 1), Receiver(4, 1, (16,)), AWGN(0.1), cfg, lambda it, v: rows.append(it))
>>> rows
[10, 20]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mfcomm.channels.contract import Sampler
from mfcomm.config.fields import Config
from mfcomm.errors import ConfigError
from mfcomm.learning.checkpointing import TrainingState
from mfcomm.learning.examples import Examples, Sender, Symbols
from mfcomm.learning.loop import Log, Loop
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.model_free import descend


def train_model_based(
    tx: Sender,
    rx: nn.Module,
    channel: Sampler[Any],
    cfg: Config,
    log: Log,
    progress: Callable[[int], None] = lambda _: None,
    state: TrainingState | None = None,
    examples: Examples | None = None,
    generator: torch.Generator | None = None,
) -> int | None:
    """``cfg.iterations`` joint gradient steps on theta_T and theta_R through the channel (with ``cfg.stop_early``
    fewer, to a plateau of the loss), one Adam over both networks (``cfg.tx_lr``, ``cfg.rx_lr``), on batches of
    ``cfg.batch_size`` labels of ``examples`` (default: messages) drawn from ``generator``; refused unless
    ``channel.differentiable``. Returns the iteration at which the loss reached a plateau, or None. ``state``
    checkpoints and resumes (:mod:`mfcomm.learning.checkpointing`)."""
    if not channel.differentiable:
        raise ConfigError(
            f"channel {channel.name} has no gradient: model-based training needs a "
            "differentiable channel (use --method model-free)"
        )
    examples, device = examples or Symbols(tx.messages), next(tx.parameters()).device
    opt = torch.optim.Adam([{"params": tx.parameters(), "lr": cfg.tx_lr}, {"params": rx.parameters(), "lr": cfg.rx_lr}])
    loop = Loop(cfg, log, progress, state, opt=opt)
    for it in loop.iterations():
        set_rates(opt, [cfg.tx_lr, cfg.rx_lr], it, cfg, [cfg.tx_warmup, 0])
        m = examples.draw(cfg.batch_size, device, generator)
        y = channel(examples.send(tx, m))  # the gradient flows back through the channel into the transmitter
        loop.add("loss", descend(opt, examples.loss(rx, y, m)))
    return loop.converged_at
