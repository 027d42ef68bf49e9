"""``mfcomm bitwise train|evaluate|export``: bit-wise systems with an outer code (see docs/bitwise.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mfcomm.cli import evaluate, train


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
    t = bsub.add_parser(
        "train",
        help="mfcomm train --task bits: writes DIR with weights, constellation.csv, figures",
        description="The same command as mfcomm train, with --task bits as its default.",
    )
    train.train_arguments(t)


def _evaluate_parser(bsub: argparse._SubParsersAction) -> None:
    e = bsub.add_parser(
        "evaluate",
        help="mfcomm evaluate of a bits run: coded BER/BLER vs Eb/N0 with 5G LDPC, against Gray QAM",
        description="Writes DIR/coded.csv and DIR/coded.png.",
    )
    evaluate.evaluate_arguments(e)


def cmd_train(args: argparse.Namespace) -> int:
    """``mfcomm train``, of the bits task unless ``--task`` or ``--resume`` say otherwise."""
    if args.task is None and not args.resume:
        args.task = "bits"
    return train.run(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``mfcomm evaluate DIR`` of a bits run."""
    return evaluate.run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from mfcomm.errors import ConfigError
    from mfcomm.evaluation import export
    from mfcomm.experiment import runs

    run = runs.load(args.dir, trust=True)  # export reads weights only: the channel is never built
    if run.cfg.task != "bits":
        raise ConfigError(f"{args.dir} is a {run.cfg.task} run: mfcomm bitwise export takes a bits run (--task bits)")
    points = run.tx.points().detach().cpu().numpy()
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
