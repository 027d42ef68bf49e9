"""A run as data: the trained system, how it was trained, what that cost and how well it does.

Plain data, written by :func:`mfcomm.experiment.runs.train` and read by everything that measures or saves a run;
the tasks (:mod:`mfcomm.experiment.tasks`) fill in their own fields.

Example
-------
>>> from mfcomm.config.files import configure
>>> from mfcomm.system.build import build_system
>>> cfg = configure(messages=16, channel_uses=2)
>>> run = Run(cfg, *build_system(cfg))
>>> run.channel_uses_spent, run.ser is None
(0, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mfcomm.config.fields import Config
from mfcomm.evaluation.reference import BaselineResult
from mfcomm.evaluation.ser import SerEstimate


@dataclass
class Run:
    """A trained system, how it was trained, what that cost and how well it does."""

    cfg: Config
    tx: Any
    """The transmitter: a :class:`~mfcomm.system.transmitter.Transmitter` (symbols) or a
    :class:`~mfcomm.system.bitwise.LearnedConstellation` (bits)."""
    rx: Any
    """The receiver: a :class:`~mfcomm.system.receiver.Receiver` or a :class:`~mfcomm.system.bitwise.NeuralDemapper`."""
    metrics: list[dict[str, float]] = field(default_factory=list)
    channel_uses_spent: int = 0
    channel_counters: dict[str, float] = field(default_factory=dict)
    """A radio's burst counters over training (:mod:`mfcomm.channels.radio`); empty for other channels."""
    train_seconds: float = 0.0
    ser: SerEstimate | None = None
    baseline: BaselineResult | None = None
    """The same-rate classical system on the same channel (:mod:`mfcomm.evaluation.reference`), or None."""
    converged_at: int | None = None
    """The iteration at which the held-out loss reached a plateau (where training stopped, with
    ``stop_early``), or None."""
    trained_ser: SerEstimate | None = None
    """The trained system's SER when it lost to the classical system, which the run then kept."""
    candidates: list[dict[str, Any]] = field(default_factory=list)
    """One row per candidate system when several were tried (:mod:`mfcomm.experiment.candidates`)."""
    bmd_rate: dict[float, float] = field(default_factory=dict)
    """Bits task: the BMD rate (bit/symbol) on AWGN per Eb/N0 (dB)."""
    baseline_bmd_rate: dict[float, float] | None = None
    """Bits task: Gray QAM's BMD rate with the APP demapper at the same points, or None."""
    coded: dict[str, list[Any]] = field(default_factory=dict)
    """OFDM task: each system's coded points (:class:`~mfcomm.evaluation.coded.CodedPoint`) per Eb/N0, by name."""
    receiver_view: tuple[Any, Any] | None = None
    """OFDM task: one slot's received data symbols and the receiver's soft symbols (``ofdm_view``)."""
    threads: int = 0
    """The CPU threads torch ran on (``cfg.threads``, or torch's own choice where that is 0); 0: not known."""

    @property
    def iterations_run(self) -> int:
        """Training iterations run: up to the stop rule's plateau with ``stop_early``, else all of them."""
        return (self.converged_at if self.cfg.stop_early else None) or self.cfg.iterations
