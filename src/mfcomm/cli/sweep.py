"""``mfcomm sweep SPEC.toml``: many ``mfcomm train`` runs over a grid or a random search, on Ray Tune (see
docs/sweeps.md and :mod:`mfcomm.tune`).

``run`` imports :mod:`mfcomm.tune` only once a sweep starts (it imports torch), and the trials import Ray
(:mod:`mfcomm.tune.runner`): neither slows ``mfcomm --help`` or a usage error."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfcomm.cli.options import out_dir
from mfcomm.errors import ConfigError

if TYPE_CHECKING:
    from mfcomm.tune.spec import Sweep

EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``sweep`` command."""
    p = sub.add_parser(
        "sweep",
        help="many mfcomm train runs over a grid or a random search, on Ray Tune",
        description="Runs every trial of SPEC.toml ([base]: mfcomm train keys; [grid]: lists, every "
        "combination; [search]: distributions, samples, metric, mode, scheduler) as one mfcomm train "
        "run each, on a local Ray or a cluster. Writes DIR/results.csv, DIR/report.md, "
        "DIR/best-config.toml and each trial's run directory DIR/trials/<id>/.",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep specification (docs/sweeps.md)")
    p.add_argument(
        "--out",
        type=out_dir,
        metavar="DIR",
        help="sweep directory (default runs/sweep-<timestamp>); must be new or empty",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="trials at a time (default: the number of cores; with --address: as many as the cluster has room for)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="run on this Ray cluster (default $RAY_ADDRESS; else a local Ray is started and stopped here)",
    )
    p.add_argument("--resume", action="store_true", help="run only the trials of --out that did not finish")
    p.add_argument("--trust-config", action="store_true", help="run the Python channel (PATH.py:FUNC) that SPEC names")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Parse and validate SPEC, run the trials that have not finished, write the results and the report."""
    from mfcomm.tune import driver, spec

    sweep = spec.parse(args.spec, trust=args.trust_config)
    workers = driver.default_workers(args.workers, args.address)
    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR, the sweep to finish")
    out = Path(args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    outcome = driver.run(sweep, out, workers, args.address, args.resume, args.quiet, Path(args.spec))
    return _summary(args, sweep, outcome.values, out, outcome.best, outcome.stopped)


def _summary(
    args: argparse.Namespace,
    sweep: Sweep,
    values: dict[str, dict[str, Any]],
    out: Path,
    best: str | None,
    stopped: str | None,
) -> int:
    """The closing lines, and the exit status: 0, or 128 + the signal that stopped the sweep."""
    from mfcomm.tune.results import FAILED

    if stopped:
        trust = " --trust-config" if args.trust_config else ""
        print(
            f"mfcomm sweep: interrupted ({stopped}): {len(values)} of {len(sweep.trials)} trials done; resume with: "
            f"mfcomm sweep {args.spec} --out {out} --resume{trust}",
            file=sys.stderr,
        )
        return EXIT_SIGNAL[stopped]
    failed = [t.id for t in sweep.trials if t.id in values and values[t.id]["status"] == FAILED]  # in SPEC order
    lead = f"best ({sweep.metric}, mean over seeds): {best}; " if best else ""
    print(f"{len(sweep.trials)} trials, {len(failed)} failed; {lead}wrote {out / 'results.csv'}, {out / 'report.md'}")
    if failed:
        print(
            f"warning: {len(failed)} trial(s) failed ({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}): "
            f"see the error column of {out / 'results.csv'}; --resume runs them again",
            file=sys.stderr,
        )
    return 0
