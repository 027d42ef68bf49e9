"""A training run from configuration to result directory, and back.

One life cycle for both tasks (``cfg.task``: symbols or bits; what differs is :mod:`mfcomm.experiment.tasks`).
``train(cfg)`` builds the system, trains it with the chosen method through the channel ``cfg`` names (or a
channel object: ``train(cfg, channel=obj)``), measures it and its classical baseline (symbols: the SER and that
of the same-rate classical system on the same channel, :mod:`mfcomm.evaluation.reference`; bits: the BMD rate
and Gray QAM's), and returns a :class:`Run`; ``save(run, dir)`` writes ``config.toml``, ``model.safetensors``,
``metrics.csv``, ``summary.json`` and figures, all staged and renamed into place so that a failed run leaves
nothing that looks like a result; ``load(dir)`` reads a run back (weights via safetensors only). How one
training is driven (logging, checkpoints, candidates, random generators) is :mod:`mfcomm.experiment.session`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mfcomm.channels.pulse_shaping import transmitted_psd
from mfcomm.channels.spec import radio_framer
from mfcomm.config.fields import Config
from mfcomm.config.files import configure, to_toml
from mfcomm.experiment import session as training_session
from mfcomm.experiment.run import Run
from mfcomm.experiment.run_directory import publish, write_csv, write_text
from mfcomm.experiment.tasks import task_of
from mfcomm.learning.seeding import run_generator
from mfcomm.plots import plot_learning_curve, plot_psd
from mfcomm.system.build import (
    WEIGHTS,
    device_of,
    finished_run_dir,
    load_modules,
    save_modules,
)


def summary(run: Run) -> dict[str, Any]:
    """``summary.json``: what the run trained, what it cost and what it reached (the task's keys), through a radio
    its burst counters and duty cycle (the fraction of training's wall time the radio was sending bursts), and the
    CPU threads torch ran on."""
    counters = run.channel_counters
    radio = {**counters, "duty_cycle": counters["air_seconds"] / max(run.train_seconds, 1e-9)} if counters else {}
    return {**task_of(run.cfg).summary(run), **radio, "threads": run.threads}


def train(
    cfg: Config,
    quiet: bool = False,
    evaluate: bool = True,
    checkpoint: Path | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, float], Run], None] | None = None,
    channel: object | None = None,
) -> Run:
    """Train one system as ``cfg`` says, then (``evaluate``) measure it on the training channel.

    ``channel``: train through this object instead of the channel ``cfg`` names: a
    :class:`~mfcomm.channels.contract.Channel`, or a function ``y = f(x)`` on complex64 NumPy arrays of shape
    (batch, n) (:func:`~mfcomm.channels.contract.as_channel`); the run then records ``object:NAME`` as its channel.
    ``on_log(row, run)`` sees every row of ``metrics.csv`` as it is logged (TensorBoard, a sweep's reports).

    With ``checkpoint``, the whole training state is written there every ``cfg.checkpoint_every``
    iterations, and at the end of the iteration in which SIGINT or SIGTERM arrives (training then stops
    with :class:`~mfcomm.errors.Interrupted`); with ``resume``, training continues from that file. Any
    other error names the last good checkpoint, which stays on disk (:mod:`mfcomm.learning.checkpointing`).
    Torch runs on ``cfg.threads`` CPU threads meanwhile (0: as many as it had), restored afterwards.
    """
    cfg, given = training_session.channel_object(cfg, channel)
    with run_generator(cfg), training_session.torch_threads(cfg.threads) as threads:
        session = training_session.Session(cfg, given, checkpoint, resume)
        run = Run(cfg, session.tx, session.rx, threads=threads)
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
        run.channel_counters = dict(session.channel.counters)
        if evaluate:
            session.task.evaluate(run, session.channel.channel, quiet)
    return run


def save(run: Run, out: str | Path, replace: bool = False, keep: Collection[str] = ()) -> Path:
    """Write the run into ``out``: config, weights, learning curve, codebook figure, summary (``replace``: and
    nothing else but ``keep``, see :func:`publish`)."""

    def write(stage: Path) -> None:
        write_text(stage / "config.toml", to_toml(run.cfg))
        save_weights(run, stage / WEIGHTS)
        write_csv(stage / "metrics.csv", run.metrics)
        plot_learning_curve(
            *learning_curves(run.metrics), stage / "learning_curve.png", title=f"{run.cfg.method} on {run.cfg.channel}"
        )
        task_of(run.cfg).write_figures(run, stage)
        write_spectrum(run, stage / "spectrum.png")
        write_text(stage / "summary.json", json.dumps(summary(run), indent=2) + "\n")

    return publish(out, write, replace, keep)


def write_spectrum(run: Run, path: Path, symbols: int = 16384) -> None:
    """The transmitted spectrum of a run through a GNU Radio flowgraph (:func:`~mfcomm.channels.spec.radio_framer`):
    ``symbols`` of the trained system's symbols for random messages, framed and pulse-shaped as the channel sends
    them; nothing for other channels, nor for the OFDM task (its flowgraph carries OFDM symbols, not the framer's,
    and its chains name grid stages such as ``cdl`` that the single-carrier parser does not know)."""
    framer = None if run.cfg.task == "ofdm" else radio_framer(run.cfg.channel)
    if framer is None:
        return
    with torch.no_grad():
        book = run.tx.codebook() if run.cfg.task == "symbols" else run.tx.points()[:, None]
    generator = torch.Generator().manual_seed(run.cfg.seed)
    m = torch.randint(book.shape[0], (max(symbols // book.shape[1], 1),), generator=generator)
    samples = np.concatenate(framer.frames(book.cpu()[m].flatten().numpy()))
    freqs, psd = transmitted_psd(samples, framer.sps)
    plot_psd(freqs, psd, path, title=f"transmitted spectrum, {framer.sps} samples per symbol")


def save_weights(run: Run, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Transmitter and receiver weights (symbols: ``tx.*``, ``rx.*``; bits: ``const.*``, ``demapper.*``) as
    safetensors, written then renamed."""
    tx, rx = task_of(run.cfg).weights
    save_modules(path, {tx: run.tx, rx: run.rx}, metadata)


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
    """Read a saved run: its config, weights and the threads it trained on. A config whose channel is Python
    code (``PATH.py:FUNC``) is refused unless ``trust``: the user passed ``--trust-config``, or the caller never
    builds that channel."""
    run_dir = finished_run_dir(run_dir)
    cfg = configure(run_dir / "config.toml", trust=trust)
    kind = task_of(cfg)
    with torch.random.fork_rng(devices=[]):  # weights about to be overwritten: no draw from the caller's stream
        tx, rx = kind.build(cfg, start=False)
    load_modules(run_dir / WEIGHTS, dict(zip(kind.weights, (tx, rx), strict=True)), device_of(cfg))
    return Run(cfg, tx, rx, threads=recorded_threads(run_dir))


def recorded_threads(run_dir: Path) -> int:
    """The CPU threads the run trained on, as its ``summary.json`` records them (0: not recorded), so that
    measuring it again sums as training did."""
    try:
        threads = json.loads((run_dir / "summary.json").read_text()).get("threads", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and 0 <= threads <= 1024 else 0
