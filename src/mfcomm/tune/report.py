"""The sweep's report: ``report.md`` with a figure of SER against each swept key (the spread over seeds), a table
of configurations, and the best configuration as ``best-config.toml``, ready for ``mfcomm train --config``.

A configuration is a trial's swept values without its seed; the trials of a configuration differ by seed
only. The best configuration has the lowest (``mode = "max"``: highest) mean ``metric`` over its finished
trials; ``best-config.toml`` is the resolved configuration of its best trial.

Example
-------
>>> import tempfile, pathlib
>>> from mfcomm.tune import spec
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "s.toml").write_text("[base]\\niterations = 10\\n[grid]\\nsigma2 = [0.05, 0.1]\\nseed = [1, 2]\\n")
>>> sweep = spec.parse(folder / "s.toml")
>>> values = {t.id: {"ser": 0.01 * (i + 1), "status": "ok"} for i, t in enumerate(sweep.trials)}
>>> best, trials = best_configuration(sweep, values)
>>> best, [t.id for t in trials]
('sigma2=0.05', ['t000', 't001'])
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from mfcomm.config.files import to_toml
from mfcomm.experiment.run_directory import write_text
from mfcomm.plots import save_figure, subplots
from mfcomm.tune.metrics import LABELS, measure, score
from mfcomm.tune.results import FAILED, OK, STOPPED, trial_config
from mfcomm.tune.spec import Sweep, Trial

BEST = "best-config.toml"


def configurations(sweep: Sweep, values: dict[str, dict[str, Any]]) -> dict[str, list[Trial]]:
    """The finished (``ok``) trials by configuration label (swept values without the seed), in trial order."""
    groups: dict[str, list[Trial]] = {}
    for trial in sweep.trials:
        if values.get(trial.id, {}).get("status") == OK:
            label = ", ".join(f"{k}={v}" for k, v in _setting(trial, sweep).items()) or "base"
            groups.setdefault(label, []).append(trial)
    return groups


def best_configuration(sweep: Sweep, values: dict[str, dict[str, Any]]) -> tuple[str, list[Trial]] | None:
    """The configuration with the best mean ``sweep.metric`` over its trials, its trials best first; None if
    no trial finished."""
    groups = configurations(sweep, values)
    if not groups:
        return None
    label = min(groups, key=lambda g: _rank(sweep, [values[t.id] for t in groups[g]]))
    return label, sorted(groups[label], key=lambda t: _rank(sweep, [values[t.id]]))


def _rank(sweep: Sweep, values: list[dict[str, Any]]) -> float:
    """The mean of ``sweep.metric`` over trials' values, signed so that lower ranks first (not reached: last)."""
    sign = 1 if sweep.mode == "min" else -1
    return sign * statistics.fmean(score(v[sweep.metric], sweep.mode) for v in values)


def write_report(out: Path, sweep: Sweep, values: dict[str, dict[str, Any]], spec: Path | None = None) -> str | None:
    """``out/report.md``, its figures and ``out/best-config.toml`` (when a trial finished); returns the best
    configuration's label. ``spec``: the SPEC file the title names (else the sweep directory's name)."""
    best = best_configuration(sweep, values)
    if best:
        write_text(out / BEST, to_toml(trial_config(best[1][0].cfg)))
    figures = [_figure(out, key, sweep, values) for key in sweep.swept if key != "seed"]
    counts = {s: sum(v["status"] == s for v in values.values()) for s in (OK, STOPPED, FAILED)}
    lines = [
        f"# Sweep {(spec or out).name}",
        "",
        (
            f"{len(sweep.trials)} trials: {counts[OK]} ok, {counts[STOPPED]} stopped early, {counts[FAILED]} failed, "
            f"{len(sweep.trials) - len(values)} not run; swept: {', '.join(sweep.swept) or 'nothing'}. One row per "
            "trial in `results.csv`; each trial's run directory in `trials/<id>/`."
        ),
        "",
    ]
    if best:
        lines += _best_section(out, sweep, values, *best)
    lines += _table(sweep, values)
    keys = [k for k in sweep.swept if k != "seed"]
    if figures:
        lines += [
            f"## {_label(sweep)} against each swept key",
            "",
            (
                "Mean over seeds, bars from the lowest to the highest seed, "
                "dots for each seed; one line per setting of the other swept keys."
            ),
            "",
        ]
    lines += [f"![{_label(sweep)} against {key}]({name})\n" for key, name in zip(keys, figures, strict=True)]
    failures = [(t, values[t.id]["error"]) for t in sweep.trials if values.get(t.id, {}).get("status") == FAILED]
    if failures:
        lines += ["", "## Failed trials", "", "| trial | values | error |", "|---|---|---|"]
        lines += [f"| {t.id} | {t.label()} | {error.replace('|', '/')} |" for t, error in failures]
    write_text(out / "report.md", "\n".join(lines) + "\n")
    return best[0] if best else None


def _best_section(
    out: Path, sweep: Sweep, values: dict[str, dict[str, Any]], label: str, trials: list[Trial]
) -> list[str]:
    scores = [values[t.id][sweep.metric] for t in trials]
    reached = [s for s in scores if s != ""]
    mean = f"{statistics.fmean(reached):.4g}" if reached else "not reached"
    mean += f" ({len(reached)} reached it)" if reached and len(reached) < len(scores) else ""
    best = f"{scores[0]:.4g}" if scores[0] != "" else "not reached"
    return [
        "## Best configuration",
        "",
        (
            f"**{label}**: mean {sweep.metric} {mean} over {len(trials)} seed(s); its "
            f"best trial, {trials[0].id} (seed {trials[0].cfg.seed}, {sweep.metric} {best}), has its whole "
            f"configuration in `{BEST}`: `mfcomm train --config {out / BEST}` trains it again."
        ),
        "",
    ]


def _table(sweep: Sweep, values: dict[str, dict[str, Any]]) -> list[str]:
    """Configurations best first: seeds, mean, min and max of the measure over them (SER: the symbols task's),
    mean channel uses and seconds."""
    groups, name, column = configurations(sweep, values), _label(sweep), _measure(sweep)
    order = sorted(groups, key=lambda g: _rank(sweep, [values[t.id] for t in groups[g]]))
    lines = [
        "## Configurations",
        "",
        f"| configuration | seeds | mean {name} | min {name} | max {name} | channel uses | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in order:
        v = [values[t.id] for t in groups[label]]
        got = [x[column] for x in v if x[column] != ""]
        form = ".3e" if column in ("ser", "bler") else ".4g"
        cells = [f"{f(got):{form}}" if got else "not reached" for f in (statistics.fmean, min, max)]
        lines.append(
            f"| {label} | {len(v)} | {' | '.join(cells)} | "
            f"{statistics.fmean(x['channel_uses_spent'] for x in v):.4g} | "
            f"{statistics.fmean(x['train_seconds'] for x in v):.1f} |"
        )
    return [*lines, ""]


def _figure(out: Path, key: str, sweep: Sweep, values: dict[str, dict[str, Any]]) -> str:
    """``<measure>-<key>.png`` (``ser-<key>.png`` for the symbols task): the measure's mean over seeds against
    ``key`` with min-max bars, one line per setting of the other swept keys (trials that did not reach it left
    out). Returns the file name."""
    groups, column = configurations(sweep, values), _measure(sweep)
    series: dict[str, list[tuple[Any, list[float]]]] = {}
    for trials in groups.values():
        setting = _setting(trials[0], sweep)
        x = setting.pop(key)
        name = ", ".join(f"{k}={v}" for k, v in setting.items())
        reached = [values[t.id][column] for t in trials if values[t.id][column] != ""]
        if reached:
            series.setdefault(name, []).append((x, reached))
    xs = [x for points in series.values() for x, _ in points]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    categories = sorted({str(x) for x in xs})
    fig, ax = subplots(figsize=(6, 4))
    for name, points in series.items():
        points.sort(key=lambda p: p[0] if numeric else categories.index(str(p[0])))
        pos = np.array([p[0] if numeric else categories.index(str(p[0])) for p in points], dtype=float)
        mean = np.array([np.mean(s) for s in (p[1] for p in points)])
        spread = np.array([[m - min(p[1]), max(p[1]) - m] for m, p in zip(mean, points, strict=True)]).T
        line = ax.errorbar(pos, mean, yerr=spread, marker="o", capsize=3, label=name or None)
        for x, p in zip(pos, points, strict=True):  # each seed's trial
            ax.scatter([x] * len(p[1]), p[1], s=10, alpha=0.4, color=line[0].get_color())
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    elif xs and min(xs) > 0 and max(xs) >= 20 * min(xs):
        ax.set_xscale("log")
    shown = [s for points in series.values() for _, p in points for s in p]
    if column in ("ser", "bler") and shown and min(shown) > 0:
        ax.set_yscale("log")
    label = _label(sweep)
    ax.set(xlabel=key, ylabel=f"{label} (mean over seeds, min to max)", title=f"{label} against {key}")
    ax.grid(alpha=0.3, which="both")
    if 1 < len(series) <= 8:
        ax.legend(fontsize=7)
    name = f"{column}-{key}.png"
    save_figure(fig, out / name)
    return name


def _setting(trial: Trial, sweep: Sweep) -> dict[str, Any]:
    """The trial's swept values except the seed, as resolved."""
    return {k: getattr(trial.cfg, k) for k in sweep.swept if k != "seed"}


def _measure(sweep: Sweep) -> str:
    return measure(sweep.task, sweep.metric)


def _label(sweep: Sweep) -> str:
    return LABELS[_measure(sweep)]
