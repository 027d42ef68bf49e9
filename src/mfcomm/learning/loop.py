"""The loop of the training methods (Algorithm 1's schedule) and its bookkeeping.

:func:`alternate` runs receiver and transmitter steps in turn, logs, stops at a plateau, fine-tunes and
checkpoints; it knows nothing of how a step is taken. :func:`mfcomm.learning.model_free.train_model_free`, the
bit-wise training and the three-process tx node (:mod:`mfcomm.nodes.tx_node`, whose steps are network I/O) drive
it with their steps; :class:`LossWindow` and :class:`MainLoop` serve the model-based loop too. Every name here
is importable from :mod:`mfcomm.learning.model_free` as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from mfcomm.learning.checkpointing import TrainingState
from mfcomm.learning.estimator import sigma2_at
from mfcomm.learning.stop_rule import Plateau

Log = Callable[[int, dict[str, torch.Tensor]], None]
Loss = torch.Tensor | None
"""A step's mean loss, or None for a step with no loss to report (the tx node's receiver steps: the rx node
takes them and logs their loss)."""


class Schedule(Protocol):
    """The fields of a configuration that :func:`alternate` reads."""

    iterations: int
    finetune_iterations: int
    rx_steps: int
    tx_steps: int
    sigma2_final: float | None
    log_every: int

    @property
    def exploration_sigma2(self) -> float: ...


class LoopState(Protocol):
    """What :func:`alternate` needs of its ``state``
    (:class:`~mfcomm.learning.checkpointing.TrainingState`, or a node's own)."""

    def track(self, **parts: Any) -> int:
        """Take the loop's stateful parts; returns the iterations already done (restoring the parts)."""
        ...

    def done(self, iteration: int, losses: list[torch.Tensor]) -> None:
        """End of ``iteration``, with the losses its steps reported."""
        ...


def alternate(
    cfg: Schedule,
    rx_step: Callable[[], Loss],
    tx_step: Callable[[float], Loss],
    log: Log,
    progress: Callable[[int], None],
    extra: Callable[[], dict[str, torch.Tensor]] = dict,
    finetune_step: Callable[[int], Loss] | None = None,
    before_iteration: Callable[[int], None] = lambda it: None,
    state: LoopState | None = None,
) -> int | None:
    """Algorithm 1's schedule: per iteration ``cfg.rx_steps`` receiver steps, then ``cfg.tx_steps``
    transmitter steps at that iteration's sigma2; then ``cfg.finetune_iterations`` receiver-only steps
    (``finetune_step(i)``, i = 1, 2, ..., default ``rx_step``). Each step returns its mean loss, or None when
    it has none to report; ``extra`` adds values to every log row of the main loop. Returns the iteration at
    which the held-out loss (an iteration's first reported one) reached a plateau
    (:mod:`mfcomm.learning.stop_rule`, ``cfg.patience``), or None; with ``cfg.stop_early`` the main loop ends
    there. ``state`` checks every iteration's losses, checkpoints, and resumes
    (:mod:`mfcomm.learning.checkpointing`)."""
    window, plateau, main = LossWindow(), Plateau(getattr(cfg, "patience", 0)), MainLoop(cfg.iterations)
    state = state or TrainingState()
    done = state.track(window=window, plateau=plateau, main_loop=main)
    for it in range(done + 1, main.last + 1):
        before_iteration(it)
        rx_losses = [rx_step() for _ in range(cfg.rx_steps)]
        sigma2 = sigma2_at(it, cfg.iterations, cfg.exploration_sigma2, cfg.sigma2_final)
        tx_losses = [tx_step(sigma2) for _ in range(cfg.tx_steps)]
        losses = window.add_all("rx_loss", rx_losses) + window.add_all("tx_loss", tx_losses)
        stop = bool(losses) and plateau.update(it, losses[0]) and getattr(cfg, "stop_early", False)
        if it % cfg.log_every == 0 or it == cfg.iterations or stop:  # held out: measured before its step
            log(it, {**window.means(), "sigma2": torch.tensor(sigma2), **extra()})
        progress(1)
        main.last = it if stop else main.last
        state.done(it, losses)
        if stop:
            break
    for i in range(max(done - main.last, 0) + 1, cfg.finetune_iterations + 1):
        before_iteration(cfg.iterations + i)  # fine-tuning runs at the schedule's final rates
        losses = window.add_all("rx_loss", [finetune_step(i) if finetune_step else rx_step()])
        if (main.last + i) % cfg.log_every == 0 or i == cfg.finetune_iterations:
            log(main.last + i, window.means())
        progress(1)
        state.done(main.last + i, losses)
    return plateau.reached_at


class MainLoop:
    """The main loop's last iteration: ``iterations``, or where ``stop_early`` ended it (a resumed run
    must know whether it resumes in the main loop or in fine-tuning)."""

    def __init__(self, iterations: int):
        self.last = iterations


class LossWindow:
    """Mean of each loss since the last log row (kept as tensors: no synchronisation per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, value: torch.Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value
        self.counts[name] = self.counts.get(name, 0) + 1

    def add_all(self, name: str, values: list[Loss]) -> list[torch.Tensor]:
        """Add the losses of ``values`` (None: a step with no loss to report, skipped); returns them."""
        losses = [v for v in values if v is not None]
        for value in losses:
            self.add(name, value)
        return losses

    def means(self) -> dict[str, torch.Tensor]:
        out = {k: v / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return out


def metrics_row(iteration: int, channel_uses: int, seconds: float, values: dict[str, torch.Tensor]) -> dict[str, float]:
    """A row of ``metrics.csv`` as a ``log`` of :func:`alternate` writes it: the iteration, the channel uses and
    training seconds so far, then ``values`` (the loss means, ``sigma2``, ...) as floats."""
    return {
        "iteration": iteration,
        "channel_uses": channel_uses,
        "seconds": round(seconds, 4),
        **{k: float(v) for k, v in values.items()},
    }
