"""``mfcomm evaluate DIR``: SER versus SNR of a trained run, with baselines (see docs/cli.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mfcomm.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``evaluate`` command."""
    p = sub.add_parser(
        "evaluate",
        help="SER versus SNR of a trained run, with baselines",
        description="Writes DIR/ser.csv and DIR/ser.png.",
    )
    p.add_argument("dir", help="a run directory written by mfcomm train")
    snr = p.add_mutually_exclusive_group()
    snr.add_argument("--snr-db", help="Es/N0 sweep A:B:STEP in dB (default: training point -10 to +6 dB)")
    snr.add_argument("--ebno-db", help="Eb/N0 sweep A:B:STEP in dB")
    p.add_argument("--channel", help="evaluate on this channel instead of the training one")
    p.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that "
        "DIR/config.toml names; without it, such a channel must be given with --channel",
    )
    p.add_argument("--target-errors", type=int, default=1000, help="errors to collect per point (default 1000)")
    p.add_argument("--max-messages", type=int, default=10_000_000, help="message cap per point (default 1e7)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Measure the run's SER over the SNR sweep; write and print it."""
    from mfcomm.channels import spec
    from mfcomm.conventions import ebno_db_to_snr_db
    from mfcomm.evaluation import snr_sweep as sweep
    from mfcomm.experiment import config, runs

    config.check_number("--target-errors", args.target_errors, 1, 10**9)
    config.check_number("--max-messages", args.max_messages, 1, 10**12)
    run = runs.load(args.dir, trust=args.trust_config or args.channel is not None)  # --channel: the run's is unused
    channel = args.channel or run.cfg.channel
    snrs: list[float] | None
    if args.snr_db:
        snrs = sweep.parse_range(args.snr_db)
    elif args.ebno_db:
        snrs = [ebno_db_to_snr_db(e, run.cfg.bits, run.cfg.channel_uses) for e in sweep.parse_range(args.ebno_db)]
    else:
        snrs = sweep.default_range(run) if spec.has_noise(channel) else None
    if spec.kind(channel) == "unknown":
        raise ConfigError(f"unknown channel {channel!r}: use awgn, rbf, an impairment chain or PATH.py:FUNC")
    rows = sweep.evaluate_run(run, Path(args.dir), snrs, channel, args.target_errors, args.max_messages, args.quiet)
    for r in rows:
        base = f"  baseline {r['baseline_ser']:.3e}" if "baseline_ser" in r else ""
        where = "the channel's own noise" if r["snr_db"] == "" else f"Es/N0 {r['snr_db']:>6g} dB"
        print(f"{where}  SER {r['ser']:.3e} [{r['ci_low']:.2e}, {r['ci_high']:.2e}]{base}")
    print(f"wrote {Path(args.dir) / 'ser.csv'} and {Path(args.dir) / 'ser.png'}")
    return 0
