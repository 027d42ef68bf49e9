"""The OFDM task's part of a run: a learned constellation on a resource grid, a convolutional receiver over the
grid, and their coded BER/BLER against QAM with LS estimation and LMMSE equalisation, and perfect CSI.

What :mod:`mfcomm.experiment.runs` leaves to the task (see :mod:`mfcomm.experiment.tasks`): the networks
(:class:`~mfcomm.system.bitwise.LearnedConstellation`, :class:`~mfcomm.system.ofdm_receiver.GridReceiver`), the
training channel (:class:`~mfcomm.channels.ofdm_link.OfdmLink`: the grid, the channel spec's stages, each slot's
Eb/N0), the evaluation after training (:mod:`mfcomm.evaluation.ofdm_coded`: one 5G LDPC codeword per slot at each
``eval_ebno_db``, for the learned system, the classical one with Kronecker pilots, and perfect CSI where the
channel is a known model in the frequency domain), the summary and the figures. The examples are the bits
task's (:class:`~mfcomm.learning.examples.Bits`): a slot is a row of ``data`` symbols, each perturbed and scored
on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from mfcomm.channels.contract import Channel
from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.config.fields import Config
from mfcomm.errors import ConfigError
from mfcomm.evaluation.coded import CodedPoint, ebno_at_bler, sionna_device
from mfcomm.evaluation.export import plot_labelled_constellation, write_constellation_csv
from mfcomm.evaluation.ofdm_coded import GridSystem, LearnedGrid, coded_curve, goodput, segmentation, slot_code
from mfcomm.evaluation.ofdm_view import plot_receiver_view, receiver_view
from mfcomm.learning.examples import Bits
from mfcomm.learning.seeding import role_seed
from mfcomm.plots import Curve, plot_ser
from mfcomm.system.bitwise import LearnedConstellation
from mfcomm.system.build import device_of
from mfcomm.system.ofdm_baseline import QamGrid
from mfcomm.system.ofdm_receiver import GridReceiver

if TYPE_CHECKING:
    from mfcomm.experiment.run import Run

PILOT_SHARE = 2 / 14
"""The share of its energy a system without pilot resource elements puts in a pilot superimposed on every symbol:
the share of a 14-symbol slot's resource elements the Kronecker pilots take. Fixed, not learned: Eq. 8 credits each
symbol with its own loss only, so it sees a superimposed pilot's cost (energy the symbol loses) and not its worth
(the neighbours' channel estimate), and trained the offset away when it was a weight."""


def grid_of(cfg: Config, pilots: str | None = None) -> Grid:
    """The resource grid ``cfg`` describes (``pilots``: another pattern on it), on the config's device."""
    assert cfg.subcarriers and cfg.ofdm_symbols and cfg.pilots  # the config's checks hold for the ofdm task
    return Grid(cfg.subcarriers, cfg.ofdm_symbols, pilots or cfg.pilots, device=sionna_device(cfg.device))


def link_of(cfg: Config, grid: Grid, generator: torch.Generator | None, given: Channel | None = None) -> OfdmLink:
    """The OFDM link ``cfg`` names on ``grid``, each slot's Eb/N0 drawn from the config's range."""
    assert cfg.bits_per_symbol and cfg.ebno_db is not None and cfg.domain  # checked for the ofdm task
    ebno = (cfg.ebno_db, cfg.ebno_db_max if cfg.ebno_db_max is not None else cfg.ebno_db)
    timeout = cfg.channel_timeout or None
    return OfdmLink(grid, cfg.channel, cfg.bits_per_symbol, cfg.code_rate, ebno, generator, cfg.domain, timeout, given)


class OfdmTask:
    """Coded bits on a resource grid, ``bits_per_symbol`` per data resource element; the receiver's LLRs score them."""

    name = "ofdm"
    weights = ("const", "receiver")
    """The prefixes of the constellation's and the receiver's weights in ``model.safetensors``."""

    def examples(self, cfg: Config) -> Bits:
        assert cfg.bits_per_symbol is not None  # the config's checks hold for the ofdm task
        return Bits(cfg.bits_per_symbol, grid_of(cfg).data)

    def build(self, cfg: Config, start: bool = True) -> tuple[nn.Module, nn.Module]:
        """The constellation (a random start drawn from its own generator, seeded by ``cfg.seed``) and the
        receiver (from torch's default generator), on the config's device; a grid whose slot the 5G code cannot
        segment is refused here, before training."""
        assert cfg.bits_per_symbol is not None  # the config's checks hold for the ofdm task
        grid = grid_of(cfg)
        try:
            segmentation(grid.data, cfg.bits_per_symbol, cfg.code_rate)
        except ValueError as err:
            raise ConfigError(f"OFDM task: {err}") from None
        draws, pilot = torch.Generator().manual_seed(cfg.seed), PILOT_SHARE if cfg.pilots == "none" else 0.0
        const = LearnedConstellation(cfg.bits_per_symbol, cfg.init, draws, pilot)
        rx = GridReceiver(cfg.bits_per_symbol, grid.data_mask, cfg.rx_hidden[0], len(cfg.rx_hidden), grid.pilot_grid)
        return const.to(device_of(cfg)), rx.to(device_of(cfg))

    def channel(self, cfg: Config, generator: torch.Generator | None, given: Channel | None) -> Any:
        """The OFDM link: ``given`` or the channel ``cfg`` names, on the run's grid."""
        return link_of(cfg, grid_of(cfg), generator, given)

    def evaluate(self, run: Run, channel: Any, quiet: bool) -> None:
        """Coded BER/BLER at each ``eval_ebno_db``: the learned system through the training link; QAM with LS
        and LMMSE (``compare_baseline``) on the run's pilots, or Kronecker pilots for a pilotless grid, through the
        same channel on its own stream; QAM with perfect CSI where the link knows the channel."""
        cfg, link = run.cfg, channel
        assert cfg.bits_per_symbol is not None  # checked for the ofdm task
        points = cfg.eval_ebno_db or [float(cfg.ebno_db or 0.0)]
        code = slot_code(link.grid, cfg.bits_per_symbol, cfg.code_rate)
        learned = LearnedGrid(run.tx, run.rx)
        run.coded = {"learned": coded_curve(learned, link, code, points)}
        run.receiver_view = receiver_view(
            learned, link, max(points), torch.Generator().manual_seed(role_seed(cfg.seed, "figure"))
        )
        if not cfg.compare_baseline:
            return
        with torch.random.fork_rng(devices=[]):  # its own streams: the learned system's figures stay as they are
            torch.manual_seed(role_seed(cfg.seed, "baseline"))
            generator = torch.Generator(link.grid.device).manual_seed(role_seed(cfg.seed, "baseline_channel"))
            baseline_grid = grid_of(cfg, "kronecker" if cfg.pilots == "none" else None)
            systems: list[tuple[GridSystem, OfdmLink]] = []
            if link.knows_channel:
                perfect = QamGrid(link.grid, cfg.bits_per_symbol, perfect_csi=True)
                systems.append((perfect, link_of(cfg, link.grid, generator)))
            systems.append((QamGrid(baseline_grid, cfg.bits_per_symbol), link_of(cfg, baseline_grid, generator)))
            for system, its_link in systems:
                its_code = slot_code(its_link.grid, cfg.bits_per_symbol, cfg.code_rate)
                run.coded[system.name] = coded_curve(system, its_link, its_code, points)

    def summary(self, run: Run) -> dict[str, Any]:
        cfg, grid = run.cfg, grid_of(run.cfg)
        return {
            "task": "ofdm",
            "method": cfg.method,
            "channel": cfg.channel,
            "domain": cfg.domain,
            "grid": {"subcarriers": cfg.subcarriers, "ofdm_symbols": cfg.ofdm_symbols, "pilots": cfg.pilots},
            "data_resource_elements": grid.data,
            "bits_per_symbol": cfg.bits_per_symbol,
            "code_rate": cfg.code_rate,
            "init": cfg.init,
            "ebno_db_range": [cfg.ebno_db, cfg.ebno_db_max if cfg.ebno_db_max is not None else cfg.ebno_db],
            "iterations": cfg.iterations,
            "finetune_iterations": cfg.finetune_iterations if cfg.method == "model-free" else 0,
            "iterations_run": run.iterations_run,
            "converged": run.converged_at is not None,
            "converged_iteration": run.converged_at,
            "seed": cfg.seed,
            "systems": {name: curve_summary(points, run.cfg) for name, points in run.coded.items()},
            "channel_uses_spent": run.channel_uses_spent,
            "train_seconds": round(run.train_seconds, 3),
        }

    def write_figures(self, run: Run, stage: Path) -> None:
        """The constellation with its labels (``constellation.csv``, ``constellation.png``), ``bler.png`` and
        ``receiver.png`` (one slot at the highest Eb/N0, as received and as the receiver reads it)."""
        points = run.tx.points().detach().cpu().numpy()
        write_constellation_csv(points, stage / "constellation.csv")
        title = f"{run.cfg.method}, pilots {run.cfg.pilots}: {len(points)} points, labels MSB first"
        plot_labelled_constellation(points, stage / "constellation.png", title=title)
        if run.receiver_view:
            top = max(run.cfg.eval_ebno_db or [float(run.cfg.ebno_db or 0.0)])
            where = f"{run.cfg.channel}, pilots {run.cfg.pilots}, {top:g} dB"
            plot_receiver_view(*run.receiver_view, points, stage / "receiver.png", f"one slot: {where}")
        if run.coded:
            curves: dict[str, Curve] = {
                name: {"x": [p.ebno_db for p in pts], "ser": [p.bler for p in pts]} for name, pts in run.coded.items()
            }
            plot_ser(curves, stage / "bler.png", "Eb/N0 (dB)", f"coded BLER on {run.cfg.channel}", "block error rate")


def curve_summary(points: list[CodedPoint], cfg: Config) -> dict[str, Any]:
    """One system's coded points as ``summary.json`` gives them."""
    return {
        "ebno_db": [p.ebno_db for p in points],
        "ber": [p.ber for p in points],
        "bler": [p.bler for p in points],
        "bler_ci": [list(p.bler_ci()) for p in points],
        "slots": [p.blocks for p in points],
        "goodput": [round(goodput(p, p.bits // p.blocks, grid_of(cfg)), 5) for p in points],
        "ebno_db_at_bler_0.1": ebno_at_bler(points, 0.1),
        "ebno_db_at_bler_0.01": ebno_at_bler(points, 0.01),
    }


def headline(summary: dict[str, Any]) -> str:
    """One line of what an OFDM run reached, for the command line."""
    learned = summary["systems"]["learned"]
    blers = ", ".join(f"{e:g} dB: {b:.3g}" for e, b in zip(learned["ebno_db"], learned["bler"], strict=True))
    return f"OFDM {summary['method']}, pilots {summary['grid']['pilots']}: coded BLER {blers}"
