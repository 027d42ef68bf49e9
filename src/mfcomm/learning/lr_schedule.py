"""Learning-rate schedules over the training iterations: ``constant`` or ``cosine`` decay, and a warm-up.

A cosine decay lets the early iterations move the code far and the late ones settle it: Adam at a
constant rate keeps the codebook jittering around its optimum, which costs SER at high SNR. The
transmitter's warm-up (its rate ramps up from 0 over ``tx_warmup`` iterations) keeps a good starting code,
such as the classical one, in place while the receiver, which starts random, learns to read it: the
transmitter's gradient is only as good as the receiver whose losses it follows.

Example
-------
>>> from types import SimpleNamespace
>>> cfg = SimpleNamespace(lr_schedule="cosine", iterations=100, lr_final_ratio=0.05)
>>> [round(rate_factor(it, cfg), 3) for it in (1, 51, 101, 500)]
[1.0, 0.525, 0.05, 0.05]
>>> [round(rate_factor(it, cfg, warmup=10), 3) for it in (1, 6, 11)]
[0.0, 0.497, 0.977]
"""

from __future__ import annotations

import math
from typing import Any

import torch


def cosine_factor(step: int, steps: int, final_ratio: float) -> float:
    """Multiplier of the initial rate after ``step`` of ``steps`` steps: a half cosine from 1 to
    ``final_ratio``, held at ``final_ratio`` after ``steps``."""
    progress = min(step, steps) / max(steps, 1)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def rate_factor(iteration: int, cfg: Any, warmup: int = 0) -> float:
    """Multiplier of a base rate in 1-based ``iteration`` of ``cfg``'s schedule (``lr_schedule``,
    ``iterations``, ``lr_final_ratio``; later iterations, the fine-tuning, keep the final rate), ramped up
    linearly from 0 over the first ``warmup`` iterations."""
    cosine = getattr(cfg, "lr_schedule", "constant") == "cosine"
    factor = cosine_factor(iteration - 1, cfg.iterations, cfg.lr_final_ratio) if cosine else 1.0
    return factor * min(1.0, (iteration - 1) / warmup) if warmup else factor


def set_rates(
    optimizer: torch.optim.Optimizer, bases: list[float], iteration: int, cfg: Any, warmups: list[int] | None = None
) -> None:
    """Set each parameter group's rate for 1-based ``iteration`` from its base rate (and its warm-up):
    called before each iteration, in-process and by the three-process nodes alike."""
    for group, lr, warmup in zip(optimizer.param_groups, bases, warmups or [0] * len(bases), strict=False):
        group["lr"] = lr * rate_factor(iteration, cfg, warmup)
