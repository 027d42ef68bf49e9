"""A training run from configuration to result directory, and back.

``train(cfg)`` builds the system, trains it with the chosen method through the channel ``cfg`` names (or a
channel object: ``train(cfg, channel=obj)``), measures the final SER and that of the same-rate classical
system on the same channel (:mod:`mfcomm.evaluation.reference`), and returns a :class:`Run`; ``save(run, dir)`` writes
``config.toml``, ``model.safetensors``, ``metrics.csv``, ``summary.json`` and figures, all staged and renamed
into place so that a failed run leaves nothing that looks like a result; ``load(dir)`` reads a run back
(weights via safetensors only). How one training is driven (logging, checkpoints, candidates) is
:mod:`mfcomm.experiment.session`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mfcomm.evaluation.reference import BaselineResult, baseline_summary, measure_baseline
from mfcomm.evaluation.ser import SerEstimate, learned_ser
from mfcomm.experiment import config as config_module
from mfcomm.experiment import session as training_session
from mfcomm.experiment.config import Config
from mfcomm.experiment.plots import plot_constellation, plot_learning_curve
from mfcomm.experiment.run_directory import publish, write_csv, write_text
from mfcomm.learning import candidates
from mfcomm.system.build import (
    WEIGHTS,
    build_receiver,
    build_system,
    build_transmitter,
    bytes_needed,
    device_of,
    finished_run_dir,
    load_modules,
    save_modules,
)
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

__all__ = [
    "WEIGHTS",
    "Run",
    "build_receiver",
    "build_system",
    "build_transmitter",
    "bytes_needed",
    "device_of",
    "finished_run_dir",
    "keep_classical_if_better",
    "learning_curves",
    "load",
    "load_modules",
    "measure",
    "publish",
    "save",
    "save_modules",
    "save_weights",
    "train",
    "write_csv",
    "write_text",
]
"""Also what other modules import from here: the system's builders and weights I/O (:mod:`mfcomm.system.build`)
and the atomic writers (:mod:`mfcomm.experiment.run_directory`)."""


@dataclass
class Run:
    """A trained system, how it was trained, what that cost and how well it does."""

    cfg: Config
    tx: Transmitter
    rx: Receiver
    metrics: list[dict[str, float]] = field(default_factory=list)
    channel_uses_spent: int = 0
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
    """One row per candidate system when several were tried (:mod:`mfcomm.learning.candidates`)."""

    def summary(self) -> dict[str, Any]:
        cfg, ser = self.cfg, self.ser
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
            "converged": self.converged_at is not None,
            "converged_iteration": self.converged_at,
            "iterations_run": (self.converged_at if cfg.stop_early else None) or cfg.iterations,
            "sigma2": cfg.exploration_sigma2 if cfg.method == "model-free" else None,
            "init": cfg.init,
            "candidates": self.candidates,
            "kept": "classical" if self.trained_ser else "trained",
            "trained_ser": self.trained_ser.ser if self.trained_ser else ser.ser,
            "seed": cfg.seed,
            "ser": ser.ser,
            "ser_ci": [ser.ci_low, ser.ci_high],
            "eval_messages": ser.messages,
            "eval_errors": ser.errors,
            "channel_uses_spent": self.channel_uses_spent,
            "train_seconds": round(self.train_seconds, 3),
            **baseline_summary(self.baseline),
        }


def train(
    cfg: Config,
    quiet: bool = False,
    evaluate: bool = True,
    checkpoint: Path | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, float], Run], None] | None = None,
    channel: object | None = None,
) -> Run:
    """Train one system as ``cfg`` says, then (``evaluate``) measure its SER on the training channel.

    ``channel``: train through this object instead of the channel ``cfg`` names: a
    :class:`~mfcomm.channels.Channel`, or a function ``y = f(x)`` on complex64 NumPy arrays of shape
    (batch, n) (:func:`~mfcomm.channels.as_channel`); the run then records ``object:NAME`` as its channel.
    ``on_log(row, run)`` sees every row of ``metrics.csv`` as it is logged (TensorBoard, a sweep's reports).

    With ``checkpoint``, the whole training state is written there every ``cfg.checkpoint_every``
    iterations, and at the end of the iteration in which SIGINT or SIGTERM arrives (training then stops
    with :class:`~mfcomm.errors.Interrupted`); with ``resume``, training continues from that file. Any
    other error names the last good checkpoint, which stays on disk (:mod:`mfcomm.learning.checkpointing`).
    """
    cfg, given = training_session.channel_object(cfg, channel)
    session = training_session.Session(cfg, given, checkpoint, resume)
    run = Run(cfg, session.tx, session.rx)
    with tqdm(
        total=session.total + session.first,
        desc=f"train {cfg.method} {cfg.channel}",
        disable=quiet,
        unit="it",
        mininterval=0.5,
    ) as bar:
        session.train(run, bar, on_log)
    run.train_seconds = session.clock.seconds()
    run.channel_uses_spent = session.channel.uses
    if evaluate:
        run.ser = measure(run, session.channel.channel, quiet)
        run.baseline = measure_baseline(cfg, session.channel.channel, quiet)  # the same-rate classical system
        if cfg.keep_best and candidates.classical_is_better(run.ser, run.baseline):
            keep_classical_if_better(run, session.channel.channel, quiet)
    return run


def keep_classical_if_better(run: Run, channel: Any, quiet: bool = False) -> None:
    """The classical codebook with a receiver trained for it replaces the trained system when it measures
    better on its own fresh messages; the kept system's SER is then measured again on fresh messages (not
    those the choice was made on), and the receiver's training counts as channel uses spent."""
    assert run.ser is not None and run.baseline is not None  # called once both are measured
    tx, rx, uses = candidates.classical_system(run.cfg, run.tx, run.baseline, channel, quiet)
    run.channel_uses_spent += uses
    if measure(Run(run.cfg, tx, rx), channel, quiet).ser < run.ser.ser:
        run.trained_ser, run.tx, run.rx = run.ser, tx, rx
        run.ser = measure(run, channel, quiet)


def measure(run: Run, channel: Any, quiet: bool = False) -> SerEstimate:
    """Final SER on ``channel`` with the config's message budget, with a progress bar."""
    cfg = run.cfg
    with tqdm(
        total=cfg.eval_messages, desc="evaluate", disable=quiet, unit="msg", unit_scale=True, mininterval=0.5
    ) as bar:
        return learned_ser(
            run.tx,
            run.rx,
            channel,
            cfg.eval_target_errors,
            cfg.eval_messages,
            cfg.eval_max_messages,
            progress=bar.update,
        )


def save(run: Run, out: str | Path, replace: bool = False, keep: Collection[str] = ()) -> Path:
    """Write the run into ``out``: config, weights, learning curve, codebook figure, summary (``replace``: and
    nothing else but ``keep``, see :func:`publish`)."""

    def write(stage: Path) -> None:
        write_text(stage / "config.toml", config_module.to_toml(run.cfg))
        save_weights(run, stage / WEIGHTS)
        write_csv(stage / "metrics.csv", run.metrics)
        plot_learning_curve(
            *learning_curves(run.metrics), stage / "learning_curve.png", title=f"{run.cfg.method} on {run.cfg.channel}"
        )
        with torch.no_grad():
            codebook = run.tx.codebook().cpu().numpy()
        plot_constellation(
            codebook,
            stage / "constellation.png",
            real=run.tx.real,
            title=f"{run.cfg.method}, {run.cfg.channel}: learned codebook",
        )
        write_text(stage / "summary.json", json.dumps(run.summary(), indent=2) + "\n")

    return publish(out, write, replace, keep)


def save_weights(run: Run, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Transmitter and receiver weights (``tx.*``, ``rx.*``) as safetensors, written then renamed."""
    save_modules(path, {"tx": run.tx, "rx": run.rx}, metadata)


def learning_curves(metrics: list[dict[str, float]]) -> tuple[dict, dict]:
    """Loss curves and (where measured) the SER curve of ``metrics.csv``, against channel uses."""

    def curve(key: str) -> tuple[list[float], list[float]]:
        points = [(r["channel_uses"], r[key]) for r in metrics if key in r]
        return [p[0] for p in points], [p[1] for p in points]

    labels = {"loss": "loss", "rx_loss": "receiver loss", "tx_loss": "fed-back loss (perturbed)"}
    losses = {label: curve(key) for key, label in labels.items() if any(key in r for r in metrics)}
    ser = {"SER": curve("ser")} if any("ser" in r for r in metrics) else {}
    return losses, ser


def load(run_dir: str | Path, trust: bool = False) -> Run:
    """Read a saved run: its config and weights. A config whose channel is Python code (``PATH.py:FUNC``) is
    refused unless ``trust``: the user passed ``--trust-config``, or the caller never builds that channel."""
    run_dir = finished_run_dir(run_dir)
    cfg = config_module.resolve(run_dir / "config.toml", trust=trust)
    tx, rx = build_system(cfg, start=False)
    load_modules(run_dir / WEIGHTS, {"tx": tx, "rx": rx}, device_of(cfg))
    return Run(cfg, tx, rx)
