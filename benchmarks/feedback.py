"""Late, lost and coarse feedback (``make bench-feedback``): final SER and channel uses against the feedback delay K
(with and without the staleness correction), against the fraction p of feedback frames lost, and 1-bit feedback with
K = 8 and p = 10 % together (defaults otherwise: quantile cells, ``stale_correction = auto``, which is ``none`` at
K = 8), on AWGN (M=16, n=2, 10 dB) and RBF (M=16, n=4, 20 dB), 3 seeds each.

Every run is ``mfcomm train`` with the defaults (2000 iterations) but for the options named in its row, and with
``keep_best = false`` (so the trained system is measured, never the classical fall-back) and no baseline measurement.
Ratios are of mean final SERs over the seeds, against K = 0 with perfect feedback on the same channel. Runs go two at a
time, one thread each (SERs do not depend on it beyond float rounding; the seconds shown are per run, under that load).

Prints Markdown tables, writes them to ``runs/bench/feedback.md`` and the figure of SER against K to
``docs/figures/feedback.png``.
Usage: ``python benchmarks/feedback.py [--seeds 3] [--workers 2] [--quick]`` (``--quick``: AWGN, seed 0, K and p only;
``--plot runs/bench/feedback.json`` redraws the figure from a run's saved results).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path

SETTINGS = {
    "AWGN": {"channel": "awgn", "messages": 16, "channel_uses": 2, "snr_db": 10.0},
    "RBF": {"channel": "rbf", "messages": 16, "channel_uses": 4, "snr_db": 20.0},
}
COMMON = {"keep_best": False, "compare_baseline": False}
DELAYS = (1, 2, 4, 8, 16, 32, 64, 128)
LOSSES = (0.01, 0.05, 0.1, 0.2)
AUTO_DELAY = 32  # mfcomm.learning.delay.AUTO_DELAY (not imported here: the workers import torch, the driver need not)


def variants(quick: bool) -> dict[str, dict]:
    """Row name -> the options it sets."""
    rows: dict[str, dict] = {"K=0, p=0 (perfect)": {}}
    for k in DELAYS:
        for correction in ("importance", "none"):
            rows[f"K={k} {correction}"] = {"feedback_delay": k, "stale_correction": correction}
    for p in LOSSES:
        rows[f"p={p:.0%}"] = {"feedback_loss": p}
    if not quick:
        one_bit = {"feedback": "quantized", "feedback_bits": 1}
        rows["1 bit (quantile cells, default)"] = one_bit
        rows["1 bit (uniform cells)"] = {**one_bit, "feedback_cells": "uniform"}
        rows["2 bits (quantile cells)"] = {**one_bit, "feedback_bits": 2}
        rows["noisy, std 0.5"] = {"feedback": "noisy", "feedback_noise": 0.5}
        rows["1 bit + K=8 + p=10%"] = {**one_bit, "feedback_delay": 8, "feedback_loss": 0.1}
    return rows


def train(job: tuple[str, str, dict, int]) -> tuple[str, str, int, dict]:
    """One training run: (setting, row, seed) -> SER, channel uses, seconds."""
    import torch

    from mfcomm.config.files import configure
    from mfcomm.experiment import runs

    setting, row, options, seed = job
    torch.set_num_threads(1)
    cfg = configure(overrides={**SETTINGS[setting], **COMMON, **options, "seed": seed})
    start = time.perf_counter()
    run = runs.train(cfg, quiet=True)
    assert run.ser is not None
    lost = run.metrics[-1].get("feedback_frames_lost", 0.0) if run.metrics else 0.0
    result = {"ser": run.ser.ser, "uses": run.channel_uses_spent, "seconds": time.perf_counter() - start}
    return setting, row, seed, {**result, "frames_lost": lost}


def table(setting: str, rows: dict[str, dict], results: dict) -> list[str]:
    """A Markdown table of one setting: mean SER, its ratio to perfect feedback, per-seed SERs, channel uses."""
    mean = {row: statistics.mean(r["ser"] for r in results[setting][row].values()) for row in rows}
    reference = mean["K=0, p=0 (perfect)"]
    lines = [
        f"### {setting}",
        "",
        "| feedback | mean final SER | vs perfect | SER per seed | channel uses | frames lost | s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = results[setting][row]
        per_seed = ", ".join(f"{runs[s]['ser']:.2e}" for s in sorted(runs))
        uses = statistics.mean(r["uses"] for r in runs.values())
        lost = statistics.mean(r["frames_lost"] for r in runs.values())
        seconds = statistics.mean(r["seconds"] for r in runs.values())
        lines.append(
            f"| {row} | {mean[row]:.3e} | {mean[row] / reference:.2f}x | {per_seed} | {uses:.3g} | {lost:.0f} | "
            f"{seconds:.1f} |"
        )
    return [*lines, ""]


def figure(results: dict, path: Path) -> None:
    """Mean final SER against K, with and without the correction, per setting."""
    from mfcomm.plots import save_figure, subplots

    fig, axes = subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for ax, (setting, rows) in zip(axes[0], results.items(), strict=True):
        k0 = statistics.mean(r["ser"] for r in rows["K=0, p=0 (perfect)"].values())
        for correction, style in (("importance", "o-"), ("none", "s--")):
            ks = [k for k in DELAYS if f"K={k} {correction}" in rows]
            sers = [statistics.mean(r["ser"] for r in rows[f"K={k} {correction}"].values()) for k in ks]
            label = "importance weights" if correction == "importance" else "no correction"
            ax.plot([0, *ks], [k0, *sers], style, label=label)
        ax.axvline(AUTO_DELAY, color="grey", lw=0.8, ls="-.", label=f"auto (default): none up to K = {AUTO_DELAY}")
        ax.axhline(1.1 * k0, color="grey", lw=0.8, ls=":", label="1.1x K = 0")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, 1.2 * DELAYS[-1])
        ax.set_yscale("log")
        ax.set_xlabel("feedback delay K (transmitter steps)")
        ax.set_ylabel("final SER (mean of seeds)")
        ax.set_title(setting)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--quick", action="store_true", help="AWGN, seed 0, K and p only")
    parser.add_argument("--plot", metavar="JSON", help="only draw the figure from an earlier run's feedback.json")
    args = parser.parse_args()
    if args.plot:
        saved = json.loads(Path(args.plot).read_text())["results"]
        results = {
            s: {row: {int(k): v for k, v in runs.items()} for row, runs in rows.items()} for s, rows in saved.items()
        }
        figure(results, Path("docs/figures/feedback.png"))
        return
    rows = variants(args.quick)
    settings = ["AWGN"] if args.quick else list(SETTINGS)
    seeds = [0] if args.quick else list(range(args.seeds))
    jobs = [(s, row, options, seed) for s in settings for row, options in rows.items() for seed in seeds]
    results: dict = {s: {row: {} for row in rows} for s in settings}
    start = time.perf_counter()
    os.environ["OMP_NUM_THREADS"] = "1"
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for done, (setting, row, seed, result) in enumerate(pool.imap_unordered(train, jobs), 1):
            results[setting][row][seed] = result
            print(f"[{done}/{len(jobs)}] {setting} {row} seed {seed}: SER {result['ser']:.3e}", flush=True)
    import torch

    from mfcomm.experiment.run_directory import write_text

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    took = f"{args.workers} runs at a time, one thread each; {time.perf_counter() - start:.0f} s in all"
    lines = [
        f"# Late, lost and coarse feedback ({machine}, {took})",
        "",
        f"Defaults but for each row's options, seeds {', '.join(map(str, seeds))}; keep_best off.",
        "",
    ]
    for setting in settings:
        lines += table(setting, rows, results)
    text = "\n".join(lines)
    print(text)
    out = Path("runs/bench")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "feedback.md", text)
    write_text(out / "feedback.json", json.dumps({"seeds": seeds, "results": results}, indent=1))
    figure(results, Path("docs/figures/feedback.png") if not args.quick else out / "feedback.png")


if __name__ == "__main__":
    main()
