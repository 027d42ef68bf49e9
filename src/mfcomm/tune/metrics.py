"""What a sweep measures of each trial, by task: the columns of ``results.csv``, what ``metric`` may rank by,
and a finished trial's values read from its ``summary.json``.

The symbols task's trials give their SER with its Clopper-Pearson interval; the OFDM task's give the learned
system's coded results (``summary.json``'s ``systems.learned``): the Eb/N0 at 10% BLER (empty where the
``eval_ebno_db`` points do not reach it, ranked last), and the BLER and goodput at the highest ``eval_ebno_db``.
Every trial also gives its channel uses, training seconds and iterations.

Example
-------
>>> values = from_summary({"ser": 0.01, "ser_ci": [0.009, 0.011], "channel_uses_spent": 6000,
...                        "train_seconds": 1.5, "iterations_run": 100})
>>> values["status"], values["ser_ci_high"]
('ok', 0.011)
>>> columns("ofdm")[:3], default_mode("goodput"), score("", "min")
(('ebno_db_at_bler_0.1', 'bler', 'goodput'), 'max', inf)
"""

from __future__ import annotations

import math
from typing import Any

QUALITY = {"symbols": ("ser", "ser_ci_low", "ser_ci_high"), "ofdm": ("ebno_db_at_bler_0.1", "bler", "goodput")}
"""Each sweepable task's columns of what a trial reached, its figure of merit first."""
SPENT = ("channel_uses_spent", "train_seconds")
RUN = (*SPENT, "iterations_run", "status", "error")
"""The columns every trial has after its task's."""
ALL = (*dict.fromkeys(c for quality in QUALITY.values() for c in quality), *RUN)
"""Every column of any task: what a trial reports."""
LABELS = {"ser": "SER", "ebno_db_at_bler_0.1": "Eb/N0 at 10% BLER (dB)", "bler": "BLER", "goodput": "goodput"}
OK = "ok"


def columns(task: str) -> tuple[str, ...]:
    """``results.csv``'s value columns for a sweep of ``task`` trials."""
    return (*QUALITY[task], *RUN)


def metrics(task: str) -> tuple[str, ...]:
    """What ``metric`` may rank ``task`` trials by: its figures of merit (not their intervals) and what they spent."""
    return (*(c for c in QUALITY[task] if not c.endswith(("_ci_low", "_ci_high"))), *SPENT)


def default_mode(metric: str) -> str:
    """``max`` for the metrics that grow as a system gets better (goodput), else ``min``."""
    return "max" if metric == "goodput" else "min"


def measure(task: str, metric: str) -> str:
    """What a sweep's report tabulates and draws: ``metric`` where it is a figure of merit, else the task's first."""
    return metric if metric in QUALITY[task] else QUALITY[task][0]


def score(value: Any, mode: str) -> float:
    """A value to rank by: an empty one (not reached) ranks last."""
    if value == "" or value is None:
        return math.inf if mode == "min" else -math.inf
    return float(value)


def from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A finished trial's values, from its ``summary.json``."""
    if summary.get("task") == "ofdm":
        learned = summary["systems"]["learned"]
        at_10, top = learned["ebno_db_at_bler_0.1"], learned["ebno_db"].index(max(learned["ebno_db"]))
        quality = {
            "ebno_db_at_bler_0.1": "" if at_10 is None else at_10,
            "bler": learned["bler"][top],
            "goodput": learned["goodput"][top],
        }
    else:
        low, high = summary["ser_ci"]
        quality = {"ser": summary["ser"], "ser_ci_low": low, "ser_ci_high": high}
    return {
        **dict.fromkeys(ALL, ""),
        **quality,
        "channel_uses_spent": summary["channel_uses_spent"],
        "train_seconds": summary["train_seconds"],
        "iterations_run": summary["iterations_run"],
        "status": OK,
    }
