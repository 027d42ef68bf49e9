"""A training run from configuration to result directory, and back.

``train(cfg)`` builds the system, trains it with the chosen method, measures the final SER and that of
the same-rate classical system on the same channel (:mod:`mfcomm.reference`), and returns a :class:`Run`;
``save(run, dir)`` writes ``config.toml``, ``model.safetensors``, ``metrics.csv``,
``summary.json`` and figures, all staged and renamed into place so that a failed run leaves nothing
that looks like a result; ``load(dir)`` reads a run back (weights via safetensors only).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from mfcomm import candidates, checkpointing, initial_system, run_directory
from mfcomm import config as config_module
from mfcomm.channels import Counted, make_channel
from mfcomm.config import Config
from mfcomm.errors import DivergedError, Interrupted, MfcommError
from mfcomm.evaluation import SerEstimate, learned_ser
from mfcomm.model_based import train_model_based
from mfcomm.model_free import Streams, train_model_free
from mfcomm.plots import plot_constellation, plot_learning_curve
from mfcomm.receiver import Receiver
from mfcomm.reference import BaselineResult, baseline_summary, measure_baseline
from mfcomm.transmitter import Transmitter

WEIGHTS = "model.safetensors"


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
    """The same-rate classical system on the same channel (:mod:`mfcomm.reference`), or None."""
    converged_at: int | None = None
    """The iteration at which the held-out loss reached a plateau (where training stopped, with
    ``stop_early``), or None."""
    trained_ser: SerEstimate | None = None
    """The trained system's SER when it lost to the classical system, which the run then kept."""
    candidates: list[dict[str, Any]] = field(default_factory=list)
    """One row per candidate system when several were tried (:mod:`mfcomm.candidates`)."""

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


def device_of(cfg: Any) -> torch.device:
    """The torch device, or a one-line error when CUDA is asked for and absent."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise MfcommError(f"device {cfg.device} requested but CUDA is not available (use --device cpu)")
    return torch.device(cfg.device)


def build_transmitter(cfg: Config, start: bool = True) -> Transmitter:
    """A transmitter for ``cfg`` on its device, initialised from torch's global generator, then (``start``)
    set to where ``cfg.init`` says training starts: the classical codebook or an earlier run's weights."""
    tx = Transmitter(cfg.messages, cfg.channel_uses, cfg.tx_hidden, cfg.normalization, cfg.signalling == "real")
    if start and cfg.init == "classical":
        initial_system.start_classical(tx, cfg)
    elif start and cfg.init != "random":
        load_modules(initial_system.start_run(cfg) / WEIGHTS, {"tx": tx}, torch.device("cpu"))
    return tx.to(device_of(cfg))


def build_receiver(cfg: Config, start: bool = True) -> Receiver:
    """A receiver for ``cfg`` on its device, initialised from torch's global generator, or (``start`` with
    ``cfg.init`` a run directory) from that run's receiver."""
    rx = Receiver(cfg.messages, cfg.channel_uses, cfg.rx_hidden, cfg.use_equalizer, cfg.signalling == "real")
    if start and cfg.init not in ("random", "classical"):
        load_modules(initial_system.start_run(cfg) / WEIGHTS, {"rx": rx}, torch.device("cpu"))
    return rx.to(device_of(cfg))


def build_system(cfg: Config, start: bool = True) -> tuple[Transmitter, Receiver]:
    """Transmitter and receiver for ``cfg`` on its device (see :func:`build_transmitter`)."""
    tx = build_transmitter(cfg, start)
    return tx, build_receiver(cfg, start)


def train(
    cfg: Config,
    quiet: bool = False,
    evaluate: bool = True,
    checkpoint: Path | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, float], Run], None] | None = None,
) -> Run:
    """Train one system as ``cfg`` says, then (``evaluate``) measure its SER on the training channel.

    ``on_log(row, run)`` sees every row of ``metrics.csv`` as it is logged (TensorBoard, a sweep's reports).

    With ``checkpoint``, the whole training state is written there every ``cfg.checkpoint_every``
    iterations, and at the end of the iteration in which SIGINT or SIGTERM arrives (training then stops
    with :class:`~mfcomm.errors.Interrupted`); with ``resume``, training continues from that file. Any
    other error names the last good checkpoint, which stays on disk (:mod:`mfcomm.checkpointing`).
    """
    resumed = checkpointing.read(checkpoint) if resume and checkpoint else None
    torch.manual_seed(cfg.seed)
    channel_generator: torch.Generator | None
    streams, channel_generator = Streams(), None
    if cfg.method == "model-free" and device_of(cfg).type == "cpu":
        # the three nodes' per-role streams: one seed gives the same system in one process or in three
        from mfcomm.nodes import streams as roles

        tx, rx = roles.seeded_transmitter(cfg), roles.seeded_receiver(cfg)
        streams, channel_generator = roles.training_streams(cfg.seed), roles.generator(cfg.seed, "channel")
    else:
        tx, rx = build_system(cfg)
    channel = Counted(make_channel(cfg.channel, cfg.n0, channel_generator, timeout=cfg.channel_timeout or None))
    run = Run(cfg, tx, rx)
    start = time.perf_counter() - (resumed["seconds"] if resumed else 0.0)
    probing = 0.0  # seconds spent measuring SER or logging during training, not counted as training time

    def log(iteration: int, values: dict[str, torch.Tensor]) -> None:
        nonlocal probing
        row = {
            "iteration": iteration,
            "channel_uses": channel.uses,
            "seconds": round(time.perf_counter() - start - probing, 4),
        }
        row.update({k: float(v) for k, v in values.items()})
        if cfg.ser_every and (iteration % cfg.ser_every == 0 or iteration == total):
            t = time.perf_counter()
            kept = channel_generator.get_state() if channel_generator else None
            with torch.random.fork_rng(devices=[]):  # probing leaves training's random streams as they were
                row["ser"] = learned_ser(tx, rx, channel.channel, 1, cfg.ser_messages, cfg.ser_messages).ser
            if kept is not None and channel_generator is not None:  # kept is set only with a generator
                channel_generator.set_state(kept)
            probing += time.perf_counter() - t
        run.metrics.append(row)
        if on_log:
            t = time.perf_counter()
            on_log(row, run)
            probing += time.perf_counter() - t  # logging (TensorBoard figures) is not training time either
        bar.set_postfix({k: f"{float(v):.4f}" for k, v in values.items() if "loss" in k}, refresh=False)

    def save_state(iteration: int, state: dict) -> None:
        if not checkpointing.weights_finite({"tx": tx, "rx": rx}):
            raise DivergedError(f"training diverged at iteration {iteration}: a weight is not finite")
        seconds = time.perf_counter() - start - probing
        assert checkpoint is not None  # save_state is used only with a checkpoint
        checkpointing.write(checkpoint, {**state, "config": config_module.to_toml(cfg), "seconds": seconds})

    total = cfg.iterations + (cfg.finetune_iterations if cfg.method == "model-free" else 0)
    first = cfg.candidate_iterations * cfg.candidates if cfg.candidates > 1 else 0
    state = checkpointing.TrainingState(cfg.checkpoint_every, save_state if checkpoint else None, resumed)
    with tqdm(
        total=total + first, desc=f"train {cfg.method} {cfg.channel}", disable=quiet, unit="it", mininterval=0.5
    ) as bar:

        def fit(
            tx: Transmitter,
            rx: Receiver,
            c: Config,
            log: Callable = lambda *_: None,
            state: checkpointing.TrainingState | None = None,
        ) -> int | None:
            if c.method == "model-free":
                return train_model_free(tx, rx, channel, c, log, bar.update, streams, state)
            return train_model_based(tx, rx, channel, c, log, bar.update, state)

        try:
            if cfg.candidates > 1 and not resumed:
                tx, rx, run.candidates = candidates.select(cfg, channel, fit, build_system, (tx, rx))
                run.tx, run.rx = tx, rx
            generators = {k: g for k, g in vars(streams).items() if g is not None}
            done = state.track(
                tx=tx,
                rx=rx,
                run=run,
                channel=channel,
                global_random=checkpointing.GlobalRandom(),
                **({"channel_generator": channel_generator} if channel_generator else {}),
                **{f"{k}_generator": g for k, g in generators.items()},
            )
            bar.update(done + (first if resumed else 0))
            with checkpointing.stop_signals() if checkpoint else contextlib.nullcontext():
                run.converged_at = fit(tx, rx, cfg, log, state)
            state.checkpoint()  # an interrupted evaluation resumes straight to evaluation
        except MfcommError as err:
            if state.last_saved is None or isinstance(err, Interrupted):
                raise
            raise type(err)(f"{err}; last good checkpoint: {checkpoint} (iteration {state.last_saved})") from None
    run.train_seconds = time.perf_counter() - start - probing
    run.channel_uses_spent = channel.uses
    if evaluate:
        run.ser = measure(run, channel.channel, quiet)
        run.baseline = measure_baseline(cfg, channel.channel, quiet)  # the same-rate classical system
        if cfg.keep_best and candidates.classical_is_better(run.ser, run.baseline):
            keep_classical_if_better(run, channel.channel, quiet)
    return run


def bytes_needed(cfg: Config) -> int:
    """Disk space a run needs, roughly: its checkpoint (weights and two Adam moments), final weights, figures."""
    with torch.random.fork_rng(devices=[]):
        tx = Transmitter(cfg.messages, cfg.channel_uses, cfg.tx_hidden, cfg.normalization, cfg.signalling == "real")
        rx = Receiver(cfg.messages, cfg.channel_uses, cfg.rx_hidden, cfg.use_equalizer, cfg.signalling == "real")
    weights = 4 * sum(p.numel() for m in (tx, rx) for p in m.parameters())
    return 5 * weights + 8 * 2**20


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


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV, columns in first-seen order; written to a temporary name and renamed."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Text written to a temporary name and renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def publish(out: str | Path, write: Callable[[Path], None], replace: bool = False, keep: Collection[str] = ()) -> Path:
    """Write a result directory: ``write(stage)`` fills a staging folder beside ``out``, whose files are then
    renamed into ``out`` (created if missing), ``summary.json`` last; a failure leaves nothing in ``out``.
    With ``replace``, whatever else ``out`` held is then removed (its checkpoint, an overwritten run's files)
    but the names in ``keep`` (what this run wrote there while training: ``tensorboard``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(stage)
        out.mkdir(exist_ok=True)
        names = sorted(p.name for p in stage.iterdir())
        for name in [n for n in names if n != "summary.json"] + ["summary.json"]:
            os.replace(stage / name, out / name)
        if replace:
            run_directory.remove_others(out, set(names) | set(keep))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


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


def save_modules(path: Path, modules: dict[str, torch.nn.Module], metadata: dict[str, str] | None = None) -> None:
    """Each module's weights under its name as prefix (``tx.*``, ``rx.*``) as safetensors, written then renamed."""
    weights = {f"{name}.{k}": v for name, module in modules.items() for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, tmp, metadata=metadata)
    os.replace(tmp, path)


def save_weights(run: Run, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Transmitter and receiver weights (``tx.*``, ``rx.*``) as safetensors, written then renamed."""
    save_modules(path, {"tx": run.tx, "rx": run.rx}, metadata)


def finished_run_dir(run_dir: str | Path, what: str = "run") -> Path:
    """``run_dir`` if it holds ``config.toml`` and the weights, else a one-line error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MfcommError(f"run directory {run_dir} not found")
    for name in ("config.toml", WEIGHTS):
        if not (run_dir / name).is_file():
            raise MfcommError(f"{run_dir} is not a finished {what}: {name} is missing")
    return run_dir


def load_modules(path: Path, modules: dict[str, torch.nn.Module], device: torch.device) -> None:
    """Load weights written by :func:`save_modules` into ``modules`` (safetensors: nothing is unpickled)."""
    try:
        weights = load_file(path, device=str(device))
        for name, module in modules.items():
            module.load_state_dict({k[len(name) + 1 :]: v for k, v in weights.items() if k.startswith(f"{name}.")})
    except Exception as err:  # noqa: BLE001 - corrupt or mismatched file: one line, not a traceback
        raise MfcommError(f"{path}: cannot load weights ({type(err).__name__}: {err})") from None


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
