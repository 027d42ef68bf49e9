"""Three-process training against in-process training (``make bench-nodes``): training iterations per second
and final SER, same configuration, seeds and budget (M=16, n=2, batch 512, AWGN at 10 dB, 2000 iterations).

In-process is ``mfcomm train``'s loop (``runs.train``); three-process is ``mfcomm node all`` (``run_all``:
three processes over loopback TCP). Iterations per second count training only: for three processes, the
tx node's time from its first iteration to its last (process start-up, handshake and the final SER
measurement excluded; its periodic checkpoints included); the wall time of each whole command is shown
too. Every process computes on one thread. The two alternate, seed by seed, to share the machine's noise.

Both draw from the same per-role generators (:mod:`mfcomm.learning.seeding`), so for each seed the trained
weights must be identical, bit for bit (checked per seed); the two final SERs are then two independent
measurements of one system (``mfcomm train`` in one process, the nodes through the channel node), whose
confidence intervals must overlap.

Prints a Markdown table and writes it to ``runs/bench/nodes.md``.
Usage: ``python benchmarks/nodes.py [--iterations 2000] [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mfcomm.config.files import configure
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import write_text
from mfcomm.nodes.launcher import run_all

SETTING = {"channel": "awgn", "messages": 16, "channel_uses": 2, "snr_db": 10.0, "batch_size": 512}


def ser_text(run: runs.Run) -> str:
    s = run.ser
    return f"{s.ser:.2e} [{s.ci_low:.2e}, {s.ci_high:.2e}]"


def same_weights(a: runs.Run, b: runs.Run) -> bool:
    """Both runs' transmitter and receiver weights are equal, tensor by tensor."""
    ours = [*a.tx.state_dict().values(), *a.rx.state_dict().values()]
    theirs = [*b.tx.state_dict().values(), *b.rx.state_dict().values()]
    return len(ours) == len(theirs) and all(torch.equal(x, y) for x, y in zip(ours, theirs))


def overlap(a: runs.Run, b: runs.Run) -> bool:
    """The two final SER confidence intervals overlap."""
    return a.ser.ci_low <= b.ser.ci_high and b.ser.ci_low <= a.ser.ci_high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0, 1, ...: one repeat each")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = ("in-process", "three processes")
    rows, rates, identical = [], {name: [] for name in names}, []
    scratch = Path(tempfile.mkdtemp(prefix="mfcomm-bench-nodes-"))
    try:
        for seed in range(args.seeds):
            cfg = configure(overrides={**SETTING, "iterations": args.iterations, "seed": seed})
            results = {}
            for name in names:
                start = time.perf_counter()
                if name == "in-process":
                    run = runs.train(cfg, quiet=True)
                else:
                    run = run_all(cfg, scratch / f"{seed}", quiet=True)
                results[name] = (run, time.perf_counter() - start)
                rates[name].append(cfg.iterations / run.train_seconds)
            rows.append((seed, results))
            print(f"seed {seed}: " + ", ".join(f"{n} {rates[n][-1]:.0f} it/s, SER {ser_text(results[n][0])}"
                                               for n in names), flush=True)
            identical.append(same_weights(results["in-process"][0], results["three processes"][0]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    median = {n: statistics.median(rates[n]) for n in names}
    sers = {n: [results[n][0].ser.ser for _, results in rows] for n in names}
    lines = [
        f"# Three-process vs in-process training ({platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, one thread per process)",
        "",
        f"M={cfg.messages}, n={cfg.channel_uses}, batch {cfg.batch_size}, {cfg.channel} at {cfg.snr_db:g} dB, "
        f"{cfg.iterations} iterations, seeds 0-{args.seeds - 1}.",
        "",
        "| seed | in-process it/s | three processes it/s | wall s (in / three) | in-process SER [95% CI] | "
        "three-process SER [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for seed, results in rows:
        (a, wa), (b, wb) = results["in-process"], results["three processes"]
        lines.append(f"| {seed} | {cfg.iterations / a.train_seconds:.0f} | {cfg.iterations / b.train_seconds:.0f} | "
                     f"{wa:.1f} / {wb:.1f} | {ser_text(a)} | {ser_text(b)} |")
    lines += [
        "",
        f"Median iterations/s: in-process {median['in-process']:.0f}, three processes {median['three processes']:.0f}: "
        f"**{median['three processes'] / median['in-process']:.2f}x**.",
        f"Mean SER over seeds: in-process {statistics.mean(sers['in-process']):.2e} (seeds span "
        f"{min(sers['in-process']):.2e} to {max(sers['in-process']):.2e}), three processes "
        f"{statistics.mean(sers['three processes']):.2e} ({min(sers['three processes']):.2e} to "
        f"{max(sers['three processes']):.2e}).",
        f"Trained weights identical, bit for bit, for every seed: {'yes' if all(identical) else 'NO'}; "
        f"final SER intervals overlap for every seed: {'yes' if all(overlap(*(r[n][0] for n in names)) for _, r in rows) else 'NO'}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path("runs/bench")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "nodes.md", text)


if __name__ == "__main__":
    main()
