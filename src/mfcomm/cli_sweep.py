"""``mfcomm sweep SPEC.toml``: many ``mfcomm train`` runs over a grid or a random search, on Ray Tune (see README,
"Sweeps on Ray", and :mod:`mfcomm.tune`). Ray is imported only once a sweep starts."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfcomm.errors import ConfigError, MfcommError

if TYPE_CHECKING:
    from mfcomm.tune.spec import Sweep

EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``sweep`` command."""
    p = sub.add_parser("sweep", help="many mfcomm train runs over a grid or a random search, on Ray Tune",
                       description="Runs every trial of SPEC.toml ([base]: mfcomm train keys; [grid]: lists, every "
                       "combination; [search]: distributions, samples, metric, mode, scheduler) as one mfcomm train "
                       "run each, on a local Ray or a cluster. Writes DIR/results.csv, DIR/report.md, "
                       "DIR/best-config.toml and each trial's run directory DIR/trials/<id>/.")
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep specification (README.md, \"Sweeps on Ray\")")
    p.add_argument("--out", metavar="DIR", help="sweep directory (default runs/sweep-<timestamp>); must be new or empty")
    p.add_argument("--workers", type=int, metavar="N", help="trials at a time (default: the number of cores; with --address: "
                   "as many as the cluster has room for)")
    p.add_argument("--address", metavar="ADDR", help="run on this Ray cluster (default $RAY_ADDRESS; else a local Ray is started and "
                   "stopped here)")
    p.add_argument("--resume", action="store_true", help="run only the trials of --out that did not finish")
    p.add_argument("--trust-config", action="store_true", help="run the Python channel (PATH.py:FUNC) that SPEC names")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Parse and validate SPEC, run the trials that have not finished, write the results and the report."""
    from tqdm import tqdm

    from mfcomm import config
    from mfcomm.tune import report, results, spec

    sweep = spec.parse(args.spec, trust=args.trust_config)
    address = args.address or os.environ.get("RAY_ADDRESS")
    workers = args.workers if args.workers is not None or address else len(os.sched_getaffinity(0))
    if workers is not None:
        config.check_number("--workers", workers, 1, 4096)
    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR, the sweep to finish")
    out = Path(args.out or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    created = not out.exists()
    results.prepare(out, sweep, args.resume)
    values = results.finished(out, sweep) if args.resume else {}
    pending = [t for t in sweep.trials if t.id not in values]
    bar = tqdm(total=len(sweep.trials), initial=len(values), desc="sweep", unit="trial", disable=args.quiet)

    def on_row(trial_id: str, row: dict[str, Any]) -> None:
        values[trial_id] = row
        results.write_results(out, sweep, values)
        bar.update()

    stopped = None
    try:
        if pending:
            from mfcomm.tune import runner  # Ray: only now

            stopped = runner.run_trials(sweep, pending, out, workers, address, on_row)
    except MfcommError:  # Ray could not start: the same command may simply be run again
        if created and not values:
            shutil.rmtree(out, ignore_errors=True)
        raise
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, what finished is still recorded
        stopped = "SIGINT"
    finally:
        bar.close()
    for trial_id, row in results.finished(out, sweep).items():  # a trial that ended as the sweep was stopped
        values.setdefault(trial_id, row)
    results.write_results(out, sweep, values)
    best = report.write_report(out, sweep, values, Path(args.spec))
    return _summary(args, sweep, values, out, best, stopped)


def _summary(args: argparse.Namespace, sweep: Sweep, values: dict[str, dict[str, Any]], out: Path, best: str | None,
             stopped: str | None) -> int:
    """The closing lines, and the exit status: 0, or 128 + the signal that stopped the sweep."""
    from mfcomm.tune.results import FAILED

    if stopped:
        trust = " --trust-config" if args.trust_config else ""
        print(f"mfcomm sweep: interrupted ({stopped}): {len(values)} of {len(sweep.trials)} trials done; resume with: "
              f"mfcomm sweep {args.spec} --out {out} --resume{trust}", file=sys.stderr)
        return EXIT_SIGNAL[stopped]
    failed = [i for i, v in values.items() if v["status"] == FAILED]
    lead = f"best ({sweep.metric}, mean over seeds): {best}; " if best else ""
    print(f"{len(sweep.trials)} trials, {len(failed)} failed; {lead}wrote {out / 'results.csv'}, {out / 'report.md'}")
    if failed:
        print(f"warning: {len(failed)} trial(s) failed ({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}): "
              f"see the error column of {out / 'results.csv'}; --resume runs them again", file=sys.stderr)
    return 0
