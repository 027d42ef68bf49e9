"""Sample efficiency (``make bench-efficiency``): channel uses and wall time to reach a target SER.

For AWGN (M=16, n=2, Es/N0 10 dB) and Rayleigh block fading (M=16, n=4, 20 dB), over seeds 0-2:
model-based training, the paper's model-free estimator, and the best variant found here. The target is
within 10% of the converged model-based SER (the mean final SER of the model-based runs, whose budget
is long enough to converge). SER is probed during training on fresh messages; probing time is excluded.
Also: final SER against sigma2 (plain estimator), and the cost of imperfect feedback on AWGN.

Writes ``runs/efficiency/`` (efficiency.md, CSV files, figures) and prints the tables.
Usage: ``python benchmarks/efficiency.py [--quick]``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

from mfcomm.experiment.run_directory import write_csv, write_text
from mfcomm.plots import save_figure, subplots
from mfcomm.tune import driver, results

CHANNELS = {
    "awgn": {"channel": "awgn", "messages": 16, "channel_uses": 2, "snr_db": 10.0, "iterations": 6000},
    "rbf": {"channel": "rbf", "messages": 16, "channel_uses": 4, "snr_db": 20.0, "iterations": 4000},
}
METHODS = {  # the paper's recipe pins the settings these figures were first measured with
    "model-based": {"method": "model-based", "recipe": "paper"},
    "model-free (paper)": {"method": "model-free", "recipe": "paper"},
    "model-free (best)": {"method": "model-free", "recipe": "paper", "rx_steps": 0, "rx_on_tx_batch": True,
                          "loss_baseline": "batch", "finetune_iterations": 300},
    "model-free (defaults)": {"method": "model-free"},
}
SEEDS = (0, 1, 2)
SIGMA2 = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
PROBE = {"ser_every": 100, "ser_messages": 1 << 18, "eval_messages": 1_000_000}


def spread(values: list[float]) -> str:
    """Mean with the range over seeds."""
    return f"{statistics.mean(values):.3g} [{min(values):.3g}, {max(values):.3g}]"


FEEDBACK = {
    "perfect": {},
    "noisy, std 0.1": {"feedback": "noisy", "feedback_noise": 0.1},
    "quantized 4 bits": {"feedback": "quantized", "feedback_bits": 4},
    "quantized 2 bits": {"feedback": "quantized", "feedback_bits": 2},
    "quantized 1 bit": {"feedback": "quantized", "feedback_bits": 1},
    "quantized 1 bit + batch baseline": {"feedback": "quantized", "feedback_bits": 1, "loss_baseline": "batch"},
    "quantized 1 bit, uniform cells + batch baseline": {
        "feedback": "quantized",
        "feedback_bits": 1,
        "feedback_cells": "uniform",
        "loss_baseline": "batch",
    },
}


def slug(text: str) -> str:
    """A trial name from a label: ``model-free (paper)`` -> ``model-free-paper``."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def trials(quick: bool) -> dict[str, dict]:
    """Every training of the three studies, by trial name: ``eff-<channel>-<method>-s<seed>``,
    ``sigma2-<channel>-<sigma2>-s<seed>``, ``feedback-<kind>-s<seed>``."""
    seeds = SEEDS[:1] if quick else SEEDS
    named = {}
    for name, setting in CHANNELS.items():
        setting = {**setting, "iterations": 300} if quick else setting
        for method, over in METHODS.items():
            for s in seeds:
                named[f"eff-{name}-{slug(method)}-s{s}"] = {**setting, **PROBE, **over, "seed": s}
    for name, setting in CHANNELS.items():
        for sigma2 in ((0.1,) if quick else SIGMA2):
            for s in seeds:
                named[f"sigma2-{name}-{sigma2}-s{s}"] = {**setting, "iterations": 200 if quick else 2000,
                                                         "sigma2": sigma2, "seed": s}
    for kind, over in FEEDBACK.items():
        for s in seeds:
            named[f"feedback-{slug(kind)}-s{s}"] = {**CHANNELS["awgn"], "iterations": 200 if quick else 3000, **over,
                                                   "seed": s}
    return named


def efficiency(out: Path, quick: bool) -> tuple[list[dict], list[dict]]:
    seeds = SEEDS[:1] if quick else SEEDS
    rows, curves = [], []
    for name in CHANNELS:
        ids = {m: [f"eff-{name}-{slug(m)}-s{s}" for s in seeds] for m in METHODS}
        target = 1.1 * statistics.mean(results.summary(out, i)["ser"] for i in ids["model-based"])
        for method, trial_ids in ids.items():
            hits, sums = [], [results.summary(out, i) for i in trial_ids]
            for trial_id, summary in zip(trial_ids, sums):
                probes = [row for row in results.metrics(out, trial_id) if "ser" in row]
                hits.append(next((row for row in probes if row["ser"] <= target), None))
                curves.append({"channel": name, "method": method, "seed": summary["seed"],
                               "uses": [row["channel_uses"] for row in probes],
                               "ser": [row["ser"] for row in probes], "target": target})
            reached = [h for h in hits if h]
            rows.append({
                "channel": name, "method": method, "target_ser": f"{target:.3g}",
                "reached": f"{len(reached)}/{len(sums)}",
                "channel_uses_to_target": spread([h["channel_uses"] for h in reached]) if reached else "not reached",
                "seconds_to_target": spread([h["seconds"] for h in reached]) if reached else "",
                "final_ser": spread([r["ser"] for r in sums]),
                "final_ser_ci_seed0": f"[{sums[0]['ser_ci'][0]:.3g}, {sums[0]['ser_ci'][1]:.3g}]",
                "iterations": sums[0]["iterations"], "channel_uses_spent": sums[0]["channel_uses_spent"],
            })
    return rows, curves


def sigma2_sweep(out: Path, quick: bool) -> list[dict]:
    rows = []
    for name in CHANNELS:
        for sigma2 in ((0.1,) if quick else SIGMA2):
            sers = [results.summary(out, f"sigma2-{name}-{sigma2}-s{s}")["ser"] for s in SEEDS[: 1 if quick else 3]]
            rows.append({"channel": name, "sigma2": sigma2, "final_ser": spread(sers), "mean": statistics.mean(sers)})
    return rows


def feedback_costs(out: Path, quick: bool) -> list[dict]:
    rows = []
    for kind in FEEDBACK:
        ids = [f"feedback-{slug(kind)}-s{s}" for s in SEEDS[: 1 if quick else 3]]
        sums = [results.summary(out, i) for i in ids]
        bits = results.metrics(out, ids[0])[-1]["feedback_bits"]
        rows.append({"feedback": kind, "final_ser": spread([r["ser"] for r in sums]),
                     "mean": statistics.mean(r["ser"] for r in sums),
                     "feedback_bits_per_channel_use": f"{bits / sums[0]['channel_uses_spent']:.3g}",
                     "channel_uses_spent": sums[0]["channel_uses_spent"]})
    perfect = rows[0]["mean"]
    for row in rows:
        row["ser_vs_perfect"] = f"{row['mean'] / perfect:.2f}x"
    return rows


def markdown(rows: list[dict], columns: list[str]) -> str:
    return ("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
            + "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows))


def plot(curves: list[dict], sweep: list[dict], path: Path) -> None:
    fig, axes = subplots(1, 3, figsize=(18, 4.2))
    colors = {m: f"C{i}" for i, m in enumerate(METHODS)}
    for ax, name in zip(axes, CHANNELS):
        for c in (c for c in curves if c["channel"] == name):
            ax.plot(c["uses"], c["ser"], color=colors[c["method"]], alpha=0.8,
                    label=c["method"] if c["seed"] == 0 else None)
            ax.axhline(c["target"], color="k", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="channel uses spent", ylabel="SER (probe)",
               title=f"{name}: SER while training (3 seeds; dotted: target)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for name in CHANNELS:
        part = [r for r in sweep if r["channel"] == name]
        axes[2].plot([r["sigma2"] for r in part], [r["mean"] for r in part], "o-", label=name)
    axes[2].set(xscale="log", yscale="log", xlabel="sigma^2", ylabel="final SER (mean of seeds)",
                title="plain estimator: final SER against sigma^2")
    axes[2].grid(alpha=0.3, which="both")
    axes[2].legend()
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script, not the claim")
    parser.add_argument("--out", default="runs/efficiency")
    parser.add_argument("--workers", type=int, help="trainings at a time, one thread each (default: the cores)")
    parser.add_argument("--resume", action="store_true", help="run only the trainings that did not finish")
    args = parser.parse_args()
    out = Path(args.out)
    trained = driver.train_all(trials(args.quick), out / "sweep", args.workers, args.resume)
    if trained:
        return trained
    rows, curves = efficiency(out / "sweep", args.quick)
    sweep = sigma2_sweep(out / "sweep", args.quick)
    feedback = feedback_costs(out / "sweep", args.quick)
    text = ("## Channel uses and wall time to reach the target SER\n\n"
            + markdown(rows, ["channel", "method", "target_ser", "reached", "channel_uses_to_target",
                              "seconds_to_target", "final_ser", "final_ser_ci_seed0"])
            + "\n## Final SER against sigma^2 (plain estimator, 2000 iterations)\n\n"
            + markdown(sweep, ["channel", "sigma2", "final_ser"])
            + "\n## Imperfect feedback on AWGN (3000 iterations)\n\n"
            + markdown(feedback, ["feedback", "final_ser", "ser_vs_perfect", "feedback_bits_per_channel_use",
                                  "channel_uses_spent"])
            + "\nValues are mean [min, max] over seeds 0-2. Every training is a trial of one sweep (`mfcomm.tune`, "
              f"{out / 'sweep'}: results.csv, report.md, each run directory), one thread each, as many at a time as "
              "there are cores: seconds are those of a trial sharing the machine.\n")
    print(text)
    write_text(out / "efficiency.md", text)
    write_csv(out / "efficiency.csv", rows)
    write_csv(out / "sigma2.csv", sweep)
    write_csv(out / "feedback.csv", feedback)
    plot(curves, sweep, out / "efficiency.png")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
