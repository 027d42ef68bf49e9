"""Learning through GNU Radio's channel model at 1 and 4 samples per symbol (``make bench-radio``).

Channel: ``gnuradio(snr_db, freq_offset=1e-3, epsilon=1.0001, taps=1/0.2+0.1j/0.05, sync=fine, sps)``, GNU Radio
3.10's ``channel_model`` as a flowgraph (a sample-clock offset, three multipath taps at the sample rate, a frequency
offset and noise), behind mfcomm's framing, root-raised-cosine pulse shaping (rolloff 0.35), timing recovery and
``fine`` synchronisation (the default, the best measured in 3.) (:mod:`mfcomm.channels.gnuradio`), at ``sps`` 1 and 4 and Es/N0 10, 15 and 20 dB.

1. Per setting, trained and measured through the flowgraph (SER with Clopper-Pearson 95% intervals):
   - the learned system: mfcomm's default recipe, M=16, n=2, ``--iterations`` iterations, the trained system
     kept (``keep_best = false``);
   - QPSK x2 with the same front-end: that run's own baseline (``baseline_ser``: a receiver trained on the fixed
     QPSK x2 codebook through the same channel, as many receiver steps as the run's iterations);
   - 16-QAM: the baseline of the same training at M=16, n=1 (its learned system beside it);
   - channel uses and seconds (training; the baseline's receiver training and evaluation), and the samples per
     second through the flowgraph: samples sent / seconds in channel calls of the training's block (1024
     messages), measured after the trainings, alone, with the share of those seconds spent in the flowgraph's
     send and receive (the rest is mfcomm's framing, pulse shaping and synchronisation).
2. Throughput: the training of sps 4, 15 dB, n=2 again through ``engine=python`` (the in-process emulation of
   the same channel model, :mod:`mfcomm.channels.stream_model`): iterations per second of each, and their ratio.
3. The front-end: QPSK x2 with hard decisions at sps 4 through each ``sync`` mode, one frame (256 messages) per
   call, with binomial intervals and intervals over frames (errors come in frame-long bursts).

The trainings are the trials of two sweeps (:func:`mfcomm.tune.driver.train_all`, one thread each; each run
directory with its ``summary.json`` and ``spectrum.png``): the throughput comparison's two, one at a time
(``OUT/alone``), then the rest of the grid, ``--workers`` at a time (``OUT/sweep``; default 2: their seconds are
those of a training sharing the 2 cores with another); the measurements after them run alone. Writes
``docs/results/radio.md`` (with ``--quick``: ``OUT/radio.md``, ``OUT`` default ``runs/radio-quick``) and prints it.
The full run took 6 minutes on 2 cores (make bench-radio, 2026-12-05); ``--quick`` about 2.

Usage: ``python benchmarks/radio.py [--quick] [--iterations 1000] [--workers 2] [--resume] [--out runs/radio]
[--page FILE]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mfcomm.channels.spec import make_channel
from mfcomm.evaluation.ser import SerEstimate, clopper_pearson
from mfcomm.experiment.run_directory import write_text
from mfcomm.system.baselines import classical_baseline
from mfcomm.tune import driver, results

TAPS, EPSILON, FREQ_OFFSET, SYNC = "1/0.2+0.1j/0.05", 1.0001, 1e-3, "fine"
SPS, SNRS, QUICK_SNRS = (1, 4), (10.0, 15.0, 20.0), (15.0,)
SYNCS = ("gain", "cfo", "fine")
TARGET_SPS, TARGET_SNR = 4, 15.0
"""The setting of the targets: the learned SER at most 1/3 of QPSK x2's; the flowgraph at least 0.3x the
in-process iterations per second."""
BATCH = 1024
"""Messages per training step (the default recipe's), and per call of the samples-per-second measurement."""
FRAME_MESSAGES = 256
"""Messages of n=2 in one frame of 512 symbols: the front-end table sends one frame per call."""


def spec(sps: int, snr_db: float, engine: str = "flowgraph", sync: str = SYNC) -> str:
    """The channel spec of a setting."""
    tail = ",engine=python" if engine == "python" else ""
    return (f"gnuradio(snr_db={snr_db:g},freq_offset={FREQ_OFFSET:g},epsilon={EPSILON:g},taps={TAPS},"
            f"sync={sync},sps={sps}{tail})")


def trial_id(sps: int, snr_db: float, n: int, engine: str = "flowgraph") -> str:
    return f"sps{sps}-{snr_db:g}dB-n{n}" + ("-python" if engine == "python" else "")


ALONE = (trial_id(TARGET_SPS, TARGET_SNR, 2), trial_id(TARGET_SPS, TARGET_SNR, 2, "python"))
"""The throughput comparison's trainings: run one at a time, in a sweep of their own."""


def trials(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every training: the grid at n = 2 and n = 1, and the throughput comparison's in-process run (which needs
    no baseline)."""
    base = {"messages": 16, "iterations": args.iterations, "keep_best": False, "seed": args.seed,
            "eval_messages": 100_000, "eval_max_messages": args.max_messages,
            "eval_target_errors": args.target_errors, "channel_timeout": 60.0}
    named = {trial_id(sps, snr, n): {**base, "channel": spec(sps, snr), "channel_uses": n}
             for sps in SPS for snr in args.snrs for n in (2, 1)}
    named[ALONE[1]] = {**base, "channel": spec(TARGET_SPS, TARGET_SNR, "python"), "channel_uses": 2,
                       "compare_baseline": False}
    return named


def summary(args: argparse.Namespace, trial: str) -> dict[str, Any]:
    """A training's ``summary.json``, from the sweep it ran in."""
    return results.summary(args.out / ("alone" if trial in ALONE else "sweep"), trial)


class Timed:
    """A stream (:class:`mfcomm.channels.gnuradio.Transport`) that adds up the seconds spent in it."""

    def __init__(self, inner: Any):
        self.inner, self.seconds = inner, 0.0

    def send(self, samples: np.ndarray, deadline: float) -> None:
        start = time.perf_counter()
        self.inner.send(samples, deadline)
        self.seconds += time.perf_counter() - start

    def receive(self, wait: float) -> np.ndarray | None:
        start = time.perf_counter()
        try:
            return self.inner.receive(wait)
        finally:
            self.seconds += time.perf_counter() - start

    def diagnostic(self) -> str:
        return self.inner.diagnostic()

    def close(self) -> None:
        self.inner.close()


def rate(channel_spec: str, n: int, calls: int) -> dict[str, float]:
    """Samples per second through the stage of ``channel_spec``: ``calls`` calls of ``BATCH`` messages of QPSK-like
    symbols (n per message) after one that starts the stream; and the share of that time in the stream itself."""
    channel = make_channel(channel_spec, None, timeout=60.0)
    stage = channel.stages[0]
    x = classical_baseline(16, n).codebook[torch.randint(16, (BATCH,), generator=torch.Generator().manual_seed(0))]
    try:
        channel(x)  # starts the flowgraph: not timed
        timed = stage.transport = Timed(stage.transport)
        sent, start = stage.sent, time.perf_counter()
        for _ in range(calls):
            channel(x)
        seconds, samples = time.perf_counter() - start, stage.sent - sent
    finally:
        stage.close()
    return {"samples_per_s": samples / seconds, "symbols_per_s": calls * BATCH * n / seconds,
            "stream_share": timed.seconds / seconds}


def frame_ser(channel_spec: str, frames: int) -> dict[str, Any]:
    """QPSK x2 with hard decisions through ``channel_spec``, one frame per call: the SER with its binomial
    interval and the interval over frames (mean errors per frame +- 1.96 standard errors)."""
    channel, baseline = make_channel(channel_spec, None, timeout=60.0), classical_baseline(16, 2)
    generator, errors = torch.Generator().manual_seed(0), []
    try:
        for _ in range(frames):
            m = torch.randint(16, (FRAME_MESSAGES,), generator=generator)
            errors.append(int((baseline.detect(channel(baseline.codebook[m]), None) != m).sum()))
    finally:
        channel.stages[0].close()
    e = np.array(errors)
    half = 1.96 * e.std(ddof=1) / np.sqrt(frames) / FRAME_MESSAGES
    return {"binomial": clopper_pearson(int(e.sum()), FRAME_MESSAGES * frames), "half": half,
            "frames_with_errors": float(np.mean(e > 0))}


def ser_text(ser: float, ci: list[float] | tuple[float, float]) -> str:
    return f"{ser:.2e} [{ci[0]:.1e}, {ci[1]:.1e}]"


def grid_tables(args: argparse.Namespace, rates: dict[str, dict[str, float]]) -> str:
    """The SER table and the cost table of the grid."""
    sers = ("| sps | Es/N0 (dB) | learned, M=16, n=2 | QPSK x2, same front-end | QPSK x2 / learned | "
            "16-QAM (n=1), same front-end | learned, M=16, n=1 |\n|---|---|---|---|---|---|---|\n")
    costs = ("| sps | Es/N0 (dB) | channel uses: learned n=2 / QPSK x2 receiver | s: training / QPSK x2 receiver "
             "and evaluation | s: n=1 training / 16-QAM | samples/s through the flowgraph (share in its "
             "send and receive) |\n|---|---|---|---|---|---|\n")
    for sps in SPS:
        for snr in args.snrs:
            two = summary(args, trial_id(sps, snr, 2))
            one = summary(args, trial_id(sps, snr, 1))
            gain = two["baseline_ser"] / two["ser"] if two["ser"] else float("inf")
            sers += (f"| {sps} | {snr:g} | {ser_text(two['ser'], two['ser_ci'])} | "
                     f"{ser_text(two['baseline_ser'], two['baseline_ci'])} | {gain:.1f}x | "
                     f"{ser_text(one['baseline_ser'], one['baseline_ci'])} | {ser_text(one['ser'], one['ser_ci'])} |\n")
            r = rates[trial_id(sps, snr, 2)]
            costs += (f"| {sps} | {snr:g} | {two['channel_uses_spent']} / {two['baseline_channel_uses']} | "
                      f"{two['train_seconds']:.0f} / {two['baseline_seconds']:.0f} | "
                      f"{one['train_seconds']:.0f} / {one['baseline_seconds']:.0f} | "
                      f"{r['samples_per_s'] / 1e3:.0f}k ({100 * r['stream_share']:.0f}%) |\n")
    return sers + "\n" + costs


def throughput_text(args: argparse.Namespace, rates: dict[str, dict[str, float]]) -> tuple[str, float]:
    """The flowgraph against the in-process engine: the same training's iterations per second, and per call."""
    flow = summary(args, trial_id(TARGET_SPS, TARGET_SNR, 2))
    local = summary(args, trial_id(TARGET_SPS, TARGET_SNR, 2, "python"))
    speed = {k: s["iterations_run"] / s["train_seconds"] for k, s in (("flowgraph", flow), ("python", local))}
    ratio = speed["flowgraph"] / speed["python"]
    text = ("| engine | iterations/s | training s | SER (same training) | samples/s, channel calls alone |\n"
            "|---|---|---|---|---|\n")
    for engine, s in (("flowgraph", flow), ("python", local)):
        r = rates[trial_id(TARGET_SPS, TARGET_SNR, 2, engine)]
        text += (f"| `engine={engine}` | {speed[engine]:.2f} | {s['train_seconds']:.0f} | "
                 f"{ser_text(s['ser'], s['ser_ci'])} | {r['samples_per_s'] / 1e3:.0f}k |\n")
    return text, ratio


def front_end_text(args: argparse.Namespace) -> str:
    """QPSK x2 with hard decisions at sps 4 through each ``sync`` mode."""
    text = ("| sync | Es/N0 (dB) | QPSK x2 SER [binomial 95%] | 95% over frames | frames with errors |\n"
            "|---|---|---|---|---|\n")
    for sync in SYNCS:
        for snr in args.snrs:
            m = frame_ser(spec(TARGET_SPS, snr, sync=sync), args.frames)
            b: SerEstimate = m["binomial"]
            text += (f"| {sync} | {snr:g} | {ser_text(b.ser, (b.ci_low, b.ci_high))} | "
                     f"{b.ser:.2e} +- {m['half']:.1e} | {100 * m['frames_with_errors']:.0f}% |\n")
    return text


def targets_text(args: argparse.Namespace, ratio: float) -> str:
    if TARGET_SNR not in args.snrs:
        return ""
    s = summary(args, trial_id(TARGET_SPS, TARGET_SNR, 2))
    met = s["ser"] <= s["baseline_ser"] / 3
    verdict = "met" if met else "NOT met"
    if s["ser"] == 0 and s["baseline_ser"] == 0:  # with the fine front-end neither errs: the ratio is not measured
        verdict = "not measurable (no errors in either; each SER is below its interval's upper end)"
    return (f"- at sps {TARGET_SPS}, {TARGET_SNR:g} dB: learned SER {s['ser']:.2e} against QPSK x2's "
            f"{s['baseline_ser']:.2e} with the same front-end (target: at most a third): "
            f"**{verdict}**"
            f"\n- training through the flowgraph at sps {TARGET_SPS}: **{ratio:.2f}x** the iterations per second of "
            f"the same training in-process (target: at least 0.3x): **{'met' if ratio >= 0.3 else 'NOT met'}**\n")


def report(args: argparse.Namespace, rates: dict[str, dict[str, float]], front: str, wall: float) -> str:
    throughput, ratio = throughput_text(args, rates)
    command = "python benchmarks/radio.py" + (" --quick" if args.quick else "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"""# GNU Radio's channel model at 1 and 4 samples per symbol

Measured by `make bench-radio` (`{command}`) on {cores} cores ({platform.processor() or platform.machine()}),
{time.strftime('%Y-%m-%d')}, in {wall / 60:.0f} minutes.

Channel: `{spec(4, 15)}`, and the same at sps 1 and at Es/N0 10 and 20 dB. That is GNU Radio 3.10's
`channel_model` as a flowgraph (sample-clock ratio `epsilon` 1.0001, three taps at the sample rate, frequency
offset 1e-3 cycles per sample, noise of `noise_voltage = 10**(-snr_db/20)` per sample) behind mfcomm's framing,
root-raised-cosine pulse shaping (rolloff 0.35), timing recovery (at sps 4) and `sync=fine`
([Channels](../channels.md#gnu-radio-as-the-channel)).

Learned systems: mfcomm's default recipe, {args.iterations} iterations of 1024 messages, seed {args.seed}, trained
and measured through the flowgraph; the trained system is kept (`keep_best = false`). Baselines: each run's own
(`baseline_ser`): a receiver trained on the fixed classical codebook through the same channel and front-end, for
as many steps. SER with Clopper-Pearson 95% intervals: at least 100,000 messages, then on until
{args.target_errors} errors or {args.max_messages:,} messages.

## Targets

{targets_text(args, ratio)}
## SER through the flowgraph

{grid_tables(args, rates)}
Seconds: the training of sps {TARGET_SPS}, {TARGET_SNR:g} dB, n=2 ran alone; the others {args.workers} at a time
(`--workers`), one thread each. Samples per second: channel calls of 1024 messages (the training's block),
measured alone after the trainings; in brackets the share of that time in the flowgraph's send and receive, the
rest being mfcomm's framing, pulse shaping, timing recovery and synchronisation. At sps 1 there is no timing
recovery: with `epsilon` 1.0001 the sampling instant slides by one sample every 10,000, through half-sample
offsets whose inter-symbol interference a front-end at one sample per symbol does not remove.

## Flowgraph against the in-process engine

The training of sps {TARGET_SPS}, {TARGET_SNR:g} dB, n=2 again through `engine=python`: the same channel model
emulated with NumPy in the training's process (`mfcomm.channels.stream_model`), the same front-end. Both ran
alone, one after the other.

{throughput}
Iterations per second, flowgraph / in-process: **{ratio:.2f}x**.

## The front-end at sps {TARGET_SPS}

QPSK x2 with hard decisions, {args.frames} frames of {FRAME_MESSAGES} messages each, one frame per call. `gain`
estimates no frequency offset (the phase turns by 0.36 degrees a sample) and QPSK fails. `cfo` leaves the error
of its estimate from the preamble, a phase that grows along each frame, so errors come in frame-long bursts: the
interval over frames (mean errors per frame +- 1.96 standard errors) is several times the binomial one, and the
binomial intervals of the tables above understate how far two measurements of the same system may differ.
`fine` also uses a postamble a frame's length after the preamble, and follows the offset far better.

{front}
Trainings: `{args.out}/alone` and `{args.out}/sweep` (`results.csv`, `report.md`, each run directory with
`summary.json` and `spectrum.png`).
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: 30 iterations, 15 dB, 100,000 messages "
                   "per evaluation, 40 frames per front-end row (about 2 minutes)")
    p.add_argument("--iterations", type=int, help="iterations per training (default 1000; 30 with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-errors", type=int, default=200)
    p.add_argument("--max-messages", type=int, help="evaluation cap (default 200,000; 100,000 with --quick)")
    p.add_argument("--out", help="sweep and run directories (default runs/radio; runs/radio-quick with --quick)")
    p.add_argument("--page", help="the report (default docs/results/radio.md; OUT/radio.md with --quick)")
    p.add_argument("--workers", type=int, default=2, help="trainings of the grid at a time, one thread each "
                   "(default 2; the throughput comparison's always run one at a time)")
    p.add_argument("--resume", action="store_true", help="train only the trainings that did not finish")
    args = p.parse_args(argv)
    args.iterations = args.iterations or (30 if args.quick else 1000)
    args.max_messages = args.max_messages or (100_000 if args.quick else 200_000)
    args.out = Path(args.out or ("runs/radio-quick" if args.quick else "runs/radio"))
    args.page = Path(args.page or (args.out / "radio.md" if args.quick else "docs/results/radio.md"))
    args.snrs = QUICK_SNRS if args.quick else SNRS
    args.frames = 40 if args.quick else 200
    args.calls = 5 if args.quick else 30
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    start, named = time.perf_counter(), trials(args)
    alone = {k: v for k, v in named.items() if k in ALONE}
    trained = driver.train_all(alone, args.out / "alone", workers=1, resume=args.resume)
    if not trained:
        shared = {k: v for k, v in named.items() if k not in ALONE}
        trained = driver.train_all(shared, args.out / "sweep", workers=args.workers, resume=args.resume)
    if trained:
        return trained
    rates = {trial_id(sps, snr, 2): rate(spec(sps, snr), 2, args.calls) for sps in SPS for snr in args.snrs}
    rates[trial_id(TARGET_SPS, TARGET_SNR, 2, "python")] = rate(spec(TARGET_SPS, TARGET_SNR, "python"), 2, args.calls)
    text = report(args, rates, front_end_text(args), time.perf_counter() - start)
    write_text(args.page, text)
    print(text)
    print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
