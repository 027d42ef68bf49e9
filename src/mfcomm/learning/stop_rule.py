"""The stop rule: tell when a held-out loss has reached a plateau (``summary.json``'s ``converged``), and
with ``stop_early`` end training there; ``--iterations`` stays the cap.

The loss watched is computed on fresh channel outputs *before* the networks take their step on them (the
receiver step's loss, or the fed-back losses when ``rx_steps = 0``), so it is a held-out estimate of the
current system's loss that costs no extra channel use. It is averaged over windows of ``window``
iterations; training stops once ``patience`` iterations of windows have passed without a window mean
below ``(1 - tol)`` times the best one before them.

Example
-------
>>> import torch
>>> rule = Plateau(patience=300, window=100, tol=0.01)
>>> losses = [1.0 / it for it in range(1, 501)] + [0.002] * 1000
>>> next(it for it, loss in enumerate(losses, 1) if rule.update(it, torch.tensor(loss)))
900
"""

from __future__ import annotations

import torch


class Plateau:
    """Plateau detector over a stream of per-iteration losses (``patience`` 0: never stops)."""

    def __init__(self, patience: int, window: int = 100, tol: float = 0.01):
        self.patience, self.window, self.tol = patience, window, tol
        self.total: torch.Tensor | float = 0.0
        self.count = 0
        self.best = float("inf")
        self.best_at = 0
        self.reached_at: int | None = None
        """The first iteration at which the plateau held (None: not yet)."""

    def update(self, iteration: int, loss: torch.Tensor) -> bool:
        """Add iteration ``iteration``'s loss; True when training should stop here."""
        if not self.patience:
            return False
        self.total = self.total + loss
        self.count += 1
        if self.count < self.window:
            return False
        mean = float(self.total) / self.count  # one synchronisation per window
        self.total, self.count = 0.0, 0
        if mean < (1.0 - self.tol) * self.best:
            self.best, self.best_at = mean, iteration
        elif mean < self.best:
            self.best = mean
        if iteration - self.best_at < self.patience:
            return False
        self.reached_at = self.reached_at or iteration
        return True
