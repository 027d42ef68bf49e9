"""Coded BER/BLER versus Eb/N0 of a bit-wise run against the QAM baseline: ``coded.csv`` and ``coded.png``.

Example
-------
>>> import pathlib, tempfile
>>> from mfcomm.evaluation.coded import CodedPoint
>>> png = pathlib.Path(tempfile.mkdtemp()) / "coded.png"
>>> plot_coded({"qam": [CodedPoint(5.0, 30, 1000, 2, 10), CodedPoint(6.0, 1, 1000, 1, 10)]}, png, "16-QAM")
>>> png.exists()
True
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from mfcomm.channels.contract import Channel
from mfcomm.channels.spec import has_noise, make_channel
from mfcomm.errors import MfcommError
from mfcomm.evaluation.coded import (
    CodedPoint,
    LdpcCode,
    LearnedModem,
    Modem,
    QamModem,
    awgn,
    bmd_rate_at,
    simulate_coded,
)
from mfcomm.experiment.run import Run
from mfcomm.experiment.run_directory import write_csv
from mfcomm.plots import save_figure, subplots


def make_code(run: Run) -> LdpcCode:
    """Sionna's 5G LDPC code for the run's codeword length and rate, or a one-line error."""
    cfg = run.cfg
    b, n = cfg.bits_per_symbol, cfg.codeword_bits
    assert b is not None and n is not None  # a bits run
    try:
        return LdpcCode(cfg.info_bits, n, b, device=cfg.device)
    except (ValueError, AssertionError) as err:
        raise MfcommError(f"no 5G LDPC code with k={cfg.info_bits}, n={n}: {err}") from None


def run_channel(run: Run, grid: list[float]) -> tuple[Callable[[torch.Tensor, float], torch.Tensor], list[float]]:
    """The run's channel as ``y = channel(x, n0)`` for the coded simulation, and the Eb/N0 points it can take:
    AWGN and chains with a noise stage at every point of ``grid``; a channel with its own noise (a chain
    without one, a black box) only at the Eb/N0 the demapper was trained with."""
    cfg = run.cfg
    if cfg.channel == "awgn":
        return awgn, grid
    if has_noise(cfg.channel):
        built: dict[float, Channel] = {}  # one channel per N0, built once

        def at(x: torch.Tensor, n0: float) -> torch.Tensor:
            if n0 not in built:
                built[n0] = make_channel(cfg.channel, n0, timeout=cfg.channel_timeout or None)
            return built[n0](x)

        return at, grid
    own = make_channel(cfg.channel, None, timeout=cfg.channel_timeout or None)
    assert cfg.ebno_db is not None  # the bits task trains at an Eb/N0
    return lambda x, n0: own(x), [cfg.ebno_db]


def coded_sweep(
    run: Run,
    out: Path,
    grid: list[float],
    target_block_errors: int,
    max_blocks: int,
    batch: int = 1000,
    quiet: bool = False,
) -> dict[str, list[CodedPoint]]:
    """Simulate the learned system and the QAM baseline on the run's channel over ``grid``; write
    ``coded.csv`` and ``coded.png``."""
    cfg = run.cfg
    code = make_code(run)
    channel, grid = run_channel(run, grid)
    systems: dict[str, Modem] = {"learned": LearnedModem(run.tx, run.rx)}
    b = cfg.bits_per_symbol
    assert b is not None  # a bits run
    if b % 2 == 0:
        systems["qam"] = QamModem(b, cfg.device)
    curves: dict[str, list[CodedPoint]] = {name: [] for name in systems}
    rows = []
    with tqdm(total=len(grid) * len(systems), desc="coded evaluation", disable=quiet, unit="point") as bar:
        for name, modem in systems.items():
            for e in grid:
                p = simulate_coded(modem, code, e, target_block_errors, max_blocks, batch, cfg.device, channel)
                curves[name].append(p)
                (ber_lo, ber_hi), (bler_lo, bler_hi) = p.ber_ci(), p.bler_ci()
                rows.append(
                    {
                        "system": name,
                        "ebno_db": e,
                        "ber": p.ber,
                        "ber_ci_low": ber_lo,
                        "ber_ci_high": ber_hi,
                        "bler": p.bler,
                        "bler_ci_low": bler_lo,
                        "bler_ci_high": bler_hi,
                        "bit_errors": p.bit_errors,
                        "block_errors": p.block_errors,
                        "blocks": p.blocks,
                        "bmd_rate": bmd_rate_at(modem, e, code.rate, device=cfg.device, channel=channel),
                    }
                )
                bar.update(1)
    write_csv(out / "coded.csv", rows)
    plot_coded(curves, out / "coded.png", f"5G LDPC ({code.k}, {code.n}), {cfg.messages} points, {cfg.channel}")
    return curves


def plot_coded(curves: dict[str, list[CodedPoint]], path: Path, title: str) -> None:
    """BER and BLER versus Eb/N0 with Clopper-Pearson error bars; BLER 1e-2 marked."""

    labels = {"learned": "learned (mfcomm)", "qam": "Gray QAM + APP demapper"}
    fig, axes = subplots(1, 2, figsize=(11, 4.3))
    for name, pts in curves.items():
        for ax, rate, ci in ((axes[0], "ber", "ber_ci"), (axes[1], "bler", "bler_ci")):
            shown = [p for p in pts if getattr(p, rate) > 0]
            if not shown:
                continue
            x = [p.ebno_db for p in shown]
            y = [getattr(p, rate) for p in shown]
            lo = [v - getattr(p, ci)()[0] for p, v in zip(shown, y, strict=True)]
            hi = [getattr(p, ci)()[1] - v for p, v in zip(shown, y, strict=True)]
            ax.errorbar(
                x, y, yerr=[lo, hi], fmt="o-" if name == "qam" else "s--", capsize=2, label=labels.get(name, name)
            )
    for ax, name in zip(axes, ("BER", "BLER"), strict=True):
        ax.set(xlabel="Eb/N0 (dB)", ylabel=name)
        ax.grid(which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.set_yscale("log")
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no errors measured", ha="center", va="center", transform=ax.transAxes)
    axes[1].axhline(1e-2, color="grey", lw=0.8, ls=":")
    fig.suptitle(title)
    save_figure(fig, path)
