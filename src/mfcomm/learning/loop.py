"""The bookkeeping of every training loop, behind one object: :class:`Loop`.

A training method writes its loop body, its steps as plain code (:func:`mfcomm.learning.model_free.train_model_free`,
:func:`mfcomm.learning.model_based.train_model_based`, and the three-process tx node, whose steps are network
I/O): it iterates ``for it in loop.iterations()`` (then, model-free, ``for i in loop.fine_tuning()``) and reports
each step's mean loss with :meth:`Loop.add`. Between the iterations the loop

- resumes after the iterations a checkpoint holds and hands every iteration's losses to its ``state``
  (:class:`~mfcomm.learning.checkpointing.TrainingState`: the divergence check, checkpoints, interrupts);
- watches the held-out loss (an iteration's first reported one, measured before its step) for a plateau
  (:mod:`mfcomm.learning.stop_rule`, ``cfg.patience``), and with ``cfg.stop_early`` ends the main loop there;
- logs the loss means since the last row every ``cfg.log_every`` iterations (and at the end of each phase), and
  counts progress;
- numbers the fine-tuning iterations on from the main loop's last one.

Example
-------
>>> from types import SimpleNamespace
>>> cfg = SimpleNamespace(iterations=4, finetune_iterations=2, log_every=2, patience=0, stop_early=False)
>>> loop = Loop(cfg, lambda it, values: print(it, {k: round(float(v), 2) for k, v in values.items()}))
>>> for it in loop.iterations():
...     loop.add("loss", torch.tensor(1.0 / it))
...     loop.note(sigma2=0.1)
2 {'loss': 0.75, 'sigma2': 0.1}
4 {'loss': 0.29, 'sigma2': 0.1}
>>> for i in loop.fine_tuning():
...     loop.add("loss", torch.tensor(0.5))
6 {'loss': 0.5}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch

from mfcomm.learning.checkpointing import TrainingState
from mfcomm.learning.stop_rule import Plateau

Log = Callable[[int, dict[str, torch.Tensor]], None]
"""``log(iteration, values)``: a log row, the loss means since the last row and the values noted, as 0-d tensors."""


class Schedule(Protocol):
    """The fields of a configuration that :class:`Loop` reads."""

    iterations: int
    finetune_iterations: int
    log_every: int
    patience: int
    stop_early: bool


class LoopState(Protocol):
    """What :class:`Loop` needs of its ``state``
    (:class:`~mfcomm.learning.checkpointing.TrainingState`, or a node's own)."""

    def track(self, **parts: Any) -> int:
        """Take the loop's stateful parts; returns the iterations already done (restoring the parts)."""
        ...

    def done(self, iteration: int, losses: list[torch.Tensor]) -> None:
        """End of ``iteration``, with the losses its steps reported."""
        ...


class Loop:
    """A training's iterations and their bookkeeping (see the module docstring): ``log`` gets the rows,
    ``progress(1)`` follows each iteration, ``state`` (default: no checkpoints) tracks ``parts`` (the
    optimisers and other stateful parts of the method, by name) with the loop's own."""

    def __init__(
        self,
        cfg: Schedule,
        log: Log,
        progress: Callable[[int], None] = lambda _: None,
        state: LoopState | None = None,
        **parts: Any,
    ) -> None:
        self.cfg, self.log, self.progress = cfg, log, progress
        self.window, self.plateau, self.main = LossWindow(), Plateau(cfg.patience), MainLoop(cfg.iterations)
        self.state = state or TrainingState()
        self.resumed = self.state.track(**parts, window=self.window, plateau=self.plateau, main_loop=self.main)
        self.losses: list[torch.Tensor] = []
        self.noted: dict[str, float] = {}

    def add(self, name: str, loss: torch.Tensor | None) -> None:
        """A step's mean loss (0-d, detached), logged as the mean of ``name`` over the log row's steps (None: the
        step had none, as a transmitter step whose losses are all lost or not back yet)."""
        if loss is None:
            return
        self.window.add(name, loss)
        self.losses.append(loss)

    def note(self, **values: float) -> None:
        """Values of this main-loop iteration for its log row, if it has one (after the loss means)."""
        self.noted = values

    def iterations(self) -> Iterator[int]:
        """The main loop's iterations 1, ..., ``cfg.iterations`` (from the first one not done; to a plateau with
        ``cfg.stop_early``): the body runs each one's steps, the bookkeeping follows it."""
        cfg = self.cfg
        for it in range(self.resumed + 1, self.main.last + 1):
            self.losses, self.noted = [], {}
            yield it
            stop = bool(self.losses) and self.plateau.update(it, self.losses[0]) and cfg.stop_early
            if it % cfg.log_every == 0 or it == cfg.iterations or stop:
                self.log(it, {**self.window.means(), **{k: torch.tensor(float(v)) for k, v in self.noted.items()}})
            self.progress(1)
            self.main.last = it if stop else self.main.last
            self.state.done(it, self.losses)
            if stop:
                return

    def fine_tuning(self) -> Iterator[int]:
        """The fine-tuning iterations i = 1, ..., ``cfg.finetune_iterations`` (from the first one not done), logged
        and checkpointed as iterations ``last + i`` after the main loop's ``last``."""
        cfg, last = self.cfg, self.main.last
        for i in range(max(self.resumed - last, 0) + 1, cfg.finetune_iterations + 1):
            self.losses = []
            yield i
            if (last + i) % cfg.log_every == 0 or i == cfg.finetune_iterations:
                self.log(last + i, self.window.means())
            self.progress(1)
            self.state.done(last + i, self.losses)

    @property
    def converged_at(self) -> int | None:
        """The iteration at which the held-out loss reached a plateau, or None."""
        return self.plateau.reached_at


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

    def means(self) -> dict[str, torch.Tensor]:
        out = {k: v / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return out


def metrics_row(iteration: int, channel_uses: int, seconds: float, values: dict[str, torch.Tensor]) -> dict[str, float]:
    """A row of ``metrics.csv`` as a :data:`Log` writes it: the iteration, the channel uses and training seconds so
    far, then ``values`` (the loss means, ``sigma2``, ...) as floats."""
    return {
        "iteration": iteration,
        "channel_uses": channel_uses,
        "seconds": round(seconds, 4),
        **{k: float(v) for k, v in values.items()},
    }
