"""Model-free training (Ait Aoudia & Hoydis, Algorithm 1): the channel is only ever sampled.

Each iteration alternates
1. receiver steps: send ``x = f_T(m)``, receive ``y``, descend the true gradient of the mean
   cross-entropy w.r.t. theta_R;
2. transmitter steps: perturb ``f_T(m)``, send it, let the receiver compute the per-example losses,
   feed back only those scalars (through a feedback-link model), subtract an optional baseline, and
   descend the Eq. 8 estimate w.r.t. theta_T;
then optional receiver-only fine-tuning.

This module holds the steps; the loop that schedules them (:func:`alternate`, shared with the other training
methods) is :mod:`mfcomm.learning.loop`, whose names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mfcomm.channels import Channel
from mfcomm.experiment.config import Config
from mfcomm.learning.checkpointing import TrainingState
from mfcomm.learning.estimator import LossBaseline, exploration, perturb, surrogate
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.learning.loop import Log, LossWindow, MainLoop, Schedule, alternate
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

__all__ = [
    "Log",
    "LossWindow",
    "MainLoop",
    "Schedule",
    "Streams",
    "accumulate_estimate",
    "alternate",
    "draw_messages",
    "estimate_transmitter_gradient",
    "learn_from",
    "per_example_losses",
    "perturbed_transmission",
    "receiver_step",
    "receiver_update",
    "train_model_free",
    "transmitter_step",
]


@dataclass(frozen=True)
class Streams:
    """Random generators by role (None: torch's global generator, which ``mfcomm train`` uses on CUDA).

    Three-process training (:mod:`mfcomm.nodes`) gives each role its own: ``messages`` (the training
    messages, drawn by the transmitter and, from the same seed, by the receiver that must know them),
    ``exploration`` (the transmitter's perturbations) and ``feedback`` (the feedback link's noise).
    """

    messages: torch.Generator | None = None
    exploration: torch.Generator | None = None
    feedback: torch.Generator | None = None


def draw_messages(
    messages: int, batch: int, device: torch.device | str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``batch`` messages drawn uniformly from {0, ..., M-1}: (batch,) int64."""
    return torch.randint(messages, (batch,), device=device, generator=generator)


def receiver_update(rx: Receiver, opt: torch.optim.Optimizer, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Supervised receiver step on received ``y`` of known messages ``m``; returns the mean loss (detached)."""
    loss = F.cross_entropy(rx(y), m)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def receiver_step(
    tx: Transmitter,
    rx: Receiver,
    channel: Channel,
    opt: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One supervised receiver step on the true gradient; returns the mean loss (detached)."""
    m = draw_messages(tx.messages, batch_size, tx.all_messages.device, generator)
    with torch.no_grad():
        y = channel(tx(m))
    return receiver_update(rx, opt, y, m)


def perturbed_transmission(
    tx: Transmitter,
    m: torch.Tensor,
    perturbations: int,
    antithetic: bool,
    sigma2: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The transmitter's side of a transmitter step: ``(m_k, xbar, x_p)``, each message repeated K times,
    ``xbar = f_T(m_k)`` (with its graph) and the perturbed symbols ``x_p`` to send, (messages K, n) complex64."""
    m_k = m.repeat_interleave(perturbations)
    xbar = tx(m_k)
    w = exploration((m.shape[0], perturbations, tx.channel_uses), sigma2, xbar.device, tx.real, antithetic, generator)
    return m_k, xbar, perturb(xbar, sigma2, tx.real, w.flatten(0, 1))


def per_example_losses(
    rx: Receiver, y: torch.Tensor, m_k: torch.Tensor, rx_opt: torch.optim.Optimizer | None = None
) -> torch.Tensor:
    """The receiver's side of a transmitter step: per-example losses (detached), (messages K,) float32.

    With ``rx_opt`` the receiver also takes a supervised step on these transmissions (it knows their
    messages), after computing the losses it feeds back.
    """
    with torch.set_grad_enabled(rx_opt is not None):
        losses = F.cross_entropy(rx(y), m_k, reduction="none")
    return learn_from(losses, rx_opt)


def learn_from(losses: torch.Tensor, rx_opt: torch.optim.Optimizer | None) -> torch.Tensor:
    """Per-example losses, detached for the feedback link; with ``rx_opt`` (the losses then carry their
    graph) the receiver first takes a supervised step on their mean."""
    if rx_opt is not None:
        rx_opt.zero_grad(set_to_none=True)
        losses.mean().backward()
        rx_opt.step()
    return losses.detach()


def accumulate_estimate(
    fed_back: torch.Tensor,
    m: torch.Tensor,
    x_p: torch.Tensor,
    xbar: torch.Tensor,
    sigma2: float,
    baseline: LossBaseline,
    real: bool,
) -> None:
    """From fed-back losses (messages, K): subtract the baseline and back-propagate the Eq. 8 surrogate
    into the transmitter's ``.grad``."""
    advantages = fed_back - baseline(fed_back, m)  # variance reduction
    surrogate(advantages.flatten(), x_p, xbar, sigma2, real).backward()  # estimator (Eq. 8)


def estimate_transmitter_gradient(
    tx: Transmitter,
    rx: Receiver,
    channel: Channel,
    messages: int,
    perturbations: int,
    antithetic: bool,
    sigma2: float,
    baseline: LossBaseline,
    feedback: FeedbackLink,
    rx_opt: torch.optim.Optimizer | None = None,
    streams: Streams = Streams(),
) -> torch.Tensor:
    """Accumulate the Eq. 8 estimate into the transmitter's ``.grad``; return the mean fed-back loss.

    ``messages`` random messages, each sent with ``perturbations`` independent (or antithetic) perturbations.
    With ``rx_opt`` the receiver also takes a supervised step on these transmissions (it knows their
    messages), after computing the losses it feeds back: the transmissions serve both networks.
    """
    m = draw_messages(tx.messages, messages, tx.all_messages.device, streams.messages)
    m_k, xbar, x_p = perturbed_transmission(
        tx, m, perturbations, antithetic, sigma2, streams.exploration
    )  # transmitter, perturbation
    with torch.no_grad():
        y = channel(x_p)  # channel (sampled only)
    losses = per_example_losses(rx, y, m_k, rx_opt)  # receiver: per-example losses
    fed_back = feedback(losses).view(messages, perturbations)  # feedback link: scalars only
    accumulate_estimate(fed_back, m, x_p, xbar, sigma2, baseline, tx.real)  # baseline, estimator (Eq. 8)
    return fed_back.mean()


def transmitter_step(
    tx: Transmitter,
    rx: Receiver,
    channel: Channel,
    opt: torch.optim.Optimizer,
    cfg: Config,
    sigma2: float,
    baseline: LossBaseline,
    feedback: FeedbackLink,
    rx_opt: torch.optim.Optimizer | None = None,
    streams: Streams = Streams(),
) -> torch.Tensor:
    """One transmitter step from the gradient estimate; returns the mean fed-back loss (detached)."""
    opt.zero_grad(set_to_none=True)
    loss = estimate_transmitter_gradient(
        tx, rx, channel, cfg.tx_batch, cfg.perturbations, cfg.antithetic, sigma2, baseline, feedback, rx_opt, streams
    )
    opt.step()
    return loss


def train_model_free(
    tx: Transmitter,
    rx: Receiver,
    channel: Channel,
    cfg: Config,
    log: Log,
    progress: Callable[[int], None] = lambda _: None,
    streams: Streams = Streams(),
    state: TrainingState | None = None,
) -> int | None:
    """Alternate receiver and transmitter steps for ``cfg.iterations`` (with ``cfg.stop_early``, to a plateau),
    then fine-tune the receiver; returns the iteration at which the plateau was reached, or None. ``state``
    checkpoints and resumes the loop (:mod:`mfcomm.learning.checkpointing`)."""
    opt_rx = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr)
    opt_tx = torch.optim.Adam(tx.parameters(), lr=cfg.tx_lr)
    baseline = LossBaseline(cfg.loss_baseline, tx.messages, cfg.antithetic)
    feedback = FeedbackLink(cfg.feedback, cfg.feedback_bits, cfg.feedback_noise, streams.feedback)
    state = state or TrainingState()
    state.track(opt_rx=opt_rx, opt_tx=opt_tx, baseline=baseline, feedback=feedback)

    def schedule(it: int) -> None:
        set_rates(opt_rx, [cfg.rx_lr], it, cfg)
        set_rates(opt_tx, [cfg.tx_lr], it, cfg, [cfg.tx_warmup])

    return alternate(
        cfg,
        lambda: receiver_step(tx, rx, channel, opt_rx, cfg.batch_size, streams.messages),
        lambda sigma2: transmitter_step(
            tx, rx, channel, opt_tx, cfg, sigma2, baseline, feedback, opt_rx if cfg.rx_on_tx_batch else None, streams
        ),
        log,
        progress,
        lambda: {"feedback_bits": torch.tensor(float(feedback.bits_sent))},
        before_iteration=schedule,
        state=state,
    )
