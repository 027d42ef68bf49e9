"""The bits task's part of a run: a learned constellation and neural demapper, their BMD rate, and Gray QAM's.

What :mod:`mfcomm.experiment.runs` leaves to the task (see :mod:`mfcomm.experiment.tasks`): the networks
(:mod:`mfcomm.system.bitwise`), the training channel that tells the demapper its N0
(:mod:`mfcomm.channels.known_noise`), the evaluation after training (the BMD rate on AWGN at ``eval_ebno_db``,
and Gray QAM's with Sionna's APP demapper as the baseline), the summary and the labelled constellation. The
coded BER/BLER with 5G LDPC is ``mfcomm evaluate`` (:mod:`mfcomm.experiment.coded_sweep`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from mfcomm.channels.contract import Channel
from mfcomm.channels.known_noise import AwgnEbnoRange, KnownNoise
from mfcomm.channels.spec import make_channel
from mfcomm.config.fields import Config
from mfcomm.conventions import ebno_db_to_n0
from mfcomm.evaluation.coded import LearnedModem, Modem, QamModem, bmd_rate_at
from mfcomm.evaluation.export import plot_labelled_constellation, write_constellation_csv
from mfcomm.learning.examples import Bits
from mfcomm.learning.seeding import role_seed
from mfcomm.system.bitwise import LearnedConstellation, NeuralDemapper
from mfcomm.system.build import device_of

if TYPE_CHECKING:
    from mfcomm.experiment.run import Run


class BitTask:
    """Coded bits, ``bits_per_symbol`` per symbol; the demapper's LLRs score them."""

    name = "bits"
    weights = ("const", "demapper")
    """The prefixes of the constellation's and the demapper's weights in ``model.safetensors``."""

    def examples(self, cfg: Config) -> Bits:
        assert cfg.bits_per_symbol is not None  # the config's checks hold for the bits task
        return Bits(cfg.bits_per_symbol, cfg.symbols)

    def build(self, cfg: Config, start: bool = True) -> tuple[nn.Module, nn.Module]:
        """The constellation (a random start drawn from its own generator, seeded by ``cfg.seed``) and the
        demapper (from torch's default generator), on the config's device."""
        assert cfg.bits_per_symbol is not None  # the config's checks hold for the bits task
        const = LearnedConstellation(cfg.bits_per_symbol, cfg.init, torch.Generator().manual_seed(cfg.seed))
        demapper = NeuralDemapper(cfg.bits_per_symbol, cfg.rx_hidden)
        return const.to(device_of(cfg)), demapper.to(device_of(cfg))

    def channel(self, cfg: Config, generator: torch.Generator | None, given: Channel | None) -> Any:
        """AWGN over the Eb/N0 range, or ``given`` or the channel ``cfg`` names at ``ebno_db``, telling the
        demapper that Eb/N0's N0."""
        assert cfg.bits_per_symbol is not None and cfg.ebno_db is not None  # checked for the bits task
        info_bits = cfg.bits_per_symbol * cfg.code_rate
        if given is None and cfg.channel == "awgn":
            return AwgnEbnoRange(cfg.ebno_db, cfg.ebno_db_max or cfg.ebno_db, info_bits, generator)
        n0 = ebno_db_to_n0(cfg.ebno_db, info_bits, 1)
        return KnownNoise(given or make_channel(cfg.channel, n0, generator, timeout=cfg.channel_timeout or None), n0)

    def evaluate(self, run: Run, channel: Any, quiet: bool) -> None:
        """The BMD rate on AWGN at each ``eval_ebno_db``; Gray QAM's too (``compare_baseline``, even b)."""
        cfg = run.cfg
        run.bmd_rate = bmd_rates(LearnedModem(run.tx, run.rx), cfg)
        if cfg.compare_baseline and cfg.bits_per_symbol and cfg.bits_per_symbol % 2 == 0:
            with torch.random.fork_rng(devices=[]):  # its own stream: the learned system's figures stay as they are
                torch.manual_seed(role_seed(cfg.seed, "baseline"))
                run.baseline_bmd_rate = bmd_rates(QamModem(cfg.bits_per_symbol, cfg.device), cfg)

    def summary(self, run: Run) -> dict[str, Any]:
        cfg = run.cfg
        baseline = run.baseline_bmd_rate
        return {
            "task": "bits",
            "method": cfg.method,
            "channel": cfg.channel,
            "bits_per_symbol": cfg.bits_per_symbol,
            "init": cfg.init,
            "ebno_db_range": [cfg.ebno_db, cfg.ebno_db_max or cfg.ebno_db],
            "code_rate": cfg.code_rate,
            "iterations": cfg.iterations,
            "finetune_iterations": cfg.finetune_iterations if cfg.method == "model-free" else 0,
            "converged": run.converged_at is not None,
            "converged_iteration": run.converged_at,
            "seed": cfg.seed,
            "bmd_rate": {f"{e:g}": round(r, 5) for e, r in run.bmd_rate.items()},
            "baseline": f"Gray {cfg.messages}-QAM, APP demapper" if baseline else None,
            "baseline_bmd_rate": {f"{e:g}": round(r, 5) for e, r in baseline.items()} if baseline else None,
            "channel_uses_spent": run.channel_uses_spent,
            "train_seconds": round(run.train_seconds, 3),
        }

    def write_figures(self, run: Run, stage: Path) -> None:
        """The points with their labels: ``constellation.csv`` (for Sionna) and ``constellation.png``."""
        points = run.tx.points().detach().cpu().numpy()
        write_constellation_csv(points, stage / "constellation.csv")
        title = f"{run.cfg.method}: {len(points)} points, labels MSB first"
        plot_labelled_constellation(points, stage / "constellation.png", title=title)


def bmd_rates(modem: Modem, cfg: Config) -> dict[float, float]:
    """``modem``'s BMD rate (bit/symbol) on AWGN at each of ``cfg.eval_ebno_db``."""
    return {e: bmd_rate_at(modem, e, cfg.code_rate, device=cfg.device) for e in cfg.eval_ebno_db}


def headline(summary: dict[str, Any]) -> str:
    """One line of what a bits run reached, for the command line."""
    rates = ", ".join(f"{e} dB: {r:.3f}" for e, r in summary["bmd_rate"].items())
    return f"bit-wise {summary['method']}, {2 ** summary['bits_per_symbol']} points: BMD rate (bit/symbol) {rates}"
