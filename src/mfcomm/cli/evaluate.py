"""``mfcomm evaluate DIR``: SER versus SNR of a trained run, or a bits run's coded BER/BLER versus Eb/N0, with
baselines (see docs/cli.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mfcomm.errors import ConfigError, shown

if TYPE_CHECKING:
    from mfcomm.experiment.run import Run


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``evaluate`` command."""
    p = sub.add_parser(
        "evaluate",
        help="SER versus SNR of a trained run (bits task: coded BER/BLER), with baselines",
        description="Writes DIR/ser.csv and DIR/ser.png; for a bits run, DIR/coded.csv and DIR/coded.png.",
    )
    evaluate_arguments(p)


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``evaluate`` (and of ``bitwise evaluate``)."""
    p.add_argument("dir", help="a run directory written by mfcomm train")
    snr = p.add_mutually_exclusive_group()
    snr.add_argument("--snr-db", help="Es/N0 sweep A:B:STEP in dB (default: training point -10 to +6 dB)")
    snr.add_argument("--ebno-db", help="Eb/N0 sweep A:B:STEP in dB (bits task: default 4:8:0.5)")
    p.add_argument("--channel", help="evaluate on this channel instead of the training one")
    p.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that "
        "DIR/config.toml names; without it, such a channel must be given with --channel",
    )
    p.add_argument("--target-errors", type=int, default=1000, help="errors to collect per point (default 1000)")
    p.add_argument("--max-messages", type=int, default=10_000_000, help="message cap per point (default 1e7)")
    p.add_argument("--target-block-errors", type=int, default=100, help="bits task: block errors per point")
    p.add_argument("--max-blocks", type=int, default=20000, help="bits task: codeword cap per point (default 20000)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Measure the run over its sweep, drawing from generators seeded by the run's seed; write and print it."""
    from mfcomm.config.checks import check_number
    from mfcomm.experiment import runs
    from mfcomm.experiment.run_lock import owned
    from mfcomm.experiment.session import torch_threads
    from mfcomm.learning.seeding import run_generator

    check_number("--target-errors", args.target_errors, 1, 10**9)
    check_number("--max-messages", args.max_messages, 1, 10**12)
    check_number("--target-block-errors", args.target_block_errors, 1, 10**6)
    check_number("--max-blocks", args.max_blocks, 1, 10**9)
    # --channel: the run's own channel is never built
    run = runs.load(args.dir, trust=args.trust_config or args.channel is not None)
    # writable and this command's alone, before anything is measured
    with owned(Path(args.dir), "run directory"), run_generator(run.cfg), torch_threads(run.threads or run.cfg.threads):
        if run.cfg.task == "ofdm":
            raise ConfigError(
                f"{args.dir} is an OFDM run, measured when it trains (summary.json, bler.png): to measure other "
                "points, train it again with eval_ebno_db in --config"
            )
        if run.cfg.task == "bits":
            return _coded(args, run)
        return _ser(args, run)


def _ser(args: argparse.Namespace, run: Run) -> int:
    """SER versus Es/N0 against the classical baseline: ``ser.csv`` and ``ser.png``."""
    from mfcomm.channels import spec
    from mfcomm.conventions import ebno_db_to_snr_db
    from mfcomm.experiment import snr_sweep as sweep

    channel = args.channel or run.cfg.channel
    snrs: list[float] | None
    if args.snr_db:
        snrs = sweep.parse_range(args.snr_db)
    elif args.ebno_db:
        snrs = [
            ebno_db_to_snr_db(e, run.cfg.bits, run.cfg.channel_uses) for e in sweep.parse_range(args.ebno_db, "Eb/N0")
        ]
    else:
        snrs = sweep.default_range(run) if spec.has_noise(channel) else None
    if spec.kind(channel) == "unknown":
        raise ConfigError(f"unknown channel {shown(channel)}: use awgn, rbf, an impairment chain or PATH.py:FUNC")
    if args.ebno_db and not spec.has_noise(channel):
        raise ConfigError(f"channel {channel} brings its own noise: an Eb/N0 sweep does not apply to it")
    rows = sweep.evaluate_run(run, Path(args.dir), snrs, channel, args.target_errors, args.max_messages, args.quiet)
    for r in rows:
        base = f"  baseline {r['baseline_ser']:.3e}" if "baseline_ser" in r else ""
        where = "the channel's own noise" if r["snr_db"] == "" else f"Es/N0 {r['snr_db']:>6g} dB"
        print(f"{where}  SER {r['ser']:.3e} [{r['ci_low']:.2e}, {r['ci_high']:.2e}]{base}")
    print(f"wrote {Path(args.dir) / 'ser.csv'} and {Path(args.dir) / 'ser.png'}")
    return 0


def _coded(args: argparse.Namespace, run: Run) -> int:
    """Coded BER/BLER versus Eb/N0 with 5G LDPC against Gray QAM: ``coded.csv`` and ``coded.png``."""
    from mfcomm.evaluation.coded import ebno_at_bler
    from mfcomm.experiment import coded_sweep
    from mfcomm.experiment import snr_sweep as sweep

    if args.snr_db or args.channel:
        raise ConfigError("a bits run is evaluated on its training channel over Eb/N0: use --ebno-db A:B:STEP")
    grid = sweep.parse_range(args.ebno_db or "4:8:0.5", "Eb/N0")
    out = Path(args.dir)
    curves = coded_sweep.coded_sweep(run, out, grid, args.target_block_errors, args.max_blocks, quiet=args.quiet)
    for name, pts in curves.items():
        for p in pts:
            lo, hi = p.bler_ci()
            print(
                f"{name:8s} Eb/N0 {p.ebno_db:5.2f} dB  BER {p.ber:.3e}  BLER {p.bler:.3e} [{lo:.2e}, {hi:.2e}]"
                f"  ({p.block_errors}/{p.blocks})"
            )
        at = ebno_at_bler(pts)
        print(f"{name}: Eb/N0 at BLER 1e-2: {'not crossed in the sweep' if at is None else f'{at:.2f} dB'}")
    print(f"wrote {out / 'coded.csv'} and {out / 'coded.png'}")
    return 0
