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

The three processes run at several pipeline depths K (``feedback_delay``: the transmitter steps the tx node sends on
while losses are in flight; K = 0 is one round trip per transmitter step), each against in-process training with the
same K for bit-identical weights; iterations per second are compared with in-process training at K = 0 (today's
``mfcomm train``).

Prints a Markdown table and writes it to ``runs/bench/nodes.md``.
Usage: ``python benchmarks/nodes.py [--iterations 2000] [--seeds 5] [--depths 1,2,4]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

from mfcomm.config.files import configure
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import write_text
from mfcomm.nodes.launcher import run_all
from mfcomm.nodes.schedule import NODE_DELAY

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
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0, 1, ...: one repeat each")
    parser.add_argument("--depths", default="1,2,4", help="pipeline depths (feedback_delay K) to measure")
    args = parser.parse_args()
    torch.set_num_threads(1)
    depths = [0, *map(int, args.depths.split(","))]
    rows, identical = [], []
    scratch = Path(tempfile.mkdtemp(prefix="mfcomm-bench-nodes-"))
    try:
        for seed in range(args.seeds):
            rates: dict[str, float] = {}
            sers: dict[str, runs.Run] = {}
            for k in depths:
                cfg = configure(overrides={**SETTING, "iterations": args.iterations, "seed": seed, "feedback_delay": k})
                ours = runs.train(cfg, quiet=True)
                if k == 0:
                    rates["in-process"], sers["in-process"] = cfg.iterations / ours.train_seconds, ours
                theirs = run_all(cfg, scratch / f"{seed}-{k}", quiet=True)
                rates[f"K={k}"], sers[f"K={k}"] = cfg.iterations / theirs.train_seconds, theirs
                identical.append(same_weights(ours, theirs))
            rows.append((seed, rates, sers))
            print(f"seed {seed}: " + ", ".join(f"{n} {r:.0f} it/s" for n, r in rates.items()), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    names = list(rows[0][1])
    median = {n: statistics.median(r[n] for _, r, _ in rows) for n in names}
    ratio = {n: statistics.median(r[n] / r["in-process"] for _, r, _ in rows) for n in names}
    header = " | ".join(f"three processes {n} it/s" if n != "in-process" else "in-process it/s" for n in names)
    lines = [
        f"# Three-process vs in-process training ({platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, one thread per process)",
        "",
        f"M={cfg.messages}, n={cfg.channel_uses}, batch {cfg.batch_size}, {cfg.channel} at {cfg.snr_db:g} dB, "
        f"{cfg.iterations} iterations, seeds 0-{args.seeds - 1}; K = feedback_delay, the pipeline's depth "
        "(K = 0: one round trip per transmitter step).",
        "",
        f"| seed | {header} | in-process SER [95% CI] | three-process K={NODE_DELAY} SER [95% CI] |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for seed, rates, sers in rows:
        cells = " | ".join(f"{rates[n]:.0f}" for n in names)
        lines.append(f"| {seed} | {cells} | {ser_text(sers['in-process'])} | {ser_text(sers[f'K={NODE_DELAY}'])} |")
    ratios = ", ".join(f"{n} {ratio[n]:.2f}x ({median[n]:.0f} it/s)" for n in names if n != "in-process")
    lines += [
        "",
        f"Three processes against in-process iterations/s, the median over seeds of each seed's ratio (in-process "
        f"median {median['in-process']:.0f} it/s): {ratios}; the nodes' default depth is K = {NODE_DELAY}.",
        f"Trained weights identical to in-process training with the same K, bit for bit, for every seed and K: "
        f"{'yes' if all(identical) else 'NO'}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path("runs/bench")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "nodes.md", text)


if __name__ == "__main__":
    main()
