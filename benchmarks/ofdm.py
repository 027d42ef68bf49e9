"""OFDM: learned systems against QAM with LS estimation and LMMSE equalisation (``make bench-ofdm``).

For each channel, on the default 72 x 14 grid (``--subcarriers``: another width; 16-point constellations, rate-1/2
5G LDPC, one codeword per slot at 72 subcarriers),
the coded BLER and BER against Eb/N0 of

- ``learned, pilots``: model-free training (Eq. 8 only for the constellation), Kronecker pilots;
- ``learned, pilotless``: the same without pilots (every resource element carries data, a pilot superimposed);
- ``model-based, pilots``: the same system trained by back-propagation through Sionna's channel (equal iterations);
- the baselines: 16-QAM with the same Kronecker pilots, LS estimation with linear interpolation, LMMSE
  equalisation and the APP demapper; and 16-QAM with perfect CSI (the bound);

with Clopper-Pearson 95% intervals, the Eb/N0 at 10% and 1% BLER (interpolated), the goodput there (information
bits per resource element, pilots counted as overhead), channel uses and training time.

The quick form (default) is TDL-A at 3 m/s, one seed; ``--full`` adds TDL-A at 30 m/s and TDL-C and CDL-C at 3
and 30 m/s and runs ``--seeds`` seeds (3 by default there; a GPU run: ``--device cuda``). ``--channels`` runs the
named settings only and merges them into ``--out``'s earlier results, so the full form can be run in parts.

Writes ``runs/ofdm/ofdm.md``, ``runs/ofdm/results.json`` and ``runs/ofdm/bler-*.png`` (after each channel).

Usage: ``python benchmarks/ofdm.py [--full] [--channels KEYS] [--seeds N] [--iterations N] [--subcarriers N]
[--device cpu|cuda] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from mfcomm.config.files import configure
from mfcomm.evaluation.coded import ebno_at_bler
from mfcomm.evaluation.ofdm_coded import LearnedGrid, coded_curve, slot_code
from mfcomm.experiment import runs
from mfcomm.experiment.ofdm_task import grid_of, link_of
from mfcomm.experiment.run_directory import write_text
from mfcomm.plots import plot_ser
from mfcomm.system.ofdm_baseline import QamGrid

CHANNELS = {  # key: (name, spec)
    "tdl-a-3": ("TDL-A, 3 m/s", "tdl(model=A,delay_spread=100e-9,speed=3) | awgn"),
    "tdl-a-30": ("TDL-A, 30 m/s", "tdl(model=A,delay_spread=100e-9,speed=30) | awgn"),
    "tdl-c-3": ("TDL-C, 3 m/s", "tdl(model=C,delay_spread=300e-9,speed=3) | awgn"),
    "tdl-c-30": ("TDL-C, 30 m/s", "tdl(model=C,delay_spread=300e-9,speed=30) | awgn"),
    "cdl-c-3": ("CDL-C, 3 m/s", "cdl(model=C,delay_spread=300e-9,speed=3) | awgn"),
    "cdl-c-30": ("CDL-C, 30 m/s", "cdl(model=C,delay_spread=300e-9,speed=30) | awgn"),
}
QUICK = ["tdl-a-3"]
SYSTEMS = {
    "learned, pilots": {"method": "model-free", "pilots": "kronecker"},
    "learned, pilotless": {"method": "model-free", "pilots": "none"},
    "model-based, pilots": {"method": "model-based", "pilots": "kronecker"},
}
EBNO_DB = [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
TARGET_ERRORS, MAX_SLOTS = 100, 1000


def measure(system: Any, link: Any, cfg: Any, seed: int) -> list[Any]:
    """Coded points of ``system`` through ``link`` at :data:`EBNO_DB`, information bits drawn from ``seed``."""
    code = slot_code(link.grid, 4, cfg.code_rate)
    generator = torch.Generator(link.grid.device).manual_seed(seed)
    return coded_curve(system, link, code, EBNO_DB, TARGET_ERRORS, MAX_SLOTS, 100, generator)


def row(points: list[Any], k: int, cfg: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """One system's measured curve and its figures of merit."""
    grid = grid_of(cfg)
    at = {t: ebno_at_bler(points, t) for t in (0.1, 0.01)}
    return {
        **extra,
        "ebno_db": [p.ebno_db for p in points],
        "bler": [p.bler for p in points],
        "bler_ci": [list(p.bler_ci()) for p in points],
        "ber": [p.ber for p in points],
        "slots": [p.blocks for p in points],
        "ebno_db_at_bler_0.1": at[0.1],
        "ebno_db_at_bler_0.01": at[0.01],
        "goodput_at_bler_0.1": 0.9 * k / grid.resource_elements,
    }


def run_channel(name: str, spec: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train and measure every system on one channel."""
    out: dict[str, Any] = {}
    base = {
        "task": "ofdm",
        "channel": spec,
        "iterations": args.iterations,
        "subcarriers": args.subcarriers,
        "device": args.device,
        "checkpoint_every": 0,
    }
    for label, overrides in SYSTEMS.items():
        for seed in range(args.seeds):
            cfg = configure(overrides={**base, **overrides, "seed": seed})
            start = time.perf_counter()
            run = runs.train(cfg, quiet=True, evaluate=False)
            seconds = time.perf_counter() - start
            link = link_of(cfg, grid_of(cfg), torch.Generator(grid_of(cfg).device).manual_seed(10_000 + seed))
            points = measure(LearnedGrid(run.tx, run.rx), link, cfg, 20_000 + seed)
            k = points[0].bits // points[0].blocks
            extra = {"seed": seed, "train_seconds": round(seconds, 1), "channel_uses": run.channel_uses_spent}
            out[f"{label}, seed {seed}"] = row(points, k, cfg, extra)
            at = out[f"{label}, seed {seed}"]["ebno_db_at_bler_0.1"]
            print(f"{name}: {label}, seed {seed}: {seconds:.0f} s, Eb/N0 at 10% BLER {at}", flush=True)
    cfg = configure(overrides={**base, "pilots": "kronecker"})
    for label, perfect in (("16-QAM, LS + LMMSE + APP", False), ("16-QAM, perfect CSI", True)):
        link = link_of(cfg, grid_of(cfg), torch.Generator(grid_of(cfg).device).manual_seed(30_000))
        points = measure(QamGrid(grid_of(cfg), 4, perfect), link, cfg, 40_000)
        out[label] = row(points, points[0].bits // points[0].blocks, cfg, {})
        print(f"{name}: {label}: Eb/N0 at 10% BLER {out[label]['ebno_db_at_bler_0.1']}", flush=True)
    return out


COLOURS = {
    "learned, pilots": "C0",
    "learned, pilotless": "C1",
    "model-based, pilots": "C2",
    "16-QAM, LS + LMMSE + APP": "C3",
    "16-QAM, perfect CSI": "C7",
}
"""One colour a system, so that its seeds' curves read as one family."""


def style(label: str) -> str:
    """A curve's matplotlib format: its system's colour, and a marker and line of its seed's (seed 0: ``o-``)."""
    system, _, seed = label.partition(", seed ")
    return COLOURS.get(system, "") + ("o-", "s--", "^:")[int(seed or 0) % 3]


def report(results: dict[str, dict[str, Any]], out: Path) -> None:
    """``ofdm.md`` and one BLER figure per channel measured so far."""
    lines = ["# OFDM: learned against QAM + LS + LMMSE (benchmarks/ofdm.py)", ""]
    lines += ["Eb/N0 (dB) by Sionna's `ebnodb2no` on the grid (pilots and CP count).", ""]
    for channel, measured in results.items():
        lines += [
            f"## {channel}",
            "",
            (
                f"`{measured['spec']}`, {measured.get('subcarriers', 72)} x 14 grid, {measured['seeds']} seed(s), "
                f"wall time {measured['seconds'] / 60:.1f} min."
            ),
            "",
            "| system | Eb/N0 at 10% BLER | at 1% BLER | goodput at 10% (bit/RE) | BLER per Eb/N0 | training |",
        ]
        lines += ["|---|---|---|---|---|---|"]
        for label, r in measured["systems"].items():
            fmt = lambda v: "-" if v is None else f"{v:.2f} dB"  # noqa: E731
            blers = ", ".join(f"{e:g}: {b:.3g}" for e, b in zip(r["ebno_db"], r["bler"], strict=True))
            cost = f"{r['train_seconds']} s, {r['channel_uses']:.3g} uses" if "seed" in r else "-"
            lines.append(
                f"| {label} | {fmt(r['ebno_db_at_bler_0.1'])} | {fmt(r['ebno_db_at_bler_0.01'])} | "
                f"{r['goodput_at_bler_0.1']:.3f} | {blers} | {cost} |"
            )
        lines.append("")
        curves = {
            label: {"x": r["ebno_db"], "ser": r["bler"], "style": style(label)}
            for label, r in measured["systems"].items()
        }
        slug = channel.lower().replace(",", "").replace(" ", "-").replace("/", "")
        plot_ser(curves, out / f"bler-{slug}.png", "Eb/N0 (dB)", f"coded BLER, {channel}", "block error rate")
    write_text(out / "ofdm.md", "\n".join(lines) + "\n")
    write_text(out / "results.json", json.dumps(results, indent=1) + "\n")


def chosen(args: argparse.Namespace) -> list[str]:
    """The channel keys to run: ``--channels``, else all (``--full``) or the quick form's."""
    if not args.channels:
        return list(CHANNELS) if args.full else QUICK
    keys = [k.strip() for k in args.channels.split(",")]
    unknown = [k for k in keys if k not in CHANNELS]
    if unknown:
        raise SystemExit(f"error: unknown channel {', '.join(unknown)}; choose from {', '.join(CHANNELS)}")
    return keys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="TDL-A, TDL-C and CDL-C at 3 and 30 m/s")
    p.add_argument("--channels", default="", help=f"comma-separated, of: {', '.join(CHANNELS)} (merged into --out)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per learned system (default 1, --full 3)")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--subcarriers", type=int, default=72, help="the grid's subcarriers (612: 51 RBs, 20 MHz)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/ofdm")
    args = p.parse_args()
    keys = chosen(args)
    args.seeds = args.seeds or (3 if args.full else 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "results.json"
    results = json.loads(previous.read_text()) if args.channels and previous.exists() else {}
    for key in keys:
        name, spec = CHANNELS[key]
        start = time.perf_counter()
        systems = run_channel(name, spec, args)
        seconds = time.perf_counter() - start
        results[name] = {"spec": spec, "subcarriers": args.subcarriers, "seeds": args.seeds, "seconds": seconds}
        results[name]["systems"] = systems
        report(results, out)
    print((out / "ofdm.md").read_text())


if __name__ == "__main__":
    main()
