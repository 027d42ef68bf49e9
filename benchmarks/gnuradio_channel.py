"""Learning through GNU Radio's channel model (``make gnuradio``): learned system vs QPSK x2, same flowgraph.

For each receiver front-end ``sync`` (see :mod:`mfcomm.channels.framing`), at M=16, n=2 (2 bits per channel use)
through ``gnuradio(snr_db, freq_offset, sync)`` (a GNU Radio 3.10 flowgraph run as a subprocess), the SER
with Clopper-Pearson 95% intervals of
- the model-free system (learned transmitter and receiver, trained through the flowgraph);
- QPSK x2 with a receiver trained through the same flowgraph with at least as many channel uses;
- QPSK x2 with hard per-symbol decisions (ML for AWGN) after the same front-end.
Every system sees the same stream, framing and synchronisation: the front-end is part of the channel.

Writes ``runs/gnuradio/gnuradio.md`` and ``gnuradio.png``.
Usage: ``python benchmarks/gnuradio_channel.py [--iterations 2000] [--syncs gain,cfo,fine]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mfcomm.channels.spec import make_channel
from mfcomm.config.files import configure
from mfcomm.evaluation.ser import SerEstimate, learned_ser, monte_carlo
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import write_text
from mfcomm.learning.examples import Symbols
from mfcomm.learning.model_free import descend
from mfcomm.plots import save_figure, subplots
from mfcomm.system.baselines import baseline_errors, classical_baseline
from mfcomm.system.build import build_system

EFFICIENT = {"rx_steps": 0, "rx_on_tx_batch": True, "loss_baseline": "batch", "finetune_iterations": 300}
"""Model-free settings of ``benchmarks/impairments.py``: the most channel-use-efficient variant."""


def spec_of(args: argparse.Namespace, sync: str) -> str:
    return f"gnuradio(snr_db={args.snr_db:g},freq_offset={args.freq_offset:g},sync={sync},seed={args.seed + 1})"


def qpsk_learned_receiver(cfg, spent: int, args: argparse.Namespace) -> SerEstimate:
    """QPSK x2 (fixed) and a receiver trained through the same flowgraph with at least ``spent`` channel uses."""
    torch.manual_seed(args.seed)
    tx, rx = build_system(cfg)
    with torch.no_grad():  # already unit energy: the normalisation keeps it
        tx.embedding.weight.copy_(torch.view_as_real(classical_baseline(16, 2).codebook).reshape(16, 4))
    tx.requires_grad_(False)
    channel = make_channel(cfg.channel, None, timeout=cfg.channel_timeout)
    opt = torch.optim.Adam(rx.parameters(), lr=cfg.rx_lr)
    for _ in range(-(-spent // (cfg.batch_size * cfg.channel_uses))):
        m = Symbols(cfg.messages).draw(cfg.batch_size, next(tx.parameters()).device, None)
        with torch.no_grad():
            y = channel(tx(m))
        descend(opt, Symbols().loss(rx, y, m))  # a supervised receiver step
    ser = learned_ser(tx, rx, channel, args.target_errors, 100_000, args.max_messages)
    channel.stages[0].close()
    return ser


def qpsk_hard(spec: str, args: argparse.Namespace) -> SerEstimate:
    """QPSK x2 with per-symbol hard decisions after the channel's front-end."""
    channel = make_channel(spec, None, timeout=args.channel_timeout)
    ser = monte_carlo(baseline_errors(classical_baseline(16, 2), channel), args.target_errors, 100_000,
                      args.max_messages)
    channel.stages[0].close()
    return ser


def compare(sync: str, args: argparse.Namespace) -> dict:
    spec = spec_of(args, sync)
    cfg = configure(overrides={"messages": 16, "channel_uses": 2, "channel": spec, "iterations": args.iterations,
                             "seed": args.seed, "eval_target_errors": args.target_errors,
                             "eval_max_messages": args.max_messages, "channel_timeout": args.channel_timeout,
                             **EFFICIENT})
    free = runs.train(cfg, quiet=True)
    row = {"sync": sync, "channel": spec, "learned": free.ser, "uses": free.channel_uses_spent,
           "seconds": free.train_seconds, "qpsk_rx": qpsk_learned_receiver(free.cfg, free.channel_uses_spent, args),
           "qpsk_hard": qpsk_hard(spec, args)}
    row["gain"] = gain_text(free.ser, min(row["qpsk_rx"], row["qpsk_hard"], key=lambda e: e.ser))
    print(f"{sync}: learned {ser_text(row['learned'])}, QPSK x2 + learned rx {ser_text(row['qpsk_rx'])}, "
          f"QPSK x2 hard {ser_text(row['qpsk_hard'])}", flush=True)
    return row


def gain_text(learned: SerEstimate, qpsk: SerEstimate) -> str:
    """QPSK's SER over the learned system's; a lower bound (from the learned upper limit) when the learned
    system made no errors, and "-" when neither did."""
    if learned.errors:
        return f"{qpsk.ser / learned.ser:.1f}x"
    return f">= {qpsk.ser / learned.ci_high:.1f}x" if qpsk.errors else "- (no errors in either)"


def ser_text(est: SerEstimate) -> str:
    return f"{est.ser:.2e} [{est.ci_low:.1e}, {est.ci_high:.1e}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/gnuradio")
    p.add_argument("--snr-db", type=float, default=15.0, help="Es/N0 of GNU Radio's noise")
    p.add_argument("--freq-offset", type=float, default=1e-3, help="cycles per sample")
    p.add_argument("--syncs", default="gain,cfo,fine", help="receiver front-ends to compare (none, gain, cfo, fine)")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-errors", type=int, default=300)
    p.add_argument("--max-messages", type=int, default=2_000_000)
    p.add_argument("--channel-timeout", type=float, default=30.0)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = [compare(sync.strip(), args) for sync in args.syncs.split(",")]
    table = (f"M=16, n=2, Es/N0 {args.snr_db:g} dB, frequency offset {args.freq_offset:g} cycles/sample, "
             f"{args.iterations} iterations + 300 receiver fine-tuning, seed {args.seed}\n\n"
             "| front-end (sync) | learned (model-free) | QPSK x2 + learned receiver | QPSK x2 hard decisions | "
             "best QPSK / learned | channel uses | training s |\n|---|---|---|---|---|---|---|\n")
    for r in rows:
        table += (f"| {r['sync']} | {ser_text(r['learned'])} | {ser_text(r['qpsk_rx'])} | "
                  f"{ser_text(r['qpsk_hard'])} | {r['gain']} | {r['uses']} | {r['seconds']:.0f} |\n")
    print(table)
    fig, ax = subplots(figsize=(7, 4))
    for offset, key, label in ((-0.27, "learned", "learned (model-free)"), (0.0, "qpsk_rx", "QPSK x2 + learned rx"),
                               (0.27, "qpsk_hard", "QPSK x2 hard")):
        sers = [r[key].ser for r in rows]
        errors = [[s - r[key].ci_low for s, r in zip(sers, rows)], [r[key].ci_high - s for s, r in zip(sers, rows)]]
        ax.bar([i + offset for i in range(len(rows))], sers, width=0.27, yerr=errors, label=label, capsize=3)
    ax.set(yscale="log", ylabel="SER (95% CI)", xticks=list(range(len(rows))),
           title=f"GNU Radio channel_model, Es/N0 {args.snr_db:g} dB, CFO {args.freq_offset:g}")
    ax.set_xticklabels([f"sync={r['sync']}" for r in rows])
    ax.legend(fontsize=8)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out / "gnuradio.png")
    write_text(out / "gnuradio.md", table)
    print(f"wrote {out / 'gnuradio.md'} and {out / 'gnuradio.png'}")


if __name__ == "__main__":
    main()
