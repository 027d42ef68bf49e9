"""Learning through impaired hardware and field channels (``make bench-channels``).

1. The documented benchmark set (``SET``): for each channel, at M=16, n=2, the SER (Clopper-Pearson 95%
   intervals) of
   - model-free training (learned transmitter and receiver; our most channel-use-efficient variant:
     ``rx_steps 0``, receiver learning from the transmitter's transmissions, leave-one-out batch baseline,
     receiver fine-tuning);
   - model-based training on a differentiable surrogate where one exists (the channel itself when it is
     differentiable; the straight-through quantiser for the ADC), measured on the real channel;
   - the classical codebook at the same rate, QPSK x2, with a receiver trained on the same channel and at
     least the model-free run's channel uses.
2. Overhead: each stage's time per call on a (512, 2) block against one training iteration on AWGN, and
   the measured training time of ``STAGE | awgn`` against ``awgn`` (median of interleaved repeats).

Writes ``runs/impairments/impairments.md`` and ``impairments.png``.
The set's trainings run as the trials of one sweep (:mod:`mfcomm.tune`, ``--workers`` at a time, one thread
each; ``runs/impairments/sweep/``); the overhead timings run alone, one training at a time.

Usage: ``python benchmarks/impairments.py [--iterations 2000] [--workers N] [--resume] [--skip-training]
[--skip-overhead]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from mfcomm.channels.chain import build
from mfcomm.config.files import configure
from mfcomm.evaluation.ser import SerEstimate, learned_ser
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import write_text
from mfcomm.learning.examples import Symbols
from mfcomm.learning.model_free import descend
from mfcomm.plots import save_figure, subplots
from mfcomm.system.baselines import classical_baseline
from mfcomm.system.build import build_system
from mfcomm.tune import driver, results

CHAIN = "phase(max_deg=15) | rapp(p=2,sat=1.2) | awgn | adc(bits=3)"
EFFICIENT = {"rx_steps": 0, "rx_on_tx_batch": True, "loss_baseline": "batch", "finetune_iterations": 300}
IMPAIRMENTS = ["adc(bits=3)", "adc(bits=3,agc=true)", "rapp(p=2,sat=1.2)", "saleh", "phase_noise", "cfo",
               "iq", "phase(max_deg=15)", "tdl", "fiber"]
SURROGATE_ONLY = {"keep_best": False, "compare_baseline": False}
"""The system trained on the surrogate, as trained: never swapped for the classical one on the surrogate's
measurement (it is measured on the real channel afterwards)."""
SLOW = {"tdl(model=A) | awgn": 500}  # Sionna's TDL sampling costs about 60 ms a call here: fewer iterations
SET = [  # (channel, Es/N0 dB or None when the channel brings its own noise, differentiable surrogate or None)
    (CHAIN, 12.0, CHAIN.replace("adc(bits=3)", "adc(bits=3,ste=true)")),
    ("phase(max_deg=15) | rapp(p=2,sat=1.2) | awgn", 12.0, "same"),
    ("awgn | adc(bits=2)", 10.0, "awgn | adc(bits=2,ste=true)"),
    ("saleh | awgn", 12.0, "same"),
    ("iq(amplitude_db=1,phase_deg=10) | cfo(offset=0.02) | awgn", 12.0, "same"),
    ("phase_noise(linewidth=5e-3) | awgn", 12.0, "same"),
    ("tdl(model=A) | awgn", 15.0, "same"),
    ("fiber(power_dbm=-20)", None, "same"),
]


def qpsk_with_learned_receiver(cfg, spent: int, args: argparse.Namespace) -> tuple[SerEstimate, int]:
    """QPSK x2 (fixed, the classical codebook at the rate of M=16, n=2) and a receiver trained on the same
    channel with at least ``spent`` channel uses."""
    torch.manual_seed(args.seed)
    tx, rx = build_system(cfg)
    with torch.no_grad():  # already unit energy: the normalisation keeps it
        tx.embedding.weight.copy_(torch.view_as_real(classical_baseline(16, 2).codebook).reshape(16, 4))
    tx.requires_grad_(False)
    channel = build(cfg.channel, cfg.n0)
    opt = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr)
    steps = -(-spent // (cfg.batch_size * cfg.channel_uses))
    for _ in range(steps):
        m = Symbols(cfg.messages).draw(cfg.batch_size, next(tx.parameters()).device, None)
        with torch.no_grad():
            y = channel(tx(m))
        descend(opt, Symbols().loss(rx, y, m))  # a supervised receiver step
    return learned_ser(tx, rx, channel, args.target_errors, 100_000, args.max_messages), steps * cfg.batch_size * 2


def common(spec: str, snr_db: float | None, args: argparse.Namespace) -> dict:
    """The settings every training of ``spec`` shares."""
    settings = {"messages": 16, "channel_uses": 2, "iterations": SLOW.get(spec, args.iterations), "seed": args.seed,
                "eval_target_errors": args.target_errors, "eval_max_messages": args.max_messages}
    return settings if snr_db is None else {**settings, "snr_db": snr_db}


def trials(args: argparse.Namespace) -> dict[str, dict]:
    """The set's trainings as sweep trials: ``free-<k>`` (model-free on channel ``k`` of ``SET``) and ``based-<k>``
    (model-based on its surrogate)."""
    named = {}
    for k, (spec, snr_db, surrogate) in enumerate(SET):
        named[f"free-{k}"] = {**common(spec, snr_db, args), "channel": spec, **EFFICIENT}
        if surrogate:
            named[f"based-{k}"] = {**common(spec, snr_db, args), "method": "model-based",
                                   "channel": spec if surrogate == "same" else surrogate,
                                   **SURROGATE_ONLY}
    return named


def estimate(summary: dict) -> SerEstimate:
    """A trial's final SER, as its ``summary.json`` gives it."""
    return SerEstimate(summary["eval_errors"], summary["eval_messages"], summary["ser"], *summary["ser_ci"])


def compare(k: int, sweep_dir: Path, args: argparse.Namespace) -> dict:
    """Channel ``k`` of ``SET``: the model-free trial, the model-based trial measured on the real channel, and
    QPSK x2 with a receiver trained here."""
    spec, snr_db, surrogate = SET[k]
    free = runs.load(results.trial_dir(sweep_dir, f"free-{k}"))
    free_summary = results.summary(sweep_dir, f"free-{k}")
    qpsk, uses = qpsk_with_learned_receiver(free.cfg, free_summary["channel_uses_spent"], args)
    row = {"channel": spec, "snr_db": "own noise" if snr_db is None else snr_db,
           "model_free": estimate(free_summary), "qpsk_learned_rx": qpsk, "model_based_surrogate": None}
    if surrogate:
        based = runs.load(results.trial_dir(sweep_dir, f"based-{k}"))
        torch.manual_seed(args.seed)  # the real channel's noise
        row["model_based_surrogate"] = learned_ser(based.tx, based.rx, build(spec, free.cfg.n0), args.target_errors,
                                                   100_000, args.max_messages)  # measured on the real channel
    row["gain"] = qpsk.ser / max(row["model_free"].ser, 1e-12)
    return row


def ser_text(est: SerEstimate | None) -> str:
    return "-" if est is None else f"{est.ser:.2e} [{est.ci_low:.1e}, {est.ci_high:.1e}]"


def benchmark_set(args: argparse.Namespace) -> str | int:
    """The documented set: one row per channel; the table as Markdown, and a figure (or the exit status of a
    sweep that did not finish)."""
    sweep_dir = Path(args.out) / "sweep"
    trained = driver.train_all(trials(args), sweep_dir, args.workers, args.resume)
    if trained:
        return trained
    rows = [compare(k, sweep_dir, args) for k in range(len(SET))]
    table = ("| channel | Es/N0 (dB) | iterations | model-free | model-based on the surrogate | QPSK x2 + learned receiver | "
             "QPSK SER / model-free SER |\n|---|---|---|---|---|---|---|\n")
    for r in rows:
        table += (f"| `{r['channel']}` | {r['snr_db']} | {SLOW.get(r['channel'], args.iterations)} | "
                  f"{ser_text(r['model_free'])} | "
                  f"{ser_text(r['model_based_surrogate'])} | {ser_text(r['qpsk_learned_rx'])} | {r['gain']:.2f}x |\n")
    fig, ax = subplots(figsize=(11, 4.5))
    positions = range(len(rows))
    for offset, key, label in ((-0.27, "model_free", "model-free"), (0.0, "model_based_surrogate",
                               "model-based on surrogate"), (0.27, "qpsk_learned_rx", "QPSK x2 + learned rx")):
        ax.bar([p + offset for p in positions], [r[key].ser if r[key] else 0 for r in rows], width=0.27, label=label)
    ax.set(yscale="log", ylabel="SER", xticks=list(positions),
           title=f"M=16, n=2, {args.iterations} iterations, seed {args.seed}")
    ax.set_xticklabels([r["channel"].replace(" | ", "|\n") for r in rows], fontsize=6)
    ax.legend(fontsize=8)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out / "impairments.png")
    return table


def seconds_per_call(channel, x: torch.Tensor, calls: int) -> float:
    channel(x)
    start = time.perf_counter()
    for _ in range(calls):
        channel(x)
    return (time.perf_counter() - start) / calls


def overhead(args: argparse.Namespace) -> str:
    """Time per call of each impairment, and training time with and without it."""
    base = {"messages": 16, "channel_uses": 2, "snr_db": args.snr_db, "batch_size": 512,
            "iterations": args.overhead_iterations, "seed": args.seed,
            "equalizer": "on"}  # as for every chain (auto), so that only the channel differs
    awgn_cfg = configure(overrides={**base, "channel": "awgn"})

    def train_seconds(cfg) -> float:
        return runs.train(cfg, quiet=True, evaluate=False).train_seconds

    x = torch.view_as_complex(torch.randn(512, 2, 2))
    awgn_call = seconds_per_call(build("awgn", 0.1), x, 2000)
    times = {spec: [] for spec in ["awgn"] + IMPAIRMENTS}
    for _ in range(args.repeats):  # interleaved, so that machine load affects all alike
        for spec in times:
            cfg = awgn_cfg if spec == "awgn" else configure(overrides={**base, "channel": f"{spec} | awgn"})
            times[spec].append(train_seconds(cfg))
    iteration = statistics.median(times["awgn"]) / args.overhead_iterations
    text = (f"training on awgn: {1e3 * iteration:.2f} ms per iteration (n=2, batch 512, one receiver and one "
            f"transmitter step: 2 channel calls); awgn itself {1e6 * awgn_call:.0f} us per call\n\n"
            "| stage | us per call (512 x 2) | share of an iteration (2 calls) | measured training time vs awgn |\n"
            "|---|---|---|---|\n")
    for spec in IMPAIRMENTS:
        call = seconds_per_call(build(spec, None), x, 50 if spec in ("tdl", "fiber") else 2000)
        measured = statistics.median(times[spec]) / statistics.median(times["awgn"]) - 1
        text += f"| {spec} | {1e6 * call:.0f} | {100 * 2 * call / iteration:.1f}% | {100 * measured:+.1f}% |\n"
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/impairments")
    p.add_argument("--snr-db", type=float, default=12.0, help="Es/N0 of the overhead runs")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-errors", type=int, default=300)
    p.add_argument("--max-messages", type=int, default=5_000_000)
    p.add_argument("--overhead-iterations", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-training", action="store_true", help="only the overhead table")
    p.add_argument("--skip-overhead", action="store_true", help="only the SER comparison")
    p.add_argument("--workers", type=int, help="trainings of the set at a time, one thread each (default: the cores)")
    p.add_argument("--resume", action="store_true", help="train only the set's trainings that did not finish")
    args = p.parse_args()
    torch.set_num_threads(1)
    text = ""
    if not args.skip_training:
        table = benchmark_set(args)
        if isinstance(table, int):
            return table
        text += ("## SER through the benchmark set\n\n" + table + f"\nThe trainings are the trials of one sweep "
                 f"(`{Path(args.out) / 'sweep'}`: results.csv, report.md, each run directory).\n")
        print(text)
    if not args.skip_overhead:  # timings: measured alone, one training at a time
        overhead_text = overhead(args)
        text += "\n## Training-time overhead of each stage\n\n" + overhead_text
        print(overhead_text)
    write_text(Path(args.out) / "impairments.md", text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
