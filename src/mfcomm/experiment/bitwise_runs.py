"""A bit-wise run from configuration to result directory, and back.

``train(cfg)`` trains a constellation and neural demapper and measures the BMD rate per Eb/N0;
``save(run, dir)`` writes ``config.toml``, ``model.safetensors``, ``metrics.csv``, ``summary.json``,
``constellation.csv`` and the figures, staged and renamed into place; ``load(dir)`` reads a run back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import torch
from tqdm import tqdm

from mfcomm.channels import Counted
from mfcomm.channels.spec import make_channel
from mfcomm.conventions import ebno_db_to_n0
from mfcomm.evaluation.coded import LearnedModem, bmd_rate_at
from mfcomm.evaluation.export import plot_labelled_constellation, write_constellation_csv
from mfcomm.experiment import bitwise_config
from mfcomm.experiment.bitwise_config import BitwiseConfig
from mfcomm.experiment.plots import plot_learning_curve
from mfcomm.experiment.runs import (
    WEIGHTS,
    device_of,
    finished_run_dir,
    learning_curves,
    load_modules,
    publish,
    save_modules,
    write_csv,
    write_text,
)
from mfcomm.learning.bitwise import AwgnEbnoRange, BitChannel, fixed_ebno, train_bitwise
from mfcomm.system.bitwise import LearnedConstellation, NeuralDemapper


@dataclass
class BitwiseRun:
    """A trained bit-wise system, how it was trained and what it achieves."""

    cfg: BitwiseConfig
    const: LearnedConstellation
    demapper: NeuralDemapper
    metrics: list[dict[str, float]] = field(default_factory=list)
    channel_uses_spent: int = 0
    train_seconds: float = 0.0
    bmd_rate: dict[float, float] = field(default_factory=dict)

    @property
    def modem(self) -> LearnedModem:
        return LearnedModem(self.const, self.demapper)

    def summary(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "mode": "bitwise",
            "method": cfg.method,
            "channel": cfg.channel,
            "bits_per_symbol": cfg.bits_per_symbol,
            "init": cfg.init,
            "ebno_db_range": [cfg.ebno_db_min, cfg.ebno_db_max],
            "code_rate": cfg.code_rate,
            "iterations": cfg.iterations,
            "finetune_iterations": cfg.finetune_iterations if cfg.method == "model-free" else 0,
            "seed": cfg.seed,
            "bmd_rate": {f"{e:g}": round(r, 5) for e, r in self.bmd_rate.items()},
            "channel_uses_spent": self.channel_uses_spent,
            "train_seconds": round(self.train_seconds, 3),
        }


def build(cfg: BitwiseConfig) -> tuple[LearnedConstellation, NeuralDemapper]:
    """A fresh constellation and demapper on the config's device (seeded by ``cfg.seed``)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    const = LearnedConstellation(cfg.bits_per_symbol, cfg.init, generator)
    device = device_of(cfg)
    return const.to(device), NeuralDemapper(cfg.bits_per_symbol, cfg.rx_hidden).to(device)


def make_bit_channel(cfg: BitwiseConfig) -> BitChannel:
    """AWGN over the Eb/N0 range, or any channel spec at ``ebno_db_min`` (a black box's calls limited to
    ``cfg.channel_timeout`` seconds each, 0: no limit). Uncounted: :func:`train` wraps it in
    :class:`~mfcomm.channels.Counted`."""
    if cfg.channel == "awgn":
        return AwgnEbnoRange(cfg.ebno_db_min, cfg.ebno_db_max, cfg.bits_per_symbol, cfg.code_rate)
    n0 = ebno_db_to_n0(cfg.ebno_db_min, cfg.bits_per_symbol * cfg.code_rate, 1)
    channel = make_channel(cfg.channel, n0, timeout=cfg.channel_timeout or None)
    return fixed_ebno(channel, cfg.ebno_db_min, cfg.bits_per_symbol, cfg.code_rate)


def train(cfg: BitwiseConfig, quiet: bool = False) -> BitwiseRun:
    """Train as ``cfg`` says, then estimate the BMD rate at ``cfg.eval_ebno_db`` on AWGN."""
    torch.manual_seed(cfg.seed)
    const, demapper = build(cfg)
    channel = Counted(make_bit_channel(cfg))  # the one place this run's channel uses are counted
    run = BitwiseRun(cfg, const, demapper)
    start = time.perf_counter()
    total = cfg.iterations + (cfg.finetune_iterations if cfg.method == "model-free" else 0)
    with tqdm(total=total, desc=f"train bitwise {cfg.method}", disable=quiet, unit="it", mininterval=0.5) as bar:

        def log(iteration: int, values: dict[str, torch.Tensor]) -> None:
            run.metrics.append(
                {
                    "iteration": iteration,
                    "channel_uses": channel.uses,
                    "seconds": round(time.perf_counter() - start, 4),
                    **{k: float(v) for k, v in values.items()},
                }
            )
            bar.set_postfix({k: f"{float(v):.4f}" for k, v in values.items() if "loss" in k}, refresh=False)

        train_bitwise(const, demapper, channel, cfg, log, bar.update)
    run.train_seconds = time.perf_counter() - start
    run.channel_uses_spent = channel.uses
    run.bmd_rate = {e: bmd_rate_at(run.modem, e, cfg.code_rate, device=cfg.device) for e in cfg.eval_ebno_db}
    return run


def save(run: BitwiseRun, out: str | Path) -> Path:
    """Write the run into ``out``: config, weights, learning curve, constellation (CSV and figure), summary."""

    def write(stage: Path) -> None:
        write_text(
            stage / "config.toml",
            "# mfcomm bitwise train --config THIS_FILE reproduces the run\n" + tomli_w.dumps(run.cfg.to_dict()),
        )
        save_modules(stage / WEIGHTS, {"const": run.const, "demapper": run.demapper})
        write_csv(stage / "metrics.csv", run.metrics)
        plot_learning_curve(
            *learning_curves(run.metrics), stage / "learning_curve.png", title=f"bit-wise, {run.cfg.method}"
        )
        points = run.const.points().detach().cpu().numpy()
        write_constellation_csv(points, stage / "constellation.csv")
        plot_labelled_constellation(
            points, stage / "constellation.png", title=f"{run.cfg.method}: {len(points)} points, labels MSB first"
        )
        write_text(stage / "summary.json", json.dumps(run.summary(), indent=2) + "\n")

    return publish(out, write)


def load(run_dir: str | Path, trust: bool = False) -> BitwiseRun:
    """Read a saved bit-wise run: its config and weights (``trust``: even if the config names a Python file)."""
    run_dir = finished_run_dir(run_dir, "bit-wise run")
    cfg = bitwise_config.resolve(run_dir / "config.toml", trust=trust)
    const, demapper = build(cfg)
    load_modules(run_dir / WEIGHTS, {"const": const, "demapper": demapper}, device_of(cfg))
    return BitwiseRun(cfg, const, demapper)
