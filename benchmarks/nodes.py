"""Three-process training against in-process training (``make bench-nodes``): training iterations per second
and final SER, same configuration, seeds and budget (M=16, n=2, batch 512, AWGN at 10 dB, 2000 iterations).

In-process is ``mfcomm train``'s loop (``runs.train``); three-process is ``mfcomm node all`` (``run_all``:
three processes over loopback TCP). Iterations per second count training only: for three processes, the
tx node's time from its first iteration to its last (process start-up, handshake and the final SER
measurement excluded; its periodic checkpoints included); the wall time of each whole command is shown
too. Every process computes on one thread. The two alternate, seed by seed, to share the machine's noise.

The two draw different random samples from the same seed (``mfcomm train`` uses torch's global generator,
the nodes one generator per role), so their SERs agree in distribution, not sample by sample: compare the
means over seeds against the seed-to-seed spread. It also checks that the three-process weights equal, bit
for bit, in-process training with the nodes' per-role streams (:func:`mfcomm.nodes.streams.train_in_process`).

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

from mfcomm import runs
from mfcomm.config import resolve
from mfcomm.nodes.launcher import run_all
from mfcomm.nodes.streams import train_in_process
from mfcomm.runs import write_text

SETTING = {"channel": "awgn", "messages": 16, "channel_uses": 2, "snr_db": 10.0, "batch_size": 512}


def ser_text(run: runs.Run) -> str:
    s = run.ser
    return f"{s.ser:.2e} [{s.ci_low:.2e}, {s.ci_high:.2e}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0, 1, ...: one repeat each")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = ("in-process", "three processes")
    rows, rates = [], {name: [] for name in names}
    scratch = Path(tempfile.mkdtemp(prefix="mfcomm-bench-nodes-"))
    try:
        for seed in range(args.seeds):
            cfg = resolve(overrides={**SETTING, "iterations": args.iterations, "seed": seed})
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
        tx, rx, _ = train_in_process(cfg)
        nodes = results["three processes"][0]
        ours = [*nodes.tx.state_dict().values(), *nodes.rx.state_dict().values()]
        identical = all(torch.equal(a, b) for a, b in zip([*tx.state_dict().values(), *rx.state_dict().values()], ours))
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
        f"Three-process weights (seed {args.seeds - 1}) equal in-process training with the same per-role streams, "
        f"bit for bit: {'yes' if identical else 'NO'}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path("runs/bench")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "nodes.md", text)


if __name__ == "__main__":
    main()
