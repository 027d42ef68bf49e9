"""The sweep directory's records: ``results.csv`` (one row per trial), ``trials.json`` (the plan), and which trials
``--resume`` may skip.

A trial's values are its task's columns (:func:`mfcomm.tune.metrics.columns`); its row adds the trial id, every
swept key and the seed. A trial is
finished when its run directory holds ``summary.json`` (status ``ok``, the row rebuilt from it) or when the
last ``results.csv`` says it was ``stopped early``; a failed trial runs again on ``--resume``.

Example
-------
>>> failed("channel raised")["status"], stopped({"ser": 0.2, "iteration": 50})["iterations_run"]
('failed', 50)
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from mfcomm.config.fields import Config
from mfcomm.errors import MfcommError
from mfcomm.experiment.run_directory import write_csv, write_text
from mfcomm.experiment.run_lock import LOCK, create_writable
from mfcomm.tune.metrics import ALL, columns, from_summary
from mfcomm.tune.metrics import OK as OK  # a trial's status, as are these two
from mfcomm.tune.spec import Sweep, Trial

STOPPED, FAILED = "stopped early", "failed"


def trial_config(cfg: Config) -> Config:
    """A trial's configuration as it runs: on the CPU on one thread unless the SPEC sets ``threads``. Written into
    its ``config.toml`` (and ``best-config.toml``), so that ``mfcomm train --config`` reproduces it bit for bit:
    torch's reductions depend on the thread count.

    >>> trial_config(Config()).threads, trial_config(Config(threads=4)).threads
    (1, 4)
    """
    if cfg.threads or cfg.device != "cpu":
        return cfg
    return dataclasses.replace(cfg, threads=1)


RESULTS, PLAN = "results.csv", "trials.json"


def stopped(result: dict[str, Any]) -> dict[str, Any]:
    """A trial the scheduler stopped early: its last report during training (SER on fresh messages, no interval)."""
    return {
        **dict.fromkeys(ALL, ""),
        "ser": result.get("ser", ""),
        "channel_uses_spent": result.get("channel_uses_spent", ""),
        "train_seconds": result.get("train_seconds", ""),
        "iterations_run": result.get("iteration", ""),
        "status": STOPPED,
    }


def failed(error: str) -> dict[str, Any]:
    """A trial that ended with ``error``, folded into one line (a user's channel may raise a message with line
    breaks)."""
    line = " ".join(part.strip() for part in error.splitlines() if part.strip())
    return {**dict.fromkeys(ALL, ""), "status": FAILED, "error": line}


def row(trial: Trial, sweep: Sweep, values: dict[str, Any]) -> dict[str, Any]:
    """The trial's ``results.csv`` row: id, swept keys, seed, then ``values``."""
    keys = [k for k in sweep.swept if k != "seed"]
    return {
        "trial": trial.id,
        **{k: _cell(getattr(trial.cfg, k)) for k in keys},
        "seed": trial.cfg.seed,
        **{k: values[k] for k in columns(sweep.task)},
    }


def write_results(out: Path, sweep: Sweep, values: dict[str, dict[str, Any]]) -> None:
    """``out/results.csv``: a row per trial with ``values``, in trial order, written then renamed."""
    write_csv(out / RESULTS, [row(t, sweep, values[t.id]) for t in sweep.trials if t.id in values])


def finished(out: Path, sweep: Sweep) -> dict[str, dict[str, Any]]:
    """The values of ``sweep``'s trials that finished in ``out`` (see the module docstring), by trial id."""
    previous = {}
    if (out / RESULTS).is_file():
        with open(out / RESULTS, newline="") as f:
            previous = {r["trial"]: r for r in csv.DictReader(f)}
    done = {}
    for trial in sweep.trials:
        try:
            done[trial.id] = from_summary(summary(out, trial.id))
        except (OSError, ValueError, KeyError):  # not finished (summary.json is written last, whole)
            if previous.get(trial.id, {}).get("status") == STOPPED:
                done[trial.id] = {k: _number(previous[trial.id].get(k, "")) for k in ALL}
    return done


def trial_dir(out: Path, trial_id: str) -> Path:
    """The run directory of trial ``trial_id`` of the sweep in ``out``."""
    return out / "trials" / trial_id


def summary(out: Path, trial_id: str) -> dict[str, Any]:
    """A finished trial's ``summary.json``."""
    return json.loads((trial_dir(out, trial_id) / "summary.json").read_text())


def metrics(out: Path, trial_id: str) -> list[dict[str, float]]:
    """A finished trial's ``metrics.csv`` as :attr:`mfcomm.experiment.run.Run.metrics` held it: numbers, and a row
    without
    the cells it did not log (``ser`` is in the rows where the SER was measured only)."""
    with open(trial_dir(out, trial_id) / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def prepare(out: Path, sweep: Sweep, resume: bool) -> None:
    """Check (and create) the sweep directory: a new or empty one gets ``trials.json``; with ``resume``, it
    must hold the same trials (``trials.json``), else one line."""
    if out.exists() and not out.is_dir():
        raise MfcommError(f"--out {out} exists and is not a directory")
    plan = {t.id: {"overrides": t.overrides, "config": t.cfg.to_dict()} for t in sweep.trials}
    if resume:
        try:
            saved = json.loads((out / PLAN).read_text())
        except (OSError, ValueError):
            raise MfcommError(f"--out {out} holds no sweep to resume ({PLAN} missing); run without --resume") from None
        differs = next((i for i in sorted(set(saved) | set(plan)) if saved.get(i) != _plain(plan.get(i))), None)
        if differs:
            raise MfcommError(
                f"the SPEC differs from the sweep in {out} (trial {differs}); resume with the SPEC it "
                "was started with, or choose another --out"
            )
        return
    if out.is_dir() and any(p.name != LOCK for p in out.iterdir()):
        hint = ", or add --resume to finish the sweep there" if (out / PLAN).exists() else ""
        raise MfcommError(f"--out {out} is not empty; choose another --out{hint}")
    create_writable(out)
    write_text(out / PLAN, json.dumps(plan, indent=1) + "\n")


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists)."""
    return json.loads(json.dumps(value))


def _cell(value: Any) -> Any:
    return str(value) if isinstance(value, list) else value


def _number(text: str) -> Any:
    """A ``results.csv`` cell as read back: a number where it is one."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
