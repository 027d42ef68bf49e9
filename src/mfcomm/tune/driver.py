"""A sweep run to its end, for ``mfcomm sweep`` and for scripts (the benchmarks): the sweep directory prepared, the
trials that have not finished run on Ray with a progress bar over trials, ``results.csv`` rewritten as each
ends, ``report.md`` and ``best-config.toml`` at the end.

Ray is imported (by :mod:`mfcomm.tune.runner`) only when a trial is to run.

Example
-------
A script that trains named configurations side by side, then reads each trial's run directory::

    from mfcomm.tune import driver, results
    sweep = spec.from_overrides({"sigma-low": {"sigma2": 0.05}, "sigma-high": {"sigma2": 0.1}},
                                base={"iterations": 1500})
    outcome = driver.run(sweep, Path("runs/my-sweep"), workers=2)
    outcome.values["sigma-low"]["ser"], results.metrics(Path("runs/my-sweep"), "sigma-low")[-1]
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mfcomm.config.checks import check_number
from mfcomm.errors import MfcommError
from mfcomm.experiment.run_lock import owned
from mfcomm.tune import report, results
from mfcomm.tune.spec import Sweep


@dataclass(frozen=True)
class Outcome:
    """What a sweep left: each finished trial's ``results.csv`` values by trial id, the best configuration's
    label (None without a finished trial), and the signal that stopped it early (``"SIGINT"``, ``"SIGTERM"``)."""

    values: dict[str, dict[str, Any]]
    best: str | None
    stopped: str | None


def default_workers(workers: int | None, address: str | None) -> int | None:
    """``workers``; else with a cluster None (as many as it has room for), else this machine's cores."""
    address = address or os.environ.get("RAY_ADDRESS")
    if workers is None and not address:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if workers is not None:
        check_number("--workers", workers, 1, 4096)
    return workers


def run(
    sweep: Sweep,
    out: Path,
    workers: int | None = None,
    address: str | None = None,
    resume: bool = False,
    quiet: bool = False,
    spec: Path | None = None,
) -> Outcome:
    """Run ``sweep``'s trials into ``out`` (new or empty; with ``resume``, only the trials not finished there),
    ``workers`` at a time (:func:`default_workers`). ``spec``: the SPEC file the report names, if any. ``out`` is
    this sweep's alone while it runs (:func:`~mfcomm.experiment.run_lock.owned`)."""
    created = not out.exists()
    with owned(out):
        return _run(sweep, out, default_workers(workers, address), address, resume, quiet, spec, created)


def _run(
    sweep: Sweep,
    out: Path,
    workers: int | None,
    address: str | None,
    resume: bool,
    quiet: bool,
    spec: Path | None,
    created: bool,
) -> Outcome:
    """:func:`run`, with ``out`` held."""
    results.prepare(out, sweep, resume)
    values = results.finished(out, sweep) if resume else {}
    pending = [t for t in sweep.trials if t.id not in values]
    bar = tqdm(total=len(sweep.trials), initial=len(values), desc="sweep", unit="trial", disable=quiet)

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
    except KeyboardInterrupt as err:  # a second signal: stopped at once, what finished is still recorded
        stopped = "SIGTERM" if err.args[:1] == ("SIGTERM",) else "SIGINT"  # as mfcomm.cli.signals names them
    finally:
        bar.close()
    for trial_id, row in results.finished(out, sweep).items():  # a trial that ended as the sweep was stopped
        values.setdefault(trial_id, row)
    results.write_results(out, sweep, values)
    return Outcome(values, report.write_report(out, sweep, values, spec), stopped)


def train_all(
    named: dict[str, dict[str, Any]],
    out: Path,
    workers: int | None = None,
    resume: bool = False,
    base: dict[str, Any] | None = None,
) -> int:
    """For scripts such as the benchmarks: train every named configuration (:func:`mfcomm.tune.spec.from_overrides`)
    as one sweep into ``out``, replacing a sweep an earlier run left there unless ``resume``. Returns 0 when every
    trial finished; else, after one line on stderr naming what went wrong, 1 (a trial failed; ``resume`` runs it
    again), 2 (bad input) or 128 + the signal that stopped it."""
    from mfcomm.tune import spec

    try:
        sweep = spec.from_overrides(named, base)
        if not resume and (out / results.PLAN).is_file():
            shutil.rmtree(out)
        outcome = run(sweep, out, workers, resume=resume)
    except MfcommError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if outcome.stopped:
        print(
            f"interrupted ({outcome.stopped}): {len(outcome.values)} of {len(sweep.trials)} trainings done; run "
            "again with --resume to finish",
            file=sys.stderr,
        )
        return 130 if outcome.stopped == "SIGINT" else 143
    bad = [f"{i} ({v['status']}: {v['error']})" for i, v in outcome.values.items() if v["status"] != results.OK]
    if bad:
        print(
            f"error: {len(bad)} training(s) did not finish: {'; '.join(bad[:3])}; see {out / results.RESULTS}",
            file=sys.stderr,
        )
        return 1
    return 0
