"""The tasks a run can train, by name: what differs between them, in one small piece each.

A task says what a message is and how it is scored (:mod:`mfcomm.learning.examples`, for the training steps) and,
here, what a run of it builds, trains through, measures and writes (:class:`Task`); everything else (the
configuration, the run's life cycle, the training loops, the CLI) is shared.

Example
-------
>>> from mfcomm.config.files import configure
>>> task_of(configure(overrides={"task": "bits"})).weights
('const', 'demapper')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from mfcomm.channels.contract import Channel
from mfcomm.config.fields import Config
from mfcomm.experiment.bit_task import BitTask
from mfcomm.experiment.ofdm_task import OfdmTask
from mfcomm.experiment.symbol_task import SymbolTask
from mfcomm.learning.examples import Examples

if TYPE_CHECKING:
    from mfcomm.experiment.run import Run


class Task(Protocol):
    """A task as a run sees it."""

    name: str
    weights: tuple[str, str]
    """Prefixes of the transmitter's and the receiver's weights in ``model.safetensors``."""

    def examples(self, cfg: Config) -> Examples:
        """What the training steps draw, send and score."""
        ...

    def build(self, cfg: Config, start: bool = True) -> tuple[nn.Module, nn.Module]:
        """A fresh transmitter and receiver for ``cfg`` (``start``: where ``cfg.init`` says training starts)."""
        ...

    def channel(self, cfg: Config, generator: torch.Generator | None, given: Channel | None) -> Any:
        """The training channel (uncounted), drawing from ``generator``."""
        ...

    def evaluate(self, run: Run, channel: Any, quiet: bool) -> None:
        """Measure the trained system and its baseline into ``run``."""
        ...

    def summary(self, run: Run) -> dict[str, Any]:
        """``summary.json``."""
        ...

    def write_figures(self, run: Run, stage: Path) -> None:
        """The task's own files of a run directory."""
        ...


TASKS: dict[str, Task] = {"symbols": SymbolTask(), "bits": BitTask(), "ofdm": OfdmTask()}


def task_of(cfg: Config) -> Task:
    """The task ``cfg`` trains."""
    return TASKS[cfg.task]
