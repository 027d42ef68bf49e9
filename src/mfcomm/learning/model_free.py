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
from typing import Any

import torch
from torch import nn

from mfcomm.channels.contract import Sampler
from mfcomm.config.fields import Config
from mfcomm.learning.checkpointing import TrainingState
from mfcomm.learning.estimator import LossBaseline, exploration, geometric, perturb, surrogate
from mfcomm.learning.examples import Examples, Sender, Symbols
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.learning.loop import Log, alternate
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.seeding import Generators
from mfcomm.system.receiver import Receiver


def draw_messages(
    messages: int, batch: int, device: torch.device | str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``batch`` messages drawn uniformly from {0, ..., M-1}: (batch,) int64."""
    return Symbols(messages).draw(batch, device, generator)


def device_of(tx: Sender) -> torch.device:
    """Where the transmitter's weights, and so its labels, live."""
    return next(tx.parameters()).device


def receiver_update(rx: Receiver, opt: torch.optim.Optimizer, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Supervised receiver step on received ``y`` of known messages ``m``; returns the mean loss (detached)."""
    return descend(opt, Symbols().loss(rx, y, m))


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimiser step on ``loss``; returns it detached."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def receiver_step(
    tx: Sender,
    rx: nn.Module,
    channel: Sampler[Any],
    opt: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator | None = None,
    examples: Examples | None = None,
    joint: bool = False,
) -> torch.Tensor:
    """One supervised receiver step on the true gradient; returns the mean loss (detached). With ``joint``, a
    model-based step: the gradient flows back through the channel into the transmitter too."""
    examples = examples or Symbols(tx.messages)
    labels = examples.draw(batch_size, device_of(tx), generator)
    with torch.set_grad_enabled(joint):
        y = channel(examples.send(tx, labels))
    return descend(opt, examples.loss(rx, y, labels))


def perturbed_transmission(
    tx: Sender,
    m: torch.Tensor,
    perturbations: int,
    antithetic: bool,
    sigma2: float,
    generator: torch.Generator | None = None,
    examples: Examples | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The transmitter's side of a transmitter step: ``(m_k, xbar, x_p)``, each label repeated K times,
    ``xbar = f_T(m_k)`` (with its graph) and the perturbed symbols ``x_p`` to send, both in the channel's shape
    (for messages: (messages K, n) complex64)."""
    examples = examples or Symbols(tx.messages)
    m_k = examples.repeat(m, perturbations)
    xbar = examples.send(tx, m_k)
    count = examples.indices(m_k).numel()
    shape = (count // perturbations, perturbations, xbar.numel() // count)
    w = exploration(shape, sigma2, xbar.device, tx.real, antithetic, generator)
    return m_k, xbar, perturb(xbar.reshape(count, -1), sigma2, tx.real, w.flatten(0, 1)).view_as(xbar)


def per_example_losses(
    rx: nn.Module,
    y: Any,
    m_k: torch.Tensor,
    rx_opt: torch.optim.Optimizer | None = None,
    examples: Examples | None = None,
) -> torch.Tensor:
    """The receiver's side of a transmitter step: per-example losses (detached), (examples,) float32.

    With ``rx_opt`` the receiver also takes a supervised step on these transmissions (it knows their
    labels), after computing the losses it feeds back.
    """
    examples = examples or Symbols()
    with torch.set_grad_enabled(rx_opt is not None):
        losses = examples.losses(rx, y, m_k)
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
    """From fed-back losses (examples, K) of the examples' message indices ``m``: subtract the baseline and
    back-propagate the Eq. 8 surrogate into the transmitter's ``.grad`` (``x_p``, ``xbar``: one row per loss)."""
    advantages = fed_back - baseline(fed_back, m)  # variance reduction
    rows = advantages.numel()
    surrogate(advantages.flatten(), x_p.reshape(rows, -1), xbar.reshape(rows, -1), sigma2, real).backward()  # Eq. 8


def estimate_transmitter_gradient(
    tx: Sender,
    rx: nn.Module,
    channel: Sampler[Any],
    messages: int,
    perturbations: int,
    antithetic: bool,
    sigma2: float,
    baseline: LossBaseline,
    feedback: FeedbackLink,
    rx_opt: torch.optim.Optimizer | None = None,
    generators: Generators = Generators(),
    examples: Examples | None = None,
) -> torch.Tensor:
    """Accumulate the Eq. 8 estimate into the transmitter's ``.grad``; return the mean fed-back loss.

    ``messages`` random labels, each sent with ``perturbations`` independent (or antithetic) perturbations.
    With ``rx_opt`` the receiver also takes a supervised step on these transmissions (it knows their
    labels), after computing the losses it feeds back: the transmissions serve both networks.
    """
    examples = examples or Symbols(tx.messages)
    m = examples.draw(messages, device_of(tx), generators.messages)
    m_k, xbar, x_p = perturbed_transmission(
        tx, m, perturbations, antithetic, sigma2, generators.exploration, examples
    )  # transmitter, perturbation
    with torch.no_grad():
        y = channel(x_p)  # channel (sampled only)
    losses = per_example_losses(rx, y, m_k, rx_opt, examples)  # receiver: per-example losses
    fed_back = feedback(losses).view(-1, perturbations)  # feedback link: scalars only
    accumulate_estimate(fed_back, examples.indices(m), x_p, xbar, sigma2, baseline, tx.real)  # baseline, Eq. 8
    return fed_back.mean()


def transmitter_step(
    tx: Sender,
    rx: nn.Module,
    channel: Sampler[Any],
    opt: torch.optim.Optimizer,
    cfg: Config,
    sigma2: float,
    baseline: LossBaseline,
    feedback: FeedbackLink,
    rx_opt: torch.optim.Optimizer | None = None,
    generators: Generators = Generators(),
    examples: Examples | None = None,
) -> torch.Tensor:
    """One transmitter step from the gradient estimate; returns the mean fed-back loss (detached)."""
    opt.zero_grad(set_to_none=True)
    loss = estimate_transmitter_gradient(
        tx,
        rx,
        channel,
        cfg.tx_batch,
        cfg.perturbations,
        cfg.antithetic,
        sigma2,
        baseline,
        feedback,
        rx_opt,
        generators,
        examples,
    )
    opt.step()
    return loss


def train_model_free(
    tx: Sender,
    rx: nn.Module,
    channel: Sampler[Any],
    cfg: Config,
    log: Log,
    progress: Callable[[int], None] = lambda _: None,
    generators: Generators = Generators(),
    state: TrainingState | None = None,
    examples: Examples | None = None,
) -> int | None:
    """Alternate receiver and transmitter steps for ``cfg.iterations`` (with ``cfg.stop_early``, to a plateau),
    then fine-tune the receiver (its rate decaying to ``cfg.rx_lr_final`` if set); returns the iteration at
    which the plateau was reached, or None. ``state`` checkpoints and resumes the loop
    (:mod:`mfcomm.learning.checkpointing`)."""
    examples = examples or Symbols(cfg.messages)
    opt_rx = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr)
    opt_tx = torch.optim.Adam(tx.parameters(), lr=cfg.tx_lr)
    baseline = LossBaseline(cfg.loss_baseline, cfg.messages, cfg.antithetic)
    feedback = FeedbackLink(cfg.feedback, cfg.feedback_bits, cfg.feedback_noise, generators.feedback)
    state = state or TrainingState()
    state.track(opt_rx=opt_rx, opt_tx=opt_tx, baseline=baseline, feedback=feedback)

    def schedule(it: int) -> None:
        set_rates(opt_rx, [cfg.rx_lr], it, cfg)
        set_rates(opt_tx, [cfg.tx_lr], it, cfg, [cfg.tx_warmup])

    def rx_step() -> torch.Tensor:
        return receiver_step(tx, rx, channel, opt_rx, cfg.batch_size, generators.messages, examples)

    def finetune_step(i: int) -> torch.Tensor:
        if cfg.rx_lr_final is not None:
            for group in opt_rx.param_groups:
                group["lr"] = geometric(i, cfg.finetune_iterations, cfg.rx_lr, cfg.rx_lr_final)
        return rx_step()

    def tx_step(sigma2: float) -> torch.Tensor:
        rx_opt = opt_rx if cfg.rx_on_tx_batch else None
        return transmitter_step(tx, rx, channel, opt_tx, cfg, sigma2, baseline, feedback, rx_opt, generators, examples)

    return alternate(
        cfg,
        rx_step,
        tx_step,
        log,
        progress,
        lambda: {"feedback_bits": torch.tensor(float(feedback.bits_sent))},
        finetune_step=finetune_step,
        before_iteration=schedule,
        state=state,
    )
