"""``mfcomm bitwise train|evaluate|export``: bit-wise systems with an outer code (see docs/bitwise.md)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mfcomm.errors import ConfigError

# the options of bitwise train that are configuration fields (bitwise_config.resolve's overrides)
TRAIN_KEYS = [
    "method",
    "channel",
    "bits_per_symbol",
    "init",
    "code_rate",
    "codeword_bits",
    "iterations",
    "finetune_iterations",
    "batch_size",
    "rx_steps",
    "tx_steps",
    "rx_on_tx_batch",
    "sigma2",
    "sigma2_final",
    "loss_baseline",
    "feedback",
    "feedback_bits",
    "feedback_noise",
    "rx_lr",
    "tx_lr",
    "seed",
    "device",
    "channel_timeout",
    "log_every",
]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``bitwise`` command and its three subcommands."""
    p = sub.add_parser(
        "bitwise",
        help="trainable constellation + neural demapper, coded BER/BLER with 5G LDPC",
        description="Bit-wise end-to-end learning: a constellation of 2^b points with its labelling "
        "and a neural demapper giving LLRs, trained on the BCE (model-based or model-free), "
        "evaluated with Sionna's 5G LDPC code against Gray QAM with the APP demapper.",
    )
    bsub = p.add_subparsers(dest="bitwise_command", required=True)
    _train_parser(bsub)
    _evaluate_parser(bsub)
    x = bsub.add_parser("export", help="the learned constellation as CSV, and how to load it into Sionna")
    x.add_argument("dir", help="a run directory written by mfcomm bitwise train")
    x.add_argument("--csv", help="write the points here too (default: DIR/constellation.csv only)")


def _train_parser(bsub: argparse._SubParsersAction) -> None:
    t = bsub.add_parser("train", help="train a bit-wise system; writes DIR with weights, constellation.csv, figures")
    t.add_argument("--config", help="TOML file of configuration values (options below override it)")
    t.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that the "
        "--config file names; without it, such a channel must be given with --channel",
    )
    t.add_argument("--method", choices=["model-free", "model-based"])
    t.add_argument(
        "--channel",
        help="awgn (default, trained over the Eb/N0 range), an impairment chain or "
        "PATH.py:FUNC (at one Eb/N0: --ebno-db X)",
    )
    t.add_argument("--bits-per-symbol", type=int, help="b: 2^b points (default 6)")
    t.add_argument("--init", choices=["qam", "random"], help="initial constellation (default qam)")
    t.add_argument(
        "--ebno-db", help="training Eb/N0 in dB: X, or a range A:B drawn uniformly per codeword (default 4:8)"
    )
    t.add_argument("--code-rate", type=float, help="outer code rate (default 0.5)")
    t.add_argument("--codeword-bits", type=int, help="coded bits per codeword (default 1500)")
    t.add_argument("--iterations", type=int)
    t.add_argument("--finetune-iterations", type=int)
    t.add_argument("--batch-size", type=int, help="codewords per step (default 128)")
    t.add_argument("--rx-steps", type=int)
    t.add_argument("--tx-steps", type=int)
    t.add_argument("--rx-on-tx-batch", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--sigma2", type=float)
    t.add_argument("--sigma2-final", type=float)
    t.add_argument("--loss-baseline", choices=["none", "batch", "running"])
    t.add_argument("--feedback", choices=["perfect", "noisy", "quantized"])
    t.add_argument("--feedback-bits", type=int, help="bits per loss with --feedback quantized")
    t.add_argument("--feedback-noise", type=float, help="noise std per loss with --feedback noisy")
    t.add_argument("--rx-lr", type=float)
    t.add_argument("--tx-lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="cpu or cuda")
    t.add_argument("--channel-timeout", type=float, help="seconds a black-box channel call may take (0: no limit)")
    t.add_argument("--log-every", type=int, help="iterations between rows of metrics.csv (default 10)")
    t.add_argument("--out", help="output directory (default runs/bitwise-<timestamp>)")
    t.add_argument("--quiet", action="store_true")


def _evaluate_parser(bsub: argparse._SubParsersAction) -> None:
    e = bsub.add_parser(
        "evaluate",
        help="coded BER/BLER vs Eb/N0 with 5G LDPC, against Gray QAM + APP demapper",
        description="Writes DIR/coded.csv and DIR/coded.png.",
    )
    e.add_argument("dir", help="a run directory written by mfcomm bitwise train")
    e.add_argument("--ebno-db", default="4:8:0.5", help="Eb/N0 sweep A:B:STEP in dB (default 4:8:0.5)")
    e.add_argument("--target-block-errors", type=int, default=100, help="block errors per point (default 100)")
    e.add_argument("--max-blocks", type=int, default=20000, help="codeword cap per point (default 20000)")
    e.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that the "
        "run's config.toml names; without it, such a run is refused",
    )
    e.add_argument("--quiet", action="store_true")


def _ebno_range(text: str) -> tuple[float, float]:
    """``--ebno-db X`` or ``A:B``, as (low, high).

    >>> _ebno_range("7"), _ebno_range("4:8")
    ((7.0, 7.0), (4.0, 8.0))
    """
    try:
        parts = [float(v) for v in text.split(":")]
    except ValueError:
        raise ConfigError(f"--ebno-db: expected X or A:B in dB, not {text!r}") from None
    if len(parts) not in (1, 2):
        raise ConfigError(f"--ebno-db: expected X or A:B in dB, not {text!r}")
    return parts[0], parts[-1]


def cmd_train(args: argparse.Namespace) -> int:
    from mfcomm.experiment import bitwise_config, bitwise_runs

    overrides = {k: getattr(args, k) for k in TRAIN_KEYS}
    if args.ebno_db:
        overrides["ebno_db_min"], overrides["ebno_db_max"] = _ebno_range(args.ebno_db)
    cfg = bitwise_config.resolve(args.config, overrides, trust=args.trust_config)
    out = Path(args.out or f"runs/bitwise-{time.strftime('%Y%m%d-%H%M%S')}")
    run = bitwise_runs.train(cfg, quiet=args.quiet)
    bitwise_runs.save(run, out)
    rates = ", ".join(f"{e:g} dB: {r:.3f}" for e, r in run.bmd_rate.items())
    print(
        f"bit-wise {cfg.method}, {2**cfg.bits_per_symbol} points: BMD rate (bit/symbol) {rates}; "
        f"{run.channel_uses_spent} channel uses, {run.train_seconds:.1f} s; wrote {out}"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mfcomm.evaluation import coded_sweep
    from mfcomm.evaluation import snr_sweep as sweep
    from mfcomm.experiment import bitwise_runs
    from mfcomm.experiment.config import check_number

    check_number("--target-block-errors", args.target_block_errors, 1, 10**6)
    check_number("--max-blocks", args.max_blocks, 1, 10**9)
    run = bitwise_runs.load(args.dir, trust=args.trust_config)
    grid = sweep.parse_range(args.ebno_db)
    curves = coded_sweep.coded_sweep(
        run, Path(args.dir), grid, args.target_block_errors, args.max_blocks, quiet=args.quiet
    )
    for name, pts in curves.items():
        for p in pts:
            lo, hi = p.bler_ci()
            print(
                f"{name:8s} Eb/N0 {p.ebno_db:5.2f} dB  BER {p.ber:.3e}  BLER {p.bler:.3e} [{lo:.2e}, {hi:.2e}]"
                f"  ({p.block_errors}/{p.blocks})"
            )
        at = coded_sweep.ebno_at_bler(pts)
        print(f"{name}: Eb/N0 at BLER 1e-2: {'not crossed in the sweep' if at is None else f'{at:.2f} dB'}")
    print(f"wrote {Path(args.dir) / 'coded.csv'} and {Path(args.dir) / 'coded.png'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mfcomm.evaluation import export
    from mfcomm.experiment import bitwise_runs

    run = bitwise_runs.load(args.dir, trust=True)  # export reads weights only: the channel is never built
    points = run.const.points().detach().cpu().numpy()
    path = Path(args.csv) if args.csv else Path(args.dir) / "constellation.csv"
    export.write_constellation_csv(points, path)
    print(
        f"wrote {path} ({len(points)} points, labels MSB first). In Sionna:\n"
        f"  from mfcomm.evaluation.export import read_constellation_csv, to_sionna_constellation\n"
        f"  constellation = to_sionna_constellation(read_constellation_csv({str(path)!r}))\n"
        f"  mapper = sionna.phy.mapping.Mapper(constellation=constellation)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``mfcomm bitwise SUBCOMMAND``."""
    return {"train": cmd_train, "evaluate": cmd_evaluate, "export": cmd_export}[args.bitwise_command](args)
