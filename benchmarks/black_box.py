"""What a black box's worker process costs: the default configuration trained through a NumPy AWGN function
given as a Python function object (``mfcomm.train(cfg, channel=f)``: mfcomm's process, a worker thread) and
as the same function in a file (``cfg.channel = "PATH.py:f"``: a worker process, :mod:`mfcomm.channels.worker`).

1. Training: both ways alternated (A, B, A, B, ...), ``--repeats`` times each; median wall times and their ratio.
2. Per call: the median time of one call on a (1024, 2) complex64 batch (the default batch), over ``--calls``
   calls, through the worker process, through the in-process black box, and of the bare function.

Prints a Markdown table. Usage: ``python benchmarks/black_box.py [--iterations 5000] [--repeats 2]
[--calls 2000] [--quick]``. Other work on the machine moves the training times a lot: compare the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import math
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import mfcomm
from mfcomm.channels.contract import BlackBox

AWGN = """import numpy as np

rng = np.random.default_rng({seed})
SCALE = np.float32({scale!r})  # sqrt(N0 / 2) on each of the real and imaginary parts


def f(x):
    w = rng.standard_normal(x.shape + (2,), dtype=np.float32).view(np.complex64)[..., 0]
    return x + SCALE * w
"""
HERE, PROCESS = "function object (in-process)", "PATH.py:f (worker process)"


def awgn_file(directory: Path, n0: float, seed: int) -> Path:
    """A file holding ``f``, AWGN of variance ``n0`` per complex symbol in NumPy."""
    path = directory / "awgn.py"
    path.write_text(AWGN.format(seed=seed, scale=math.sqrt(n0 / 2)))
    return path


def load(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """``f`` of ``path``, imported here: the function object a user passes to ``mfcomm.train``."""
    spec = importlib.util.spec_from_file_location("bench_awgn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def training(cfg: mfcomm.Config, path: Path, repeats: int) -> dict[str, list[float]]:
    """Wall times of ``repeats`` trainings each way, alternated (each with a fresh function and fresh noise)."""
    in_file = dataclasses.replace(cfg, channel=f"{path}:f")
    times: dict[str, list[float]] = {HERE: [], PROCESS: []}
    for _ in range(repeats):
        ways = {
            HERE: functools.partial(mfcomm.train, cfg, channel=load(path)),
            PROCESS: functools.partial(mfcomm.train, in_file),
        }
        for name, train in ways.items():
            times[name].append(timed(functools.partial(train, quiet=True, evaluate=False)))
    return times


def per_call(path: Path, calls: int, timeout: float) -> dict[str, float]:
    """Median seconds of one call on a (1024, 2) batch: through each black box, and of the bare function."""
    x = torch.randn(1024, 2, dtype=torch.complex64)
    func = load(path)
    process, here = BlackBox(f"{path}:f", "process", timeout), BlackBox(func, "here", timeout)
    ways: dict[str, Callable[[], object]] = {
        PROCESS: lambda: process(x),
        HERE: lambda: here(x),
        "the bare function": lambda: func(x.numpy().copy()),
    }
    medians = {}
    for name, call in ways.items():
        for _ in range(min(calls, 100)):  # warm up
            call()
        medians[name] = statistics.median(timed(call) for _ in range(calls))
    process.close()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="training iterations (about 20-40 s on 2 cores)")
    parser.add_argument("--repeats", type=int, default=2, help="trainings each way")
    parser.add_argument("--calls", type=int, default=2000, help="calls timed each way")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100 iterations and 500 calls: a check that it runs")
    args = parser.parse_args()
    iterations, calls = (100, 500) if args.quick else (args.iterations, args.calls)
    cfg = mfcomm.configure(overrides={"seed": args.seed, "iterations": iterations})
    with tempfile.TemporaryDirectory(prefix="mfcomm-black-box-") as tmp:
        path = awgn_file(Path(tmp), cfg.n0, args.seed)
        times = training(cfg, path, args.repeats)
        call_times = per_call(path, calls, cfg.channel_timeout)
    a, b = (statistics.median(times[way]) for way in (HERE, PROCESS))
    here, process, bare = (call_times[way] for way in (HERE, PROCESS, "the bare function"))
    print(
        f"black-box cost on {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"default config, {iterations} iterations, batch {cfg.batch_size} x {cfg.channel_uses}, "
        f"{args.repeats} trainings each way (alternated), {calls} calls each way\n"
    )
    print(f"| figure | {HERE} | {PROCESS} | ratio |\n|---|---|---|---|")
    print(f"| training, median wall time | {a:.2f} s | {b:.2f} s | {b / a:.2f}x |")
    print(f"| training, each wall time | {seconds(times[HERE])} | {seconds(times[PROCESS])} | |")
    print(f"| one call on (1024, 2), median | {here * 1e6:.0f} us | {process * 1e6:.0f} us | {process / here:.2f}x |")
    print(f"| the bare function's call, median | {bare * 1e6:.0f} us | | |")


def seconds(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times) + " s"


if __name__ == "__main__":
    main()
