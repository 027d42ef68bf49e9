"""How good are the systems that mfcomm's defaults train? (``make bench-quality``)

On a fixed task set (``TASKS`` below: AWGN at several rates, Rayleigh block fading, low-resolution ADCs,
a hardware chain, phase noise, AE(7,4)), every run is ``method = model-free`` with every other setting the
library default, so that when the defaults change this benchmark follows them. Every task and seed is a
trial of one sweep (:mod:`mfcomm.tune`: ``mfcomm train``'s code path on Ray, one thread each, ``--workers``
at once) into ``--out`` (``results.csv``, ``report.md``, each run directory ``trials/<task>-seed<s>/``),
read back from its ``summary.json``. Per task it reports the classical same-rate reference
(the ``baseline_*`` fields of the summaries, else the closed form on AWGN and Rayleigh block fading), the
best SER known (``benchmarks/quality_references.toml``), the defaults' SER over seeds (min, median, max),
median channel uses and times, and pass/fail against: median <= 1.1x baseline, worst seed <= 1.3x best.

Writes ``docs/results/quality.json`` (every run, the per-task aggregates, the command line, date and
nproc), ``docs/results/quality.md`` and ``docs/figures/quality.png``; run directories stay under ``--out``
(``runs/quality/trials/<task>-seed<s>``; ``--resume`` trains only the runs that did not finish there). ``--quick`` checks the script, not the claim: seed 1, 5% of the
iterations (at least 20), evaluation capped at 100,000 messages, everything under ``runs/quality-quick/``.

Usage:
    python benchmarks/quality.py [--workers 2] [--tasks awgn-16-2,adc1] [--seeds 1,2,3] [--out runs/quality]
                                 [--iterations-scale 0.5] [--results-dir DIR] [--report-only] [--resume] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import statistics
import sys
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from mfcomm.channels.spec import has_fading
from mfcomm.config.fields import FIELDS
from mfcomm.config.files import configure
from mfcomm.conventions import snr_db_to_n0
from mfcomm.errors import MfcommError
from mfcomm.experiment.run_directory import write_text
from mfcomm.plots import save_figure, subplots
from mfcomm.system.baselines import classical_baseline, closed_form_ser
from mfcomm.tune import driver, results


@dataclass(frozen=True)
class Task:
    """One benchmark task: its id and its config overrides on top of the library defaults."""

    id: str
    overrides: dict[str, Any]
    note: str = ""


CHAIN = "phase(max_deg=15) | rapp(p=2,sat=1.2) | awgn | adc(bits=3)"
TASKS: list[Task] = [
    Task("awgn-16-2", {"channel": "awgn", "messages": 16, "channel_uses": 2, "snr_db": 10.0, "iterations": 4000}),
    Task("awgn-64-2", {"channel": "awgn", "messages": 64, "channel_uses": 2, "snr_db": 14.0}),
    Task("awgn-256-4", {"channel": "awgn", "messages": 256, "channel_uses": 4, "snr_db": 12.0, "iterations": 3000}),
    Task("awgn-1024-5", {"channel": "awgn", "messages": 1024, "channel_uses": 5, "snr_db": 12.0}),
    Task("rbf-16-4", {"channel": "rbf", "messages": 16, "channel_uses": 4, "snr_db": 20.0}),
    *(Task(f"adc{b}", {"channel": f"awgn | adc(bits={b})", "messages": 16, "channel_uses": 2, "snr_db": 10.0})
      for b in (1, 2, 3)),
    Task("hw-chain", {"channel": CHAIN, "messages": 16, "channel_uses": 2, "snr_db": 12.0}),
    Task("phase-noise", {"channel": "phase_noise(linewidth=5e-3) | awgn", "messages": 16, "channel_uses": 2,
                         "snr_db": 12.0, "iterations": 4000}),
    Task("ae74", {"channel": "awgn", "messages": 16, "channel_uses": 7, "signalling": "real", "ebno_db": 6.0},
         "against Hamming(7,4) soft ML"),
]
COMMON = {"method": "model-free"}
"""Set on every task; everything not in a task's overrides is the library default."""

MEDIAN_VS_BASELINE = 1.1
"""Pass: the median seed's SER is at most this times the classical baseline's."""
WORST_VS_BEST_SEED = 1.3
"""Pass: the worst seed's SER is at most this times the best seed's."""

DEFAULT_SEEDS = [1, 2, 3, 4, 5]
QUICK_SCALE, QUICK_FLOOR, QUICK_EVAL = 0.05, 20, 100_000
REFERENCES = Path(__file__).with_name("quality_references.toml")
OPTIONAL = ("baseline", "baseline_ser", "baseline_ci", "baseline_method", "baseline_coherent_ser", "converged",
            "converged_iteration")
ROW_KEYS = ("task", "seed", "status", "error", "run_dir", "channel", "messages", "channel_uses", "signalling",
            "snr_db", "ebno_db", "iterations", "ser", "ser_ci", "eval_messages", "channel_uses_spent",
            "train_seconds", *OPTIONAL)


class UsageError(Exception):
    """A bad option value: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage text) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


@dataclass(frozen=True)
class Job:
    """One training run: a task, a seed, its trial id, its run directory and its configuration."""

    task: Task
    seed: int
    trial: str
    run_dir: Path
    config: dict[str, Any]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = Parser(prog="quality.py", description=__doc__.splitlines()[0])
    p.add_argument("--tasks", help="comma-separated task ids (default: all): " + ",".join(t.id for t in TASKS))
    p.add_argument("--seeds", help="comma-separated seeds (default 1,2,3,4,5; 1 with --quick)")
    p.add_argument("--workers", "--jobs", dest="jobs", type=int, help="runs at once, one thread each (default: the "
                   "cores)")
    p.add_argument("--out", help="run directories (default runs/quality; runs/quality-quick with --quick)")
    p.add_argument("--iterations-scale", type=float,
                   help="multiply each task's iterations by this (default 1; 0.05 with --quick)")
    p.add_argument("--results-dir", help="where quality.json, .md and .png go (default docs/results and "
                   "docs/figures; the --out directory with --quick)")
    p.add_argument("--report-only", action="store_true", help="no training: aggregate the run directories there")
    p.add_argument("--resume", action="store_true", help="train only the runs of --out that did not finish")
    p.add_argument("--quick", action="store_true", help="seed 1, 5%% of the iterations (at least 20), 100,000 "
                   "evaluation messages, into runs/quality-quick/: checks the script, not the claim")
    args = p.parse_args(argv)
    try:
        args.tasks = select_tasks(args.tasks)
        args.seeds = parse_seeds(args.seeds) if args.seeds is not None else [1] if args.quick else DEFAULT_SEEDS
        if args.jobs is not None and args.jobs < 1:
            raise UsageError(f"--workers must be at least 1, not {args.jobs}")
        if args.iterations_scale is None:
            args.iterations_scale = QUICK_SCALE if args.quick else 1.0
        if not (math.isfinite(args.iterations_scale) and args.iterations_scale > 0):
            raise UsageError(f"--iterations-scale must be a positive number, not {args.iterations_scale}")
        args.out = Path(args.out or ("runs/quality-quick" if args.quick else "runs/quality"))
        if args.quick and args.results_dir and Path(args.results_dir).resolve().is_relative_to(Path("docs").resolve()):
            raise UsageError("--quick never writes into docs/: choose another --results-dir")
    except UsageError as err:
        p.error(str(err))
    return args


def select_tasks(text: str | None) -> list[Task]:
    if text is None:
        return TASKS
    by_id = {t.id: t for t in TASKS}
    ids = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [i for i in ids if i not in by_id]
    if unknown or not ids:
        raise UsageError(f"--tasks: unknown task(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(by_id)}")
    return [by_id[i] for i in dict.fromkeys(ids)]


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds: expected comma-separated integers, not {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds: expected distinct non-negative integers, not {text!r}")
    return seeds


def read_references() -> dict[str, dict[str, Any]]:
    """``best_ser`` (None while a placeholder) and ``best_command`` per task id."""
    try:
        data = tomllib.loads(REFERENCES.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{REFERENCES}: {err}") from None
    unknown = sorted(set(data) - {t.id for t in TASKS})
    if unknown:
        print(f"quality.py: warning: {REFERENCES.name} names unknown task(s) {', '.join(unknown)}", file=sys.stderr)
    refs = {}
    for task_id, entry in data.items():
        if not isinstance(entry, dict):
            raise UsageError(f"{REFERENCES}: {task_id} must be a table ([{task_id}] with best_ser, best_command)")
        ser = entry.get("best_ser")
        usable = isinstance(ser, (int, float)) and math.isfinite(ser) and ser >= 0
        refs[task_id] = {"best_ser": float(ser) if usable else None, "best_command": entry.get("best_command") or None}
    return refs


def task_config(task: Task, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The task's overrides for one seed, with scaled iterations (and the quick evaluation budget);
    validated here so that a bad table entry stops the benchmark before any training."""
    config = {**COMMON, **task.overrides, "seed": seed}
    if args.iterations_scale != 1.0:
        base = task.overrides.get("iterations", FIELDS["iterations"].default)
        config["iterations"] = max(QUICK_FLOOR if args.quick else 1, round(base * args.iterations_scale))
    if args.quick:
        config.update(eval_messages=QUICK_EVAL, eval_max_messages=QUICK_EVAL)
    try:
        configure(overrides=config)
    except MfcommError as err:
        raise UsageError(f"task {task.id}: {err}") from None
    return config


def trial_id(task: Task, seed: int) -> str:
    return f"{task.id}-seed{seed}"


def empty_row(task: Task, seed: int, run: Path, status: str, error: str | None) -> dict[str, Any]:
    return {**dict.fromkeys(ROW_KEYS), "task": task.id, "seed": seed, "status": status, "error": error,
            "run_dir": str(run)}


def read_row(task: Task, seed: int, run: Path, errors: dict[str, str]) -> dict[str, Any]:
    """One run's row from its ``summary.json``; ``errors``: the sweep's error of each trial that failed."""
    try:
        summary = json.loads((run / "summary.json").read_text())
    except FileNotFoundError:
        error = errors.get(trial_id(task, seed))
        return empty_row(task, seed, run, "failed" if error else "missing", error or "no summary.json")
    except json.JSONDecodeError as err:
        return empty_row(task, seed, run, "failed", f"summary.json: {err}")
    row = empty_row(task, seed, run, "ok", None)
    row.update({k: summary.get(k) for k in ROW_KEYS if k in summary and k not in ("task", "status")})
    if row["baseline_ser"] is None:
        row.update(closed_form_reference(summary["messages"], summary["channel_uses"], summary["signalling"],
                                         summary["channel"], summary["snr_db"]))
    return row


@lru_cache
def closed_form_reference(messages: int, channel_uses: int, signalling: str, channel: str,
                          snr_db: float | None) -> dict[str, Any]:
    """The classical baseline's name and, on plain AWGN or Rayleigh block fading, its closed-form SER."""
    baseline = classical_baseline(messages, channel_uses, signalling, has_fading(channel))
    if baseline is None:
        return {}
    ser = closed_form_ser(baseline, channel, snr_db_to_n0(snr_db)) if channel in ("awgn", "rbf") else None
    return {"baseline": baseline.name, "baseline_ser": None if ser is None else float(ser),
            "baseline_method": "closed form (computed by quality.py)" if ser is not None else None}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def aggregate(task: Task, rows: list[dict[str, Any]], ref: dict[str, Any]) -> dict[str, Any]:
    """Per-task figures over the seeds that finished, the reference SERs, the ratios and the verdict."""
    ok = [r for r in rows if r["status"] == "ok"]
    sers = [r["ser"] for r in ok]
    base = [r for r in ok if r["baseline_ser"] is not None]
    named = next((r for r in ok if r["baseline"]), {})

    def median(key: str) -> float | None:
        values = [r[key] for r in ok if r[key] is not None]
        return statistics.median(values) if values else None

    agg: dict[str, Any] = {
        "task": task.id, "overrides": {**COMMON, **task.overrides}, "note": task.note,
        "seeds": [r["seed"] for r in ok], "failed_seeds": [r["seed"] for r in rows if r["status"] != "ok"],
        "iterations": sorted({r["iterations"] for r in ok}),
        "ser_min": min(sers, default=None), "ser_median": statistics.median(sers) if sers else None,
        "ser_max": max(sers, default=None), "channel_uses_median": median("channel_uses_spent"),
        "train_seconds_median": median("train_seconds"),
        "baseline": named.get("baseline"), "baseline_method": named.get("baseline_method"),
        "baseline_coherent_ser": named.get("baseline_coherent_ser"),
        "baseline_ser": statistics.median(r["baseline_ser"] for r in base) if base else None,
        "baseline_ci": ([min(r["baseline_ci"][0] for r in base), max(r["baseline_ci"][1] for r in base)]
                        if base and all(r["baseline_ci"] for r in base) else None),
        "best_ser": ref.get("best_ser"), "best_command": ref.get("best_command"),
        "converged": sum(bool(r["converged"]) for r in ok) if any(r["converged"] is not None for r in ok) else None,
        "converged_iteration_median": median("converged_iteration"),
    }
    agg["median_vs_baseline"] = ratio(agg["ser_median"], agg["baseline_ser"])
    agg["worst_vs_best_seed"] = 1.0 if sers and agg["ser_max"] == 0 else ratio(agg["ser_max"], agg["ser_min"])
    agg["median_vs_best_known"] = ratio(agg["ser_median"], agg["best_ser"])
    median_ok = None if not sers or agg["baseline_ser"] is None else bool(
        agg["ser_median"] <= MEDIAN_VS_BASELINE * agg["baseline_ser"])
    spread_ok = None if not sers else bool(agg["ser_max"] <= WORST_VS_BEST_SEED * agg["ser_min"])
    agg["checks"] = {"median_vs_baseline": median_ok, "worst_vs_best_seed": spread_ok}
    failed = ([f"median {fmt(agg['median_vs_baseline'], '.2f')}x baseline (> {MEDIAN_VS_BASELINE}x)"]
              if median_ok is False else []) + (
             [f"worst seed {fmt(agg['worst_vs_best_seed'], '.2f')}x best (> {WORST_VS_BEST_SEED}x)"]
             if spread_ok is False else [])
    if not sers:
        agg["result"] = "no runs"
    elif failed:
        agg["result"] = "fail: " + "; ".join(failed)
    else:
        agg["result"] = "pass" if median_ok else "pass (no baseline SER)"
    return agg


def fmt(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def setting(task: Task, agg: dict[str, Any]) -> str:
    o = task.overrides
    snr = f"Es/N0 {o['snr_db']:g} dB" if "snr_db" in o else f"Eb/N0 {o['ebno_db']:g} dB"
    real = ", real" if o.get("signalling") == "real" else ""
    its = "/".join(map(str, agg["iterations"])) or "-"
    return f"`{o['channel']}`".replace("|", "\\|") + f" M={o['messages']} n={o['channel_uses']}{real}, {snr}, {its} it"


def markdown(aggs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The per-task table, the criteria and the command that regenerates it."""
    swept = "" if meta["wall_seconds"] is None else (
        f"; {meta['trained']} runs trained as one sweep in {meta['wall_seconds']:.0f} s of wall time (evaluation and "
        "baselines included)")
    by_id = {t.id: t for t in TASKS}
    text = ("## Quality of the systems mfcomm's defaults train\n\n"
            "| task | setting | classical reference | best known | defaults' SER min / **median** / max | "
            "seeds | median channel uses | median train (s) | median / baseline | worst / best seed | "
            "median / best known | result |\n|" + "---|" * 12 + "\n")
    for a in aggs:
        ref = "-" if not a["baseline"] else f"{a['baseline']}: {fmt(a['baseline_ser'])}" + (
            f" ({a['baseline_method']})" if a["baseline_method"] else " (no SER)")
        if a.get("baseline_coherent_ser") is not None and a["baseline_coherent_ser"] != a["baseline_ser"]:
            ref += f"; a detector told h: {fmt(a['baseline_coherent_ser'])}"
        seeds = ",".join(map(str, a["seeds"])) or "none"
        if a["converged"] is not None:
            seeds += f" ({a['converged']}/{len(a['seeds'])} converged)"
        if a["failed_seeds"]:
            seeds += f"; failed or missing: {','.join(map(str, a['failed_seeds']))}"
        text += (f"| {a['task']} | {setting(by_id[a['task']], a)} | {ref} | {fmt(a['best_ser'])} | "
                 f"{fmt(a['ser_min'])} / **{fmt(a['ser_median'])}** / {fmt(a['ser_max'])} | {seeds} | "
                 f"{fmt(a['channel_uses_median'], '.3g')} | {fmt(a['train_seconds_median'], '.1f')} | "
                 f"{fmt(a['median_vs_baseline'], '.2f')} | "
                 f"{fmt(a['worst_vs_best_seed'], '.2f')} | {fmt(a['median_vs_best_known'], '.2f')} | {a['result']} |\n")
    return text + (
        f"\nEvery run: `method = model-free`, every other setting the library default except those shown. "
        f"Pass: median SER <= {MEDIAN_VS_BASELINE}x the classical baseline's and worst seed <= "
        f"{WORST_VS_BEST_SEED}x the best seed's. Best known: `{REFERENCES.name}`. Train seconds: one thread per run, "
        f"{meta['workers']} runs at a time{swept}.\n\nGenerated {meta['date']} on {meta['nproc']} CPUs by `{meta['command']}` "
        f"(`make bench-quality` regenerates the full set).\n")


def plot(aggs: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Per task on a log axis: each seed's SER (dots), the median (bar), the baseline and best-known ticks."""
    fig, ax = subplots(figsize=(max(7.0, 1.1 * len(aggs)), 5))
    labels = {"seed": "seed", "median": "median of seeds", "baseline": "classical baseline",
              "best": "best known"}
    for i, a in enumerate(aggs):
        sers = [r["ser"] for r in rows if r["task"] == a["task"] and r["status"] == "ok" and r["ser"] > 0]
        offsets = [0.25 * (j / (len(sers) - 1) - 0.5) if len(sers) > 1 else 0.0 for j in range(len(sers))]
        if sers:
            ax.scatter([i + o for o in offsets], sers, s=22, color="C0", alpha=0.9, zorder=5,
                       label=labels.pop("seed", None))
        if a["ser_median"]:
            ax.hlines(a["ser_median"], i - 0.22, i + 0.22, color="k", lw=3, zorder=4, label=labels.pop("median", None))
        if a["baseline_ser"]:
            ax.hlines(a["baseline_ser"], i - 0.38, i + 0.38, color="C3", lw=1.5, ls="--", zorder=2,
                      label=labels.pop("baseline", None))
        if a["best_ser"]:
            ax.hlines(a["best_ser"], i - 0.38, i + 0.38, color="C2", lw=1.5, ls=":", zorder=2,
                      label=labels.pop("best", None))
    ax.set(yscale="log", ylabel="SER", xlabel="task (green: pass, red: fail)", xlim=(-0.6, len(aggs) - 0.4),
           title=title)
    ax.set_xticks(range(len(aggs)))
    ax.set_xticklabels([a["task"] for a in aggs], rotation=30, ha="right")
    for tick, a in zip(ax.get_xticklabels(), aggs):
        tick.set_color("C2" if a["result"].startswith("pass") else "C3")
    ax.grid(alpha=0.3, which="both", axis="y")
    ax.legend(fontsize=8, loc="best")
    save_figure(fig, path)


def train(jobs: list[Job], args: argparse.Namespace) -> tuple[int, dict[str, str]]:
    """Train every job as a trial of one sweep into ``args.out``: the exit status of
    :func:`mfcomm.tune.driver.train_all` (1 when some failed: their rows say why) and each failed trial's error."""
    status = driver.train_all({j.trial: j.config for j in jobs}, args.out, args.jobs, args.resume)
    errors = {}
    if (args.out / results.RESULTS).is_file():
        with open(args.out / results.RESULTS, newline="") as f:
            errors = {r["trial"]: r["error"] for r in csv.DictReader(f) if r["status"] == results.FAILED}
    return status, errors


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        refs = read_references()
        jobs = [Job(t, s, trial_id(t, s), results.trial_dir(args.out, trial_id(t, s)), task_config(t, s, args))
                for t in args.tasks for s in args.seeds]
    except UsageError as err:
        print(f"quality.py: error: {err}", file=sys.stderr)
        return 2
    start, status, errors = time.perf_counter(), 0, {}
    if not args.report_only:
        status, errors = train(jobs, args)
        if status not in (0, 1):  # bad input or stopped: nothing to report
            return status
    wall = None if args.report_only else time.perf_counter() - start
    rows = [read_row(j.task, j.seed, j.run_dir, errors) for j in jobs]
    order = {(j.task.id, j.seed): k for k, j in enumerate(jobs)}
    rows.sort(key=lambda r: order[(r["task"], r["seed"])])
    aggs = [aggregate(t, [r for r in rows if r["task"] == t.id], refs.get(t.id, {})) for t in args.tasks]
    meta = {"command": shlex.join([os.path.relpath(sys.executable), os.path.relpath(__file__), *argv]),
            "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "workers": driver.default_workers(args.jobs, None), "wall_seconds": wall,
            "trained": 0 if args.report_only else len(jobs),
            "settings": {"tasks": [t.id for t in args.tasks], "seeds": args.seeds, "workers": args.jobs,
                         "out": str(args.out), "iterations_scale": args.iterations_scale, "quick": args.quick,
                         "report_only": args.report_only, "resume": args.resume},
            "criteria": {"median_vs_baseline_max": MEDIAN_VS_BASELINE, "worst_vs_best_seed_max": WORST_VS_BEST_SEED}}
    if args.results_dir:
        tables = figures = Path(args.results_dir)
    elif args.quick:
        tables = figures = args.out
    else:
        tables, figures = Path("docs/results"), Path("docs/figures")
    for folder in (tables, figures):
        folder.mkdir(parents=True, exist_ok=True)
    text = markdown(aggs, meta)
    write_text(tables / "quality.json", json.dumps({**meta, "tasks": aggs, "rows": rows}, indent=2) + "\n")
    write_text(tables / "quality.md", text)
    seeds = f"seed{'s' if len(args.seeds) > 1 else ''} {','.join(map(str, args.seeds))}"
    plot(aggs, rows, figures / "quality.png",
         f"SER of the defaults' model-free systems, {seeds}" + (" (quick: not the claim)" if args.quick else ""))
    print(text)
    print(f"wrote {tables / 'quality.json'}, {tables / 'quality.md'} and {figures / 'quality.png'}")
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        print(f"quality.py: {len(bad)} of {len(rows)} runs failed or are missing (see quality.json)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
