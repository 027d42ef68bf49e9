"""Monte Carlo symbol error rate with exact (Clopper-Pearson) confidence intervals.

Messages are drawn in batches until ``target_errors`` errors are seen (and at least ``min_messages``
were sent) or ``max_messages`` is reached.

Example
-------
>>> est = clopper_pearson(errors=10, messages=1000)
>>> est.ci_low < est.ser < est.ci_high
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from mfcomm.channels.contract import Channel
from mfcomm.config.fields import EVAL_BATCH
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter


@dataclass(frozen=True)
class SerEstimate:
    """``errors`` out of ``messages``, the SER and its two-sided confidence interval."""

    errors: int
    messages: int
    ser: float
    ci_low: float
    ci_high: float


def clopper_pearson(errors: int, messages: int, confidence: float = 0.95) -> SerEstimate:
    """Exact binomial confidence interval for ``errors`` out of ``messages``."""
    from scipy.stats import beta  # here: scipy.stats takes longer to import than a node takes to start

    alpha = 1.0 - confidence
    low = 0.0 if errors == 0 else float(beta.ppf(alpha / 2, errors, messages - errors + 1))
    high = 1.0 if errors == messages else float(beta.ppf(1 - alpha / 2, errors + 1, messages - errors))
    return SerEstimate(errors, messages, errors / messages, low, high)


def monte_carlo(
    count_errors: Callable[[int], int],
    target_errors: int,
    min_messages: int,
    max_messages: int,
    batch_size: int = EVAL_BATCH,
    progress: Callable[[int], None] = lambda _: None,
) -> SerEstimate:
    """Call ``count_errors(batch)`` (errors among ``batch`` fresh messages) until the stop rule holds."""
    errors = messages = 0
    while messages < max_messages and (messages < min_messages or errors < target_errors):
        batch = min(batch_size, max_messages - messages)
        errors += count_errors(batch)
        messages += batch
        progress(batch)
    return clopper_pearson(errors, messages)


def learned_errors(tx: Transmitter, rx: Receiver, channel: Channel) -> Callable[[int], int]:
    """Error counter for the learned system: ``m -> codebook[m] -> channel -> argmax receiver``.

    The codebook is computed once, so evaluation costs one channel call and one receiver pass.
    """
    with torch.inference_mode():
        codebook = tx.codebook()

    def count(batch: int) -> int:
        with torch.inference_mode():
            m = torch.randint(tx.messages, (batch,), device=codebook.device)
            m_hat = rx(channel(codebook[m])).argmax(dim=1)
            return int((m_hat != m).sum())

    return count


def learned_ser(
    tx: Transmitter,
    rx: Receiver,
    channel: Channel,
    target_errors: int = 1000,
    min_messages: int = 100_000,
    max_messages: int = 10_000_000,
    progress: Callable[[int], None] = lambda _: None,
) -> SerEstimate:
    """SER of a trained transmitter and receiver over ``channel``."""
    was_training = tx.training, rx.training
    tx.eval(), rx.eval()
    try:
        return monte_carlo(
            learned_errors(tx, rx, channel), target_errors, min_messages, max_messages, progress=progress
        )
    finally:
        tx.train(was_training[0]), rx.train(was_training[1])
