"""The symbols task's part of a run: M messages in n channel uses, their SER, and the classical baseline.

What :mod:`mfcomm.experiment.runs` leaves to the task (see :mod:`mfcomm.experiment.tasks`): the networks
(:func:`mfcomm.system.build.build_system`), the training channel, the evaluation after training (the SER on fresh
messages, the same-rate classical system on the same channel, :mod:`mfcomm.evaluation.reference`, and keeping it
when it measures better), the summary and the codebook figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm import tqdm

from mfcomm.channels.contract import Channel
from mfcomm.channels.spec import make_channel
from mfcomm.config.fields import Config
from mfcomm.evaluation.reference import baseline_summary, measure_baseline
from mfcomm.evaluation.ser import SerEstimate, learned_ser
from mfcomm.experiment import candidates
from mfcomm.learning.examples import Symbols
from mfcomm.plots import plot_constellation
from mfcomm.system.build import build_system
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

if TYPE_CHECKING:
    from mfcomm.experiment.run import Run


class SymbolTask:
    """Messages of one of M values, sent in n channel uses; the receiver's logits score them."""

    name = "symbols"
    weights = ("tx", "rx")
    """The prefixes of the transmitter's and the receiver's weights in ``model.safetensors``."""

    def examples(self, cfg: Config) -> Symbols:
        return Symbols(cfg.messages)

    def build(self, cfg: Config, start: bool = True) -> tuple[nn.Module, nn.Module]:
        return build_system(cfg, start)

    def channel(self, cfg: Config, generator: torch.Generator | None, given: Channel | None) -> Channel:
        """``given``, or the channel ``cfg`` names at its N0."""
        return given or make_channel(cfg.channel, cfg.n0, generator, timeout=cfg.channel_timeout or None)

    def evaluate(self, run: Run, channel: Channel, quiet: bool) -> None:
        """The SER on fresh messages, the classical system's, and (``keep_best``) the better of the two kept."""
        run.ser = measure(run.tx, run.rx, run.cfg, channel, quiet)
        run.baseline = measure_baseline(run.cfg, channel, quiet)  # the same-rate classical system
        if run.cfg.keep_best and candidates.classical_is_better(run.ser, run.baseline):
            keep_classical_if_better(run, channel, quiet)

    def summary(self, run: Run) -> dict[str, Any]:
        cfg, ser = run.cfg, run.ser
        assert ser is not None  # a run is summarised once measured
        return {
            "method": cfg.method,
            "channel": cfg.channel,
            "messages": cfg.messages,
            "channel_uses": cfg.channel_uses,
            "signalling": cfg.signalling,
            "snr_db": cfg.resolved_snr_db,
            "ebno_db": cfg.ebno_db,
            "iterations": cfg.iterations,
            "finetune_iterations": cfg.finetune_iterations if cfg.method == "model-free" else 0,
            "converged": run.converged_at is not None,
            "converged_iteration": run.converged_at,
            "iterations_run": run.iterations_run,
            "sigma2": cfg.exploration_sigma2 if cfg.method == "model-free" else None,
            "init": cfg.init,
            "candidates": run.candidates,
            "kept": "classical" if run.trained_ser else "trained",
            "trained_ser": run.trained_ser.ser if run.trained_ser else ser.ser,
            "seed": cfg.seed,
            "ser": ser.ser,
            "ser_ci": [ser.ci_low, ser.ci_high],
            "eval_messages": ser.messages,
            "eval_errors": ser.errors,
            "channel_uses_spent": run.channel_uses_spent,
            "train_seconds": round(run.train_seconds, 3),
            **baseline_summary(run.baseline),
        }

    def write_figures(self, run: Run, stage: Path) -> None:
        """The learned codebook, ``constellation.png``."""
        with torch.no_grad():
            codebook = run.tx.codebook().cpu().numpy()
        title = f"{run.cfg.method}, {run.cfg.channel}: learned codebook"
        plot_constellation(codebook, stage / "constellation.png", real=run.tx.real, title=title)


def measure(tx: Transmitter, rx: Receiver, cfg: Config, channel: Channel, quiet: bool = False) -> SerEstimate:
    """Final SER on ``channel`` with the config's message budget, with a progress bar."""
    with tqdm(
        total=cfg.eval_messages, desc="evaluate", disable=quiet, unit="msg", unit_scale=True, mininterval=0.5
    ) as bar:
        return learned_ser(
            tx, rx, channel, cfg.eval_target_errors, cfg.eval_messages, cfg.eval_max_messages, progress=bar.update
        )


def keep_classical_if_better(run: Run, channel: Channel, quiet: bool = False) -> None:
    """The classical codebook with a receiver trained for it replaces the trained system when it measures
    better on its own fresh messages; the kept system's SER is then measured again on fresh messages (not
    those the choice was made on), and the receiver's training counts as channel uses spent."""
    assert run.ser is not None and run.baseline is not None  # called once both are measured
    tx, rx, uses = candidates.classical_system(run.cfg, run.tx, run.baseline, channel, quiet)
    run.channel_uses_spent += uses
    if measure(tx, rx, run.cfg, channel, quiet).ser < run.ser.ser:
        run.trained_ser, run.tx, run.rx = run.ser, tx, rx
        run.ser = measure(run.tx, run.rx, run.cfg, channel, quiet)
