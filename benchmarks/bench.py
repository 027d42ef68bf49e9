"""Speed and memory figures (``make bench``): training iterations/s and channel uses/s for both methods,
the library's training loop against a minimal hand-written PyTorch loop of the same networks, evaluation
messages/s against a plain PyTorch evaluation loop, and peak memory.

Prints a Markdown table and writes it to ``runs/bench/bench.md`` (and ``bench.csv``).
Usage: ``python benchmarks/bench.py [--iterations 400] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mfcomm.channels.contract import AWGN
from mfcomm.config.fields import EVAL_BATCH
from mfcomm.config.files import configure
from mfcomm.evaluation.ser import learned_ser
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import write_csv, write_text
from mfcomm.learning.estimator import perturb, surrogate
from mfcomm.system.build import build_system
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

SETTING = {"channel": "awgn", "messages": 16, "channel_uses": 2, "snr_db": 10.0}


def minimal_model_free(tx: Transmitter, rx: Receiver, channel: AWGN, iterations: int, batch: int,
                       sigma2: float) -> None:
    """The reference: the paper's loop written by hand, nothing but the tensor work."""
    opt_rx, opt_tx = torch.optim.Adam(rx.parameters(), 3e-3), torch.optim.Adam(tx.parameters(), 3e-3)
    for _ in range(iterations):
        m = torch.randint(16, (batch,))
        with torch.no_grad():
            y = channel(tx(m))
        loss = F.cross_entropy(rx(y), m)
        opt_rx.zero_grad()
        loss.backward()
        opt_rx.step()
        m = torch.randint(16, (batch,))
        xbar = tx(m)
        x_p = perturb(xbar, sigma2)
        with torch.no_grad():
            losses = F.cross_entropy(rx(channel(x_p)), m, reduction="none")
        opt_tx.zero_grad()
        surrogate(losses, x_p, xbar, sigma2).backward()
        opt_tx.step()


def minimal_model_based(tx: Transmitter, rx: Receiver, channel: AWGN, iterations: int, batch: int) -> None:
    """The reference for model-based training."""
    opt = torch.optim.Adam([*tx.parameters(), *rx.parameters()], 3e-3)
    for _ in range(iterations):
        m = torch.randint(16, (batch,))
        loss = F.cross_entropy(rx(channel(tx(m))), m)
        opt.zero_grad()
        loss.backward()
        opt.step()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def training_rows(iterations: int, repeats: int) -> list[dict]:
    """Median seconds per iteration, library against reference, interleaved to share machine noise."""
    rows = []
    for method in ("model-free", "model-based"):
        cfg = configure(overrides={**SETTING, "method": method, "iterations": iterations})
        lib_times, ref_times = [], []
        for r in range(repeats + 1):  # the first round warms up and is dropped
            cfg.seed = r
            t_lib = timed(lambda: runs.train(cfg, quiet=True, evaluate=False))  # what `mfcomm train` runs
            torch.manual_seed(r)
            tx, rx = build_system(cfg)
            if method == "model-free":
                t_ref = timed(lambda: minimal_model_free(tx, rx, AWGN(cfg.n0), iterations, cfg.batch_size, cfg.exploration_sigma2))
            else:
                t_ref = timed(lambda: minimal_model_based(tx, rx, AWGN(cfg.n0), iterations, cfg.batch_size))
            if r:
                lib_times.append(t_lib)
                ref_times.append(t_ref)
        lib, ref = statistics.median(lib_times), statistics.median(ref_times)
        uses_per_it = cfg.batch_size * cfg.channel_uses * (2 if method == "model-free" else 1)
        rows.append({"figure": f"{method} training (M=16, n=2, batch {cfg.batch_size}, {iterations} iterations)",
                     "library": f"{iterations / lib:,.0f} it/s, {uses_per_it * iterations / lib / 1e6:.2f} M uses/s",
                     "reference": f"{iterations / ref:,.0f} it/s (minimal hand-written loop)",
                     "ratio": f"library costs {100 * (lib / ref - 1):+.1f}% per iteration"})
    return rows


def plain_evaluation(tx: Transmitter, rx: Receiver, channel: AWGN, messages: int, batch: int) -> int:
    """The reference: a plain PyTorch evaluation loop over the same networks."""
    errors = 0
    with torch.no_grad():
        for _ in range(messages // batch):
            m = torch.randint(16, (batch,))
            errors += int((rx(channel(tx(m))).argmax(1) != m).sum())
    return errors


def evaluation_rows(messages: int, repeats: int) -> list[dict]:
    """The library's Monte Carlo SER (its own batching) against a plain loop at a typical large batch."""
    cfg = configure(overrides={**SETTING, "rx_hidden": [128, 128]})
    tx, rx = build_system(cfg)
    channel = AWGN(cfg.n0)
    lib = statistics.median(timed(lambda: learned_ser(tx, rx, channel, 10**12, messages, messages))
                            for _ in range(repeats))
    batch = 1 << 16
    ref = statistics.median(timed(lambda: plain_evaluation(tx, rx, channel, messages, batch)) for _ in range(repeats))
    return [{"figure": "evaluation messages/s (M=16, n=2, receiver 128-128)",
             "library": f"{messages / lib / 1e6:.2f} M msg/s (batches of {EVAL_BATCH})",
             "reference": f"{messages // batch * batch / ref / 1e6:.2f} M msg/s (plain loop, batches of {batch})",
             "ratio": f"{messages / lib / (messages // batch * batch / ref):.2f}x the plain loop"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eval-messages", type=int, default=4_000_000)
    parser.add_argument("--out", default="runs/bench")
    args = parser.parse_args()
    rows = training_rows(args.iterations, args.repeats) + evaluation_rows(args.eval_messages, args.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append({"figure": "peak resident memory of this benchmark", "library": f"{peak:.0f} MiB",
                 "reference": "", "ratio": ""})
    header = (f"mfcomm benchmark on {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
              f"torch threads, torch {torch.__version__}\n\n")
    table = "| figure | library | reference | comparison |\n|---|---|---|---|\n" + "".join(
        f"| {r['figure']} | {r['library']} | {r['reference']} | {r['ratio']} |\n" for r in rows)
    print(header + table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bench.md", header + table)
    write_csv(out / "bench.csv", rows)
    print(f"wrote {out / 'bench.md'}")


if __name__ == "__main__":
    main()
