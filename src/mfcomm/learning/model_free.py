"""Model-free training (Ait Aoudia & Hoydis, Algorithm 1): the channel is only ever sampled.

:func:`train_model_free` is the whole method on one screen, its steps in the paper's order:

1. receiver steps: send ``x = f_T(m)``, receive ``y``, descend the true gradient of the mean loss w.r.t. theta_R;
2. transmitter steps: perturb ``f_T(m)`` (:func:`~mfcomm.learning.estimator.perturb`), send it, let the receiver
   compute the per-example losses, feed back only those scalars (:class:`~mfcomm.learning.feedback.FeedbackLink`),
   subtract a baseline (:class:`~mfcomm.learning.estimator.LossBaseline`) and descend the Eq. 8 estimate w.r.t.
   theta_T (:func:`~mfcomm.learning.estimator.surrogate`); with ``cfg.feedback_delay = K`` the losses arrive K
   transmitter steps later (:class:`~mfcomm.learning.delay.DelayLine`), and the estimate is corrected for the
   transmitter's move since (:class:`~mfcomm.learning.delay.LateEstimate`);
3. then receiver-only fine-tuning.

The loop's bookkeeping (resume and checkpoints, the stop rule, log rows, progress) is
:class:`~mfcomm.learning.loop.Loop`.

Example
-------
>>> import torch
>>> net = torch.nn.Linear(2, 1)
>>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
>>> loss = descend(opt, net(torch.ones(1, 2)).square().mean())
>>> loss.requires_grad, bool(net(torch.ones(1, 2)).square().mean() < loss)
(False, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mfcomm.channels.contract import Sampler
from mfcomm.config.fields import Config
from mfcomm.learning.checkpointing import TrainingState
from mfcomm.learning.delay import DelayLine, LateEstimate
from mfcomm.learning.estimator import LossBaseline, descend, geometric, perturb, sigma2_at
from mfcomm.learning.examples import Examples, Sender, Symbols
from mfcomm.learning.feedback import feedback_link
from mfcomm.learning.loop import Log, Loop
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.seeding import Generators


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
    """Algorithm 1 for ``cfg.iterations`` (to a plateau with ``cfg.stop_early``), then ``cfg.finetune_iterations``
    receiver steps of ``examples`` (default: messages); returns the plateau's iteration or None. ``state`` resumes."""
    examples, device = examples or Symbols(cfg.messages), next(tx.parameters()).device
    opt_rx, opt_tx = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr), torch.optim.Adam(tx.parameters(), lr=cfg.tx_lr)
    baseline = LossBaseline(cfg.loss_baseline, cfg.messages, cfg.antithetic)
    feedback = feedback_link(cfg, generators.feedback)
    delay, estimate = DelayLine(cfg.delay), LateEstimate(tx, examples, baseline, cfg)  # losses on their way
    parts = {"opt_rx": opt_rx, "opt_tx": opt_tx, "baseline": baseline, "feedback": feedback, **delay.part()}
    loop = Loop(cfg, log, progress, state, **parts)

    def receiver_step() -> None:  # supervised: the true gradient of the mean loss w.r.t. theta_R
        m = examples.draw(cfg.batch_size, device, generators.messages)
        with torch.no_grad():
            y = channel(examples.send(tx, m))  # x = f_T(m), not perturbed
        loop.add("rx_loss", descend(opt_rx, examples.loss(rx, y, m)))

    for it in loop.iterations():
        set_rates(opt_rx, [cfg.rx_lr], it, cfg)
        set_rates(opt_tx, [cfg.tx_lr], it, cfg, [cfg.tx_warmup])
        for _ in range(cfg.rx_steps):  # 1. receiver steps
            receiver_step()
        sigma2 = sigma2_at(it, cfg.iterations, cfg.exploration_sigma2, cfg.sigma2_final)
        for _ in range(cfg.tx_steps):  # 2. transmitter steps, on the Eq. 8 estimate of the gradient w.r.t. theta_T
            m = examples.draw(cfg.tx_batch, device, generators.messages)
            m_k = examples.repeat(m, cfg.perturbations)  # each label K times, once per perturbation
            xbar = examples.send(tx, m_k)  # f_T(m), with its graph
            x_p = perturb(xbar, sigma2, tx.real, cfg.perturbations, cfg.antithetic, generators.exploration)  # policy
            with torch.no_grad():
                y = channel(x_p)  # the channel: sampled, never differentiated
            with torch.set_grad_enabled(cfg.rx_on_tx_batch):
                losses = examples.losses(rx, y, m_k)  # the receiver's per-example losses l_i
            if cfg.rx_on_tx_batch:  # it knows the labels: the same transmissions train it too
                descend(opt_rx, losses.mean())
            fed_back = feedback(losses.detach())  # feedback link: scalars only, NaN where a frame was lost
            for step in delay.push(m, x_p, xbar, sigma2, tx.real, fed_back=fed_back, count=losses.numel()):
                loop.add("tx_loss", estimate.update(opt_tx, step, sigma2))  # K steps late: l_i - b_i, Eq. 8
        loop.note(sigma2=sigma2, **feedback.counters())
    set_rates(opt_tx, [cfg.tx_lr], loop.main.last, cfg, [cfg.tx_warmup])
    sigma2 = sigma2_at(loop.main.last, cfg.iterations, cfg.exploration_sigma2, cfg.sigma2_final)
    for step in delay.drain():  # losses still on their way when the main loop ends
        estimate.update(opt_tx, step, sigma2)
    for i in loop.fine_tuning():  # 3. receiver fine-tuning, at the schedule's final rates
        set_rates(opt_rx, [cfg.rx_lr], cfg.iterations + i, cfg)
        set_rates(opt_tx, [cfg.tx_lr], cfg.iterations + i, cfg, [cfg.tx_warmup])
        if cfg.rx_lr_final is not None:  # the receiver's rate decays geometrically to rx_lr_final
            for group in opt_rx.param_groups:
                group["lr"] = geometric(i, cfg.finetune_iterations, cfg.rx_lr, cfg.rx_lr_final)
        receiver_step()
    return loop.converged_at
