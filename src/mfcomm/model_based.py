"""Model-based training: back-propagate the mean cross-entropy through a differentiable channel.

This is the baseline the paper compares against; it needs ``channel.differentiable``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from mfcomm.channels import Channel
from mfcomm.config import Config
from mfcomm.errors import ConfigError
from mfcomm.model_free import Log, LossWindow
from mfcomm.receiver import Receiver
from mfcomm.transmitter import Transmitter


def train_model_based(tx: Transmitter, rx: Receiver, channel: Channel, cfg: Config, log: Log,
                      progress: Callable[[int], None] = lambda _: None) -> None:
    """Joint gradient steps on theta_T and theta_R for ``cfg.iterations``."""
    if not channel.differentiable:
        raise ConfigError(f"channel {channel.name} has no gradient: model-based training needs a "
                          "differentiable channel (use --method model-free)")
    opt = torch.optim.Adam([{"params": tx.parameters(), "lr": cfg.tx_lr},
                            {"params": rx.parameters(), "lr": cfg.rx_lr}])
    window = LossWindow()
    for it in range(1, cfg.iterations + 1):
        m = torch.randint(tx.messages, (cfg.batch_size,), device=tx.all_messages.device)
        loss = F.cross_entropy(rx(channel(tx(m))), m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window.add("loss", loss.detach())
        if it % cfg.log_every == 0 or it == cfg.iterations:
            log(it, window.means())
        progress(1)
