"""``mfcomm demo``: the paper's comparison, model-free against model-based on AWGN and RBF, as a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from mfcomm.cli.options import out_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``demo`` command."""
    p = sub.add_parser(
        "demo",
        help="the paper's comparison: model-free vs model-based on AWGN and RBF",
        description="Trains, evaluates and writes a Markdown report with figures.",
    )
    p.add_argument("--out", type=out_dir, default="runs/demo", help="report directory (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="a much shorter run, for smoke tests")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Run the comparison (:func:`mfcomm.experiment.demo.run_demo`) and print where its report is."""
    from mfcomm.experiment import demo

    report = demo.run_demo(Path(args.out), quick=args.quick, quiet=args.quiet)
    print(f"report: {report}")
    return 0
