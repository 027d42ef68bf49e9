"""Late and lost feedback: the transmitter steps whose losses are on their way, and Eq. 8 when they arrive.

With ``feedback_delay = K`` the losses of a transmitter step reach the transmitter K transmitter steps later (K
updates happen between sending an example and receiving its loss): in one process by a FIFO, across processes
because the tx node sends on without waiting (:mod:`mfcomm.nodes.tx_node`). :class:`DelayLine` keeps what Eq. 8
needs of each step in flight (:class:`InFlight`); :class:`LateEstimate` forms the estimate when its losses arrive.

**Staleness.** The examples were drawn from the policy that sent them, ``pi_sent = N(sqrt(1 - s_sent) f_sent(m),
s_sent)``; the update is for the policy now, ``pi_now``. Importance sampling makes it exact:

    E_sent[ (pi_now / pi_sent)(x) l(x) grad log pi_now(x) ] = grad E_now[ l ]

Both densities are known in closed form (:func:`log_density`), so ``stale_correction``:

- ``importance``: weights ``w = min(pi_now / pi_sent, stale_clip)``, truncated as IMPALA's V-trace truncates them
  (unbiased while no weight reaches the clip; the clip bounds the variance);
- ``none``: weights 1, the stale examples taken as fresh: the log-derivative at the current mean, averaged over
  the old policy's samples (what a pipeline does by default; close to the gradient of K steps ago, as in
  asynchronous SGD, and biased once the policy has moved far);
- ``auto`` (default): ``none`` up to ``AUTO_DELAY`` = 32 steps, ``importance`` beyond. Measured on AWGN
  (``make bench-feedback``): the weights cost more in variance than they remove in bias up to K = 32 (K = 8:
  1.10x the SER of K = 0 with them, 1.05x without), and rescue training beyond (K = 128: 1.7x with, 18x without).

**Loss.** A lost frame's losses are NaN (:class:`mfcomm.learning.feedback.FeedbackLink`): the estimate averages over
the messages whose losses arrived, and the baseline is formed among them; frames are lost independently of the
losses, so the estimate stays unbiased. A step with nothing back makes no update.

Example
-------
K = 1: the first step's losses arrive with the second step, and the update weighs them by pi_now / pi_sent:

>>> import torch
>>> from mfcomm.config.fields import Config
>>> from mfcomm.learning.estimator import LossBaseline, perturb
>>> from mfcomm.learning.examples import Symbols
>>> from mfcomm.system.transmitter import Transmitter
>>> cfg, tx = Config(feedback_delay=1), Transmitter(16, 2)
>>> line, estimate = DelayLine(1), LateEstimate(tx, Symbols(16), LossBaseline("batch", 16), cfg)
>>> m = torch.arange(16)
>>> xbar = tx(m)
>>> line.push(m, perturb(xbar, 0.1), xbar, 0.1, tx.real, fed_back=torch.rand(16))
[]
>>> [late] = line.push(m, perturb(xbar, 0.1), xbar, 0.1, tx.real, fed_back=torch.rand(16))
>>> step = estimate(late, late.fed_back, 0.1)
>>> step.surrogate.requires_grad, step.messages
(True, 16)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import torch

from mfcomm.config.fields import Config
from mfcomm.learning.estimator import LossBaseline, descend, log_policy, surrogate
from mfcomm.learning.examples import Examples, Sender


def log_density(x_p: torch.Tensor, xbar: torch.Tensor, sigma2: float, real: bool = False) -> torch.Tensor:
    """``log pi(x_p | xbar)`` per example with its normalising constant (policies of different sigma2 compare):
    (examples,) from (examples, n). Differentiable in ``xbar``."""
    n = x_p.shape[1]
    constant = 0.5 * n * math.log(2 * math.pi * sigma2) if real else n * math.log(math.pi * sigma2)
    return log_policy(x_p, xbar, sigma2, real) - constant


AUTO_DELAY = 32
"""``stale_correction = auto`` weighs late losses only beyond this delay (measured: docs/results/feedback.md)."""


@dataclass
class InFlight:
    """A transmitter step whose losses are on their way: what Eq. 8 needs of it when they arrive."""

    labels: torch.Tensor
    """The step's labels (each sent ``perturbations`` times)."""
    x_p: torch.Tensor
    """What was sent, (examples, n) complex64."""
    sigma2: float
    """The policy's variance when it was sent."""
    log_pi: torch.Tensor
    """``log pi_sent(x_p)`` per example (empty without delay: the policy has not moved)."""
    tag: list[int]
    """Where it was sent: [iteration, step] (the reply a node waits for)."""
    fed_back: torch.Tensor | None = None
    """In one process: its losses through the feedback link, travelling with it."""
    xbar: torch.Tensor | None = None
    """``f_T(m)`` with its graph, kept only without delay (a later update would make it stale)."""


class DelayLine:
    """The steps in flight, oldest first; a step's losses arrive when ``delay`` newer steps have been sent."""

    def __init__(self, delay: int = 0):
        self.delay = delay
        self.steps: deque[InFlight] = deque()

    def push(
        self,
        labels: torch.Tensor,
        x_p: torch.Tensor,
        xbar: torch.Tensor,
        sigma2: float,
        real: bool,
        tag: tuple[int, int] = (0, 0),
        fed_back: torch.Tensor | None = None,
        count: int | None = None,
    ) -> list[InFlight]:
        """Send a step of ``count`` examples (default: a row of ``x_p`` each; the bits task's are its symbols);
        returns the step whose losses arrive now (none while the line fills)."""
        rows = count or x_p.shape[0]
        x_flat = x_p.detach().reshape(rows, -1)
        stale = self.delay > 0
        log_pi = log_density(x_flat, xbar.detach().reshape(rows, -1), sigma2, real) if stale else torch.empty(0)
        held = None if stale else xbar
        self.steps.append(InFlight(labels, x_flat, sigma2, log_pi, list(tag), fed_back, held))
        return [self.steps.popleft()] if len(self.steps) > self.delay else []

    def part(self) -> dict[str, DelayLine]:
        """The line as a checkpointed part of a training loop, if it delays (checkpoints without delay keep the
        layout they always had)."""
        return {"delay": self} if self.delay else {}

    def drain(self) -> list[InFlight]:
        """Every step still in flight, oldest first (training's end: their losses still arrive)."""
        steps, self.steps = list(self.steps), deque()
        return steps

    def state_dict(self) -> dict[str, Any]:
        """The steps in flight as plain values (checkpoints; ``xbar``'s graph is never kept)."""
        keep = [f.name for f in fields(InFlight) if f.name != "xbar"]
        return {"delay": self.delay, "steps": [{k: getattr(s, k) for k in keep} for s in self.steps]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.delay = int(state["delay"])
        self.steps = deque(InFlight(**step) for step in state["steps"])


@dataclass
class Estimate:
    """Eq. 8 on the losses of one step that arrived."""

    surrogate: torch.Tensor
    """Its gradient w.r.t. theta_T is the estimate (descend it)."""
    mean_loss: torch.Tensor
    """The mean fed-back loss that arrived (0-d, detached)."""
    messages: int
    """Messages whose losses arrived."""
    weights: torch.Tensor | None
    """The staleness correction's importance weights (None when not applied)."""


class LateEstimate:
    """Eq. 8 for a step whose losses arrive now: the transmitter's mean recomputed if it has moved since, the
    baseline among the messages that arrived, the staleness correction of ``cfg.stale_correction``."""

    def __init__(self, tx: Sender, examples: Examples, baseline: LossBaseline, cfg: Config):
        self.tx, self.examples, self.baseline = tx, examples, baseline
        self.k, self.clip = cfg.perturbations, cfg.stale_clip
        correction = cfg.stale_correction
        self.weighted = correction == "importance" or (correction == "auto" and cfg.delay > AUTO_DELAY)

    def update(
        self, opt: torch.optim.Optimizer, step: InFlight, sigma2: float, fed_back: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Descend the estimate from ``fed_back`` (default: the losses that travel with ``step``, in one process)
        with ``opt``; returns the mean fed-back loss that arrived, or None (every frame lost: no update)."""
        fed_back = step.fed_back if fed_back is None else fed_back
        assert fed_back is not None  # in one process the losses travel with their step
        late = self(step, fed_back, sigma2)
        if late is None:
            return None
        descend(opt, late.surrogate)
        return late.mean_loss

    def __call__(self, step: InFlight, fed_back: torch.Tensor, sigma2: float) -> Estimate | None:
        """The estimate from ``fed_back`` (examples,) float32, NaN where lost; None when nothing arrived."""
        rows = fed_back.view(-1, self.k)  # (messages, K)
        kept = ~rows.isnan().any(dim=1)
        if not bool(kept.any()):
            return None
        xbar = step.xbar
        if xbar is None:  # the transmitter has moved since: its mean now, with its graph
            xbar = self.examples.send(self.tx, self.examples.repeat(step.labels, self.k))
        xbar, x_p, log_pi = xbar.reshape(step.x_p.shape), step.x_p, step.log_pi
        indices = self.examples.indices(step.labels)
        if not bool(kept.all()):
            per_example = kept.repeat_interleave(self.k)
            rows, indices, x_p, xbar = rows[kept], indices[kept], x_p[per_example], xbar[per_example]
            log_pi = log_pi[per_example] if log_pi.numel() else log_pi
        advantages = rows - self.baseline(rows, indices)  # l_i - b_i
        weights = None
        if step.xbar is None and self.weighted:  # pi_now / pi_sent, truncated
            log_now = log_density(x_p, xbar.detach(), sigma2, self.tx.real)
            weights = torch.exp(log_now - log_pi).clamp(max=self.clip)
            advantages = advantages * weights.view_as(advantages)
        return Estimate(surrogate(advantages, x_p, xbar, sigma2, self.tx.real), rows.mean(), rows.shape[0], weights)
