"""Learning over impaired hardware: model-free end-to-end training versus QPSK x2 with a learned receiver,
through the same impairment chain, and the training-time overhead of each impairment.

1. SER at one Es/N0 (Clopper-Pearson 95% CIs) of
   - the model-free system (learned transmitter and receiver, our most channel-use-efficient variant:
     ``rx_steps 0``, receiver learning from the transmitter's transmissions, leave-one-out batch baseline,
     receiver fine-tuning);
   - QPSK x2 (the classical codebook at the same rate, fixed) with a receiver trained on the same chain,
     given at least as many channel uses as the model-free run spent;
   - QPSK x2 with the library's per-symbol ML detector for AWGN (mismatched to the impairments).
2. Overhead: each impairment's time per call on a (batch, n) block, against the time of one training
   iteration on AWGN (defaults: one receiver and one transmitter step, two channel calls), and the measured
   training time of ``IMPAIRMENT | awgn`` against ``awgn`` (median of interleaved repeats).

Usage: ``python benchmarks/impairments.py [--iterations 3000] [--snr-db 12] [--skip-training]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mfcomm import runs
from mfcomm.baselines import baseline_errors, classical_baseline
from mfcomm.chain import build
from mfcomm.config import resolve
from mfcomm.evaluation import EVAL_BATCH, SerEstimate, learned_ser, monte_carlo
from mfcomm.model_free import receiver_step

CHAIN = "phase(max_deg=15) | rapp(p=2,sat=1.2) | awgn | adc(bits=3)"
EFFICIENT = {"rx_steps": 0, "rx_on_tx_batch": True, "loss_baseline": "batch", "finetune_iterations": 300}
IMPAIRMENTS = ["adc(bits=3)", "adc(bits=3,agc=true)", "rapp(p=2,sat=1.2)", "saleh", "phase_noise", "cfo",
               "iq", "phase(max_deg=15)"]


def show(name: str, est: SerEstimate, extra: str = "") -> None:
    print(f"| {name} | {est.ser:.3e} | [{est.ci_low:.2e}, {est.ci_high:.2e}] | {est.errors} / {est.messages} |"
          f" {extra} |")


def compare(args: argparse.Namespace) -> None:
    """Model-free training versus QPSK x2 with a learned receiver, both on ``args.chain``."""
    cfg = resolve(overrides={"channel": args.chain, "snr_db": args.snr_db, "messages": 16, "channel_uses": 2,
                             "iterations": args.iterations, "seed": args.seed, "eval_target_errors": args.target_errors,
                             "eval_max_messages": args.max_messages, **EFFICIENT})
    print(f"channel {cfg.channel}, Es/N0 {args.snr_db} dB, M=16, n=2, seed {args.seed}")
    run = runs.train(cfg, quiet=True)
    spent = run.channel_uses_spent

    torch.manual_seed(args.seed)
    tx, rx = runs.build_system(cfg)
    baseline = classical_baseline(16, 2)
    with torch.no_grad():  # a fixed QPSK x2 codebook (already unit energy: normalisation keeps it)
        tx.embedding.weight.copy_(torch.view_as_real(baseline.codebook).reshape(16, 4))
    tx.requires_grad_(False)
    channel = build(cfg.channel, cfg.n0)
    opt = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr)
    steps = -(-spent // (cfg.batch_size * cfg.channel_uses))  # at least the model-free run's channel uses
    start = time.perf_counter()
    for _ in range(steps):
        receiver_step(tx, rx, channel, opt, cfg.batch_size)
    qpsk_seconds = time.perf_counter() - start
    qpsk = learned_ser(tx, rx, channel, args.target_errors, 100_000, args.max_messages)
    ml = monte_carlo(baseline_errors(baseline, channel), args.target_errors, 100_000, args.max_messages, EVAL_BATCH)

    print("| system | SER | 95% CI | errors / messages | training |")
    print("|---|---|---|---|---|")
    show("model-free (learned tx + rx)", run.ser, f"{spent} channel uses, {run.train_seconds:.0f} s")
    uses = steps * cfg.batch_size * cfg.channel_uses
    show("QPSK x2 + learned rx", qpsk, f"{uses} channel uses, {qpsk_seconds:.0f} s")
    show("QPSK x2 + AWGN ML detector", ml, "none (mismatched)")
    print(f"QPSK-with-learned-receiver SER / model-free SER: {qpsk.ser / max(run.ser.ser, 1e-12):.1f}x "
          f"(at least {qpsk.ci_low / max(run.ser.ci_high, 1e-12):.1f}x from the 95% CIs; target: 10x)")


def seconds_per_call(channel, x: torch.Tensor, calls: int) -> float:
    channel(x)
    start = time.perf_counter()
    for _ in range(calls):
        channel(x)
    return (time.perf_counter() - start) / calls


def overhead(args: argparse.Namespace) -> None:
    """Time per call of each impairment, and training time with and without it."""
    base = {"messages": 16, "channel_uses": 2, "snr_db": args.snr_db, "batch_size": 512,
            "iterations": args.overhead_iterations, "seed": args.seed,
            "equalizer": "on"}  # as for every chain (auto), so that only the channel differs
    awgn_cfg = resolve(overrides={**base, "channel": "awgn"})

    def train_seconds(cfg) -> float:
        return runs.train(cfg, quiet=True, evaluate=False).train_seconds

    x = torch.view_as_complex(torch.randn(512, 2, 2))
    awgn_call = seconds_per_call(build("awgn", 0.1), x, 2000)
    times = {spec: [] for spec in ["awgn"] + IMPAIRMENTS}
    for _ in range(args.repeats):  # interleaved, so that machine load affects all alike
        for spec in times:
            cfg = awgn_cfg if spec == "awgn" else resolve(overrides={**base, "channel": f"{spec} | awgn"})
            times[spec].append(train_seconds(cfg))
    iteration = statistics.median(times["awgn"]) / args.overhead_iterations
    print(f"\ntraining on awgn: {1e3 * iteration:.2f} ms per iteration (n=2, batch 512, one receiver and one "
          f"transmitter step: 2 channel calls); awgn itself {1e6 * awgn_call:.0f} us per call")
    print("| impairment | us per call (512 x 2) | share of an iteration (2 calls) | measured training time vs awgn |")
    print("|---|---|---|---|")
    for spec in IMPAIRMENTS:
        call = seconds_per_call(build(spec, None), x, 2000)
        measured = statistics.median(times[spec]) / statistics.median(times["awgn"]) - 1
        print(f"| {spec} | {1e6 * call:.0f} | {100 * 2 * call / iteration:.1f}% | {100 * measured:+.1f}% |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chain", default=CHAIN)
    p.add_argument("--snr-db", type=float, default=12.0)
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-errors", type=int, default=300)
    p.add_argument("--max-messages", type=int, default=5_000_000)
    p.add_argument("--overhead-iterations", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-training", action="store_true", help="only the overhead table")
    p.add_argument("--skip-overhead", action="store_true", help="only the SER comparison")
    args = p.parse_args()
    torch.set_num_threads(1)
    if not args.skip_training:
        compare(args)
    if not args.skip_overhead:
        overhead(args)


if __name__ == "__main__":
    main()
