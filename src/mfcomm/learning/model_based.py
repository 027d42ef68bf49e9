"""Model-based training: back-propagate the mean loss through a differentiable channel.

This is the baseline the paper compares against; it needs ``channel.differentiable``.
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
from mfcomm.learning.examples import Examples, Sender
from mfcomm.learning.loop import Log, LossWindow, MainLoop
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.model_free import receiver_step
from mfcomm.learning.stop_rule import Plateau


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
    """Joint gradient steps on theta_T and theta_R through the channel (see :func:`train_jointly`), on batches
    of ``cfg.batch_size`` labels of ``examples`` (default: messages) drawn from ``generator``."""
    return train_jointly(
        tx,
        rx,
        channel,
        cfg,
        lambda opt: receiver_step(tx, rx, channel, opt, cfg.batch_size, generator, examples, joint=True),
        log,
        progress,
        state,
    )


def train_jointly(
    tx: Sender,
    rx: nn.Module,
    channel: Any,
    cfg: Any,
    step: Callable[[torch.optim.Optimizer], torch.Tensor],
    log: Log,
    progress: Callable[[int], None],
    state: TrainingState | None = None,
) -> int | None:
    """``cfg.iterations`` calls of ``step(opt)`` (with ``cfg.stop_early`` fewer, to a plateau of the loss), one
    Adam over both networks (``cfg.tx_lr``, ``cfg.rx_lr``), each returning its loss; refused unless
    ``channel.differentiable``. Returns the iteration at which the loss reached a plateau, or None. ``state``
    checks every loss, checkpoints, and resumes (:mod:`mfcomm.learning.checkpointing`)."""
    if not channel.differentiable:
        raise ConfigError(
            f"channel {channel.name} has no gradient: model-based training needs a "
            "differentiable channel (use --method model-free)"
        )
    opt = torch.optim.Adam([{"params": tx.parameters(), "lr": cfg.tx_lr}, {"params": rx.parameters(), "lr": cfg.rx_lr}])
    window, plateau, main = LossWindow(), Plateau(getattr(cfg, "patience", 0)), MainLoop(cfg.iterations)
    state = state or TrainingState()
    done = state.track(opt=opt, window=window, plateau=plateau, main_loop=main)
    for it in range(done + 1, main.last + 1):
        set_rates(opt, [cfg.tx_lr, cfg.rx_lr], it, cfg, [getattr(cfg, "tx_warmup", 0), 0])
        loss = step(opt)
        window.add("loss", loss)
        stop = plateau.update(it, loss) and getattr(cfg, "stop_early", False)  # held out: before the step
        if it % cfg.log_every == 0 or it == cfg.iterations or stop:
            log(it, window.means())
        progress(1)
        main.last = it if stop else main.last
        state.done(it, [loss])
        if stop:
            break
    return plateau.reached_at
